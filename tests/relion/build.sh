#!/usr/bin/env bash
# The real RELION 5 for the tests: relion_schemer, relion_pipeliner, relion_tomo_subtomo,
# relion_tomo_reconstruct_particle, relion_tomo_reconstruct_tomogram, relion_refine (CPU, no GUI) and RELION's Python programs
# (relion_python_tomo_import). Prints, on its last line, a directory holding all of them.
#
#   1. RELION already on PATH (a facility machine): that directory, nothing built.
#   2. Otherwise built from $RELION_SRC (default ../shared/relion/src beside the checkout) into
#      a cache outside the checkout keyed by the source's content and this script, so a machine
#      builds it once: ${CRYOCC_RELION_CACHE:-~/.cache/cryocc/relion}/<key>/bin.
#   3. Neither: exit 3 with the reason (the tests that need RELION then skip and say why).
#
# --check: only find it (on PATH or already built), never build: what the test suite calls.
#
# About 35 minutes on 2 cores the first time (relion_lib is nearly all of it); seconds after.
# RELION is GPL-2.0 (its Python programs BSD-3-Clause); nothing of it enters this repository.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
CHECK=0
[ "${1:-}" = "--check" ] && CHECK=1
PROGRAMS=(relion_schemer relion_pipeliner relion_tomo_subtomo relion_tomo_reconstruct_particle relion_tomo_reconstruct_tomogram relion_refine
          relion_python_tomo_import)
TARGETS=(schemer pipeliner subtomo reconstruct_particle reconstruct_tomogram refine)  # make drops the relion_ and tomo_ prefixes
# -O1: the tests run RELION on tiny data, and -O3 nearly doubles the compile time on 2 cores
CMAKE_FLAGS=(-DGUI=OFF -DCUDA=OFF -DALTCPU=OFF -DFETCH_WEIGHTS=OFF -DCMAKE_BUILD_TYPE=Release
             "-DCMAKE_CXX_FLAGS_RELEASE=-O1 -DNDEBUG" "-DCMAKE_C_FLAGS_RELEASE=-O1 -DNDEBUG")

on_path=1
for p in "${PROGRAMS[@]}"; do command -v "$p" >/dev/null || on_path=0; done
if [ "$on_path" = 1 ]; then
  dirname "$(command -v relion_schemer)"
  exit 0
fi

SRC=${RELION_SRC:-$HERE/../../../shared/relion/src}
if [ ! -f "$SRC/CMakeLists.txt" ]; then
  echo "no RELION: none on PATH and no source at $SRC (set RELION_SRC to a RELION 5 source tree)"
  exit 3
fi
SRC=$(cd "$SRC" && pwd)

# the key: every source file's content and path, and what else decides the build
# (build/ and *.egg-info are what a pip install into the source leaves, not source: an older build.sh did that)
key=$( (cd "$SRC" && find . -type f ! -path './.git/*' ! -path './build/*' ! -path '*.egg-info/*' -print0 | LC_ALL=C sort -z | xargs -0 sha256sum
        echo "${CMAKE_FLAGS[*]} ${TARGETS[*]}"; python3 --version) | sha256sum | cut -c1-16)
CACHE=${CRYOCC_RELION_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/cryocc/relion}/$key
if [ "$CHECK" = 1 ]; then
  [ -f "$CACHE/ok" ] && { echo "$CACHE/bin"; exit 0; }
  echo "RELION is not built yet for this source ($SRC): run bash tests/relion/build.sh (10-40 minutes, once per machine)"
  exit 3
fi
mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock 9  # one build per key at a time; a second caller waits and reuses it
if [ -f "$CACHE/ok" ]; then
  echo "$CACHE/bin"
  exit 0
fi

log() { echo "[relion build] $*" >&2; }
need=()
for pkg in build-essential cmake libopenmpi-dev openmpi-bin libfftw3-dev libtiff-dev libpng-dev libjpeg-dev zlib1g-dev; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ "${#need[@]}" -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "cannot build RELION: missing Debian packages ${need[*]} and not root to install them"
    exit 3
  fi
  log "installing ${need[*]}"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >"$CACHE/apt.log" 2>&1 || { tail -20 "$CACHE/apt.log"; exit 1; }
fi

# RELION's Python programs in their own venv: their pins must not meet cryocc's test environment
if [ ! -x "$CACHE/venv/bin/relion_tomo_import" ]; then
  log "installing RELION's Python programs into $CACHE/venv"
  python3 -m venv "$CACHE/venv"
  # from a copy: setuptools writes build/ and relion.egg-info into the tree it installs from, and the
  # source is shared (and read-only, which root does not notice)
  rm -rf "$CACHE/pysrc" && cp -r "$SRC" "$CACHE/pysrc"
  SETUPTOOLS_SCM_PRETEND_VERSION=5.0.1 "$CACHE/venv/bin/pip" install --quiet --disable-pip-version-check "$CACHE/pysrc" \
    >"$CACHE/pip.log" 2>&1 || { tail -20 "$CACHE/pip.log"; exit 1; }
  rm -rf "$CACHE/pysrc"
fi

log "building ${TARGETS[*]} from $SRC (once per machine; 10-40 minutes on 2 cores)"
cmake -S "$SRC" -B "$CACHE/build" "${CMAKE_FLAGS[@]}" -DPYTHON_EXE_PATH="$CACHE/venv/bin/python" >"$CACHE/cmake.log" 2>&1 || { tail -30 "$CACHE/cmake.log"; exit 1; }
make -C "$CACHE/build" -j"$(nproc)" "${TARGETS[@]}" >"$CACHE/make.log" 2>&1 || { tail -30 "$CACHE/make.log"; exit 1; }

mkdir -p "$CACHE/bin"
for p in "${PROGRAMS[@]}"; do
  ln -sf "$CACHE/build/bin/$p" "$CACHE/bin/$p"
  [ -x "$CACHE/bin/$p" ] || { echo "the build made no $p"; exit 1; }
done
touch "$CACHE/ok"
log "done"
echo "$CACHE/bin"
