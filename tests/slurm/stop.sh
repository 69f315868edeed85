#!/usr/bin/env bash
# Stop the daemons tests/slurm/start.sh started (and only those), in reverse order.
set -uo pipefail
DIR=${CRYOCC_SLURM_DIR:-/tmp/cryocc-slurm}
[ -f "$DIR/started" ] || exit 0
for daemon in $(tac "$DIR/started"); do
  pkill -x "$daemon" && echo "stopped $daemon"
done
rm -f "$DIR/started"
