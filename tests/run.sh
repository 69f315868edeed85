#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs cryocc with its test dependencies, then runs pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install --quiet --disable-pip-version-check -e '.[test]'
python3 -m pytest "$@"
