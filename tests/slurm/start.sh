#!/usr/bin/env bash
# Start a one-node SLURM cluster on localhost for the end-to-end tests: root, no systemd needed.
# Installs Debian's slurm-wlm and munge when missing, writes a one-node configuration, starts
# munged, slurmctld and slurmd directly, and waits until the node is idle. Idempotent: daemons
# already running are reused (and keep the configuration they started with: stop.sh, then this,
# to apply a new one). Records what it started, so that stop.sh stops only that.
# Exit 3 (with the reason on stdout) where SLURM cannot run here, e.g. without root.
#
# The node offers more than the machine has, so that tests see several jobs (array tasks) run at
# once and jobs that ask for GPUs get them: slurmd takes the node's resources from slurm.conf
# (SlurmdParameters=config_overrides, slurm.conf(5) of slurm-wlm 22.05). Nothing is enforced
# (TaskPlugin=task/none): these are scheduling slots, not cores.
#   CRYOCC_SLURM_CPUS  CPUs the node offers (default 8)
#   CRYOCC_SLURM_MEM   its memory in MB (default 90% of the machine's, at least 2048 per CPU)
#   CRYOCC_SLURM_GPUS  fake GPUs, a GRES gpu (default 4; 0 for none): character devices
#                      $DIR/dev/nvidia0.. (major 195 as NVIDIA's, no driver behind them) named in
#                      gres.conf, so SLURM allocates them and sets CUDA_VISIBLE_DEVICES per job.
#                      Left out, with a note, where mknod is not allowed.
set -euo pipefail
DIR=${CRYOCC_SLURM_DIR:-/tmp/cryocc-slurm}
CPUS=${CRYOCC_SLURM_CPUS:-8}
GPUS=${CRYOCC_SLURM_GPUS:-4}
for n in "$CPUS" "$GPUS" "${CRYOCC_SLURM_MEM:-0}"; do
  [[ $n =~ ^[0-9]+$ ]] || { echo "CRYOCC_SLURM_CPUS, _MEM and _GPUS take a whole number, not '$n'"; exit 2; }
done
(( CPUS > 0 )) || { echo "CRYOCC_SLURM_CPUS must be at least 1"; exit 2; }
if [ "$(id -u)" != 0 ]; then
  echo "cannot start SLURM: installing and starting its daemons needs root (this is uid $(id -u))"
  exit 3
fi
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null \
   || ! command -v pgrep >/dev/null; then
  echo "installing slurm-wlm, munge and procps from Debian ..."
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge procps >/dev/null
fi
mkdir -p "$DIR"/{state,spool,log} /etc/slurm /etc/munge /run/munge /var/log/munge /var/lib/munge
: > "$DIR/started"  # this invocation's own daemons only: stop.sh must not stop what others started

# munge: one key, its own user, started unless it runs
if [ ! -s /etc/munge/munge.key ]; then
  if command -v mungekey >/dev/null; then mungekey -c -f -k /etc/munge/munge.key; else create-munge-key -f; fi
fi
chown -R munge:munge /etc/munge /run/munge /var/log/munge /var/lib/munge
chmod 0700 /etc/munge /var/lib/munge /var/log/munge
chmod 0400 /etc/munge/munge.key
if ! pgrep -x munged >/dev/null; then
  runuser -u munge -- munged --force
  echo munged >> "$DIR/started"
fi

MEM=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 * 9 / 10 ))
MEM=${CRYOCC_SLURM_MEM:-$(( MEM > CPUS * 2048 ? MEM : CPUS * 2048 ))}

# fake GPUs: gres/gpu needs each File= to be a character or block device (SchedMD/slurm
# slurm-22-05-8-1 src/plugins/gres/common/gres_common.c:95-103); slurmd only stat()s them
fake_gpus() {
  local i dev
  mkdir -p "$DIR/dev"
  for (( i = 0; i < GPUS; i++ )); do
    dev=$DIR/dev/nvidia$i
    [ -c "$dev" ] && continue
    rm -f "$dev"
    mknod "$dev" c 195 "$i" 2>/dev/null || return 1
  done
}
GRES_NODE=
if (( GPUS > 0 )); then
  if fake_gpus; then
    GRES_NODE=" Gres=gpu:$GPUS"
  else
    echo "note: cannot mknod $DIR/dev/nvidia0 here, so the node offers no GPUs"
    GPUS=0
  fi
fi
if (( GPUS > 0 )); then
  GRES_CONF="NodeName=localhost Name=gpu File=$DIR/dev/nvidia[0-$(( GPUS - 1 ))]"
else
  GRES_CONF="# no fake GPUs (CRYOCC_SLURM_GPUS=0 or no mknod)"
fi
cat > /etc/slurm/gres.conf.new <<CONF
# Written by cryocc's tests/slurm/start.sh: fake GPUs, device files without a driver.
AutoDetect=off
$GRES_CONF
CONF
mv /etc/slurm/gres.conf.new /etc/slurm/gres.conf

cat > /etc/slurm/slurm.conf.new <<CONF
# Written by cryocc's tests/slurm/start.sh: one node on localhost, its resources as configured here.
ClusterName=cryocc
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
JobCompType=jobcomp/filetxt
JobCompLoc=$DIR/log/jobcomp.txt
ReturnToService=2
MinJobAge=3600
KillWait=5
OverTimeLimit=0
InactiveLimit=0
MessageTimeout=20
SlurmdParameters=config_overrides
# a job that names no memory would otherwise be given all of the node's, and so hold the node
DefMemPerCPU=$(( MEM / CPUS ))
GresTypes=gpu
NodeName=localhost CPUs=$CPUS RealMemory=$MEM$GRES_NODE State=UNKNOWN
PartitionName=main Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
mv /etc/slurm/slurm.conf.new /etc/slurm/slurm.conf

if ! pgrep -x slurmctld >/dev/null; then
  slurmctld -i
  echo slurmctld >> "$DIR/started"
fi
if ! pgrep -x slurmd >/dev/null; then
  slurmd -N localhost
  echo slurmd >> "$DIR/started"
fi

for _ in $(seq 60); do
  state=$(sinfo -h -N -o %t 2>/dev/null | head -1 || true)
  case "$state" in
    idle|mix|alloc)  # what the node offers, as SLURM sees it: a reused cluster may differ from the above
      echo "SLURM ready: node localhost $state, $(sinfo -h -N -o '%c CPUs, %mM, gres %G' | head -1)"; exit 0 ;;
    down*|drain*) scontrol update nodename=localhost state=resume >/dev/null 2>&1 || true ;;
  esac
  sleep 0.5
done
echo "SLURM did not come up; logs in $DIR/log"
tail -20 "$DIR/log/slurmctld.log" "$DIR/log/slurmd.log" 2>/dev/null || true
exit 1
