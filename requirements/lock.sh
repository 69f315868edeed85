#!/usr/bin/env bash
# Rewrites requirements/test.lock: every package, at one version, that tests/run.sh installs into its
# virtual environment (cryocc's dependencies with the test and lint extras, and the real pytom-match-pick
# and cryoCARE). Run it to take newer versions, then run the test suite and commit both.
#   bash requirements/lock.sh
set -euo pipefail
cd "$(dirname "$0")/.."
venv=$(mktemp -d)/venv
python3 -m venv "$venv"
pip=("$venv/bin/python" -m pip install --quiet --disable-pip-version-check)
"${pip[@]}" --upgrade pip
"${pip[@]}" -e '.[test]'
"${pip[@]}" --no-deps "pytom-match-pick==0.10.0" "cryoCARE==0.3.0"
{
  echo "# Written by requirements/lock.sh with $("$venv/bin/python" --version): the versions the test suite was checked with."
  echo "# tests/run.sh installs from it (pip -c); to update, run bash requirements/lock.sh and the suite."
  "$venv/bin/python" -m pip freeze --exclude-editable --all | grep -v '^pip==' | LC_ALL=C sort -f
} > requirements/test.lock
rm -rf "$(dirname "$venv")"
echo "requirements/test.lock: $(grep -vc '^#' requirements/test.lock) packages"
