#!/usr/bin/env bash
# Start a one-node SLURM cluster on localhost for the end-to-end tests: root, no systemd needed.
# Installs Debian's slurm-wlm and munge when missing, writes a one-node configuration, starts
# munged, slurmctld and slurmd directly, and waits until the node is idle. Idempotent: daemons
# already running are reused. Records what it started, so that stop.sh stops only that.
# Exit 3 (with the reason on stdout) where SLURM cannot run here, e.g. without root.
set -euo pipefail
DIR=${CRYOCC_SLURM_DIR:-/tmp/cryocc-slurm}
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

CPUS=$(nproc)
MEM=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 * 9 / 10 ))
cat > /etc/slurm/slurm.conf <<CONF
# Written by cryocc's tests/slurm/start.sh: one node on localhost.
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
NodeName=localhost CPUs=$CPUS RealMemory=$MEM State=UNKNOWN
PartitionName=main Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF

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
    idle|mix|alloc) echo "SLURM ready: node localhost $state, $CPUS CPUs, ${MEM}M"; exit 0 ;;
    down*|drain*) scontrol update nodename=localhost state=resume >/dev/null 2>&1 || true ;;
  esac
  sleep 0.5
done
echo "SLURM did not come up; logs in $DIR/log"
tail -20 "$DIR/log/slurmctld.log" "$DIR/log/slurmd.log" 2>/dev/null || true
exit 1
