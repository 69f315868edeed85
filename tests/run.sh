#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs cryocc with its test dependencies and the real
# pytom-match-pick and cryoCARE (without their GPU stacks), runs ruff and mypy, finds or builds the real RELION 5
# (tests/relion/build.sh: once per machine, 10-40 minutes), installs Debian's chromium for the report's
# browser test and starts a one-node SLURM cluster for the end-to-end tests (as root; slurm-wlm and munge
# are installed when missing), runs pytest, and stops
# only the daemons it started. CRYOCC_REQUIRE_RELION=1 (set by .ci/run) turns a missing RELION
# into a failure instead of a skip.
#
# Everything Python runs in a virtual environment of its own ($CRYOCC_VENV, default .venv in the checkout,
# made when missing) installed from requirements/test.lock, so this machine, a developer's and CI run the
# same pydantic, mypy and ruff whatever the system Python holds (update: bash requirements/lock.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${CRYOCC_VENV:-$PWD/.venv}
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
venv=$(cd "$venv" && pwd)
export PATH="$venv/bin:$PATH" VIRTUAL_ENV="$venv"  # python3, the driver and pip's scripts: the venv's
pip=(python3 -m pip install --quiet --disable-pip-version-check -c requirements/test.lock)
"${pip[@]}" -e '.[test]'
# their GPU stacks (cupy, TensorFlow) cannot run here; the tests need their parsers and readers
"${pip[@]}" --no-deps pytom-match-pick cryoCARE
echo "Python: $(python3 --version) in $venv; pydantic $(python3 -c 'import pydantic; print(pydantic.VERSION)')"
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
  # Debian's Chromium renders cryocc report's HTML in tests/test_report.py (headless, without a network)
  if ! command -v chromium >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  fi
  trap 'bash tests/slurm/stop.sh' EXIT
  bash tests/slurm/start.sh
else
  echo "not root: SLURM cannot be started (nor chromium installed) here, so the tests that need them will be skipped"
fi
python3 -m pytest "$@"
