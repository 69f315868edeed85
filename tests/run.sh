#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs cryocc with its test dependencies and the real
# pytom-match-pick and cryoCARE (without their GPU stacks), runs ruff and mypy, finds or builds the real RELION 5
# (tests/relion/build.sh: once per machine, 10-40 minutes), starts a one-node SLURM cluster for the
# end-to-end tests (as root; it installs slurm-wlm and munge when missing), runs pytest, and stops
# only the daemons it started. CRYOCC_REQUIRE_RELION=1 (set by .ci/run) turns a missing RELION
# into a failure instead of a skip.
set -euo pipefail
cd "$(dirname "$0")/.."
pip=(python3 -m pip install --quiet --disable-pip-version-check)
"${pip[@]}" -e '.[test]'
# their GPU stacks (cupy, TensorFlow) cannot run here; the tests need their parsers and readers
"${pip[@]}" --no-deps "pytom-match-pick==0.10.0" "cryoCARE==0.3.0"
# the linters first, as pyproject.toml configures them: ruff, and mypy --strict over cryocc/
python3 -m ruff check cryocc tests bench
python3 -m mypy
if relion=$(bash tests/relion/build.sh); then
  echo "RELION: ${relion##*$'\n'}"
elif [ -n "${CRYOCC_REQUIRE_RELION:-}" ]; then
  echo "the real RELION is required here: $relion"
  exit 1
else
  echo "no real RELION (${relion##*$'\n'}): the tests that need it will be skipped"
fi
if [ "$(id -u)" = 0 ]; then
  trap 'bash tests/slurm/stop.sh' EXIT
  bash tests/slurm/start.sh
else
  echo "not root: SLURM cannot be started here, so the end-to-end tests under SLURM will be skipped"
fi
python3 -m pytest "$@"
