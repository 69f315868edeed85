#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs cryocc with its test dependencies, starts a
# one-node SLURM cluster for the end-to-end tests (as root; it installs slurm-wlm and munge when
# missing), runs pytest, and stops only the daemons it started.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install --quiet --disable-pip-version-check -e '.[test]'
if [ "$(id -u)" = 0 ]; then
  trap 'bash tests/slurm/stop.sh' EXIT
  bash tests/slurm/start.sh
else
  echo "not root: SLURM cannot be started here, so the end-to-end tests under SLURM will be skipped"
fi
python3 -m pytest "$@"
