#!/usr/bin/env bash
# Stop the daemons tests/slurm/start.sh started (and only those), in reverse order, and wait until
# each has exited: slurmctld saves its state first, and a start.sh right after must not find it
# still running and reuse it.
set -uo pipefail
DIR=${CRYOCC_SLURM_DIR:-/tmp/cryocc-slurm}
[ -f "$DIR/started" ] || exit 0
for daemon in $(tac "$DIR/started"); do
  pkill -x "$daemon" || continue
  for _ in $(seq 100); do pgrep -x "$daemon" >/dev/null || break; sleep 0.2; done
  if pgrep -x "$daemon" >/dev/null; then  # e.g. slurmd retrying a controller that is gone
    pkill -KILL -x "$daemon"
    echo "killed $daemon: still running 20 s after SIGTERM"
  else
    echo "stopped $daemon"
  fi
done
rm -f "$DIR/started"
