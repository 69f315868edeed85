from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cryocc.cli import app

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "fake_tools"))  # the fakes' option tables, for tests that check against them
EXAMPLES = ROOT / "examples"
REAL = Path(__file__).resolve().parent / "fixtures" / "real"
FIXED_MTIME = 1_700_000_000


@pytest.fixture(autouse=True, scope="session")
def _mdoc_cache(tmp_path_factory):
    """The user-level mdoc cache, for this session only."""
    os.environ["CRYOCC_CACHE"] = str(tmp_path_factory.mktemp("cryocc-cache"))


def freeze_mtimes(root: Path) -> None:
    for p in root.rglob("*"):
        os.utime(p, (FIXED_MTIME, FIXED_MTIME), follow_symlinks=False)


def copy_examples(dest: Path, name: str, site: str | None = None) -> Path:
    """All examples (they share data) copied to dest with fixed mtimes; returns <name>/pipeline.yaml.
    site: another site profile (e.g. workstation: jobs run by bash, no SLURM needed)."""
    shutil.copytree(EXAMPLES, dest)
    pipeline = dest / name / "pipeline.yaml"
    if site:
        text = pipeline.read_text()
        start = text.index("\nsite: ") + 1
        pipeline.write_text(text[:start] + f"site: {site}" + text[text.index("\n", start):])
    freeze_mtimes(dest)
    return pipeline


@pytest.fixture
def example(tmp_path):
    """Copy examples/ into tmp with fixed mtimes; returns the pipeline.yaml of one of them."""
    return lambda name="quickstart": copy_examples(tmp_path / "examples", name)


FAKE_BIN = Path(__file__).resolve().parent / "fake_tools" / "bin"
RELION_BUILD = Path(__file__).resolve().parent / "relion" / "build.sh"


@functools.cache
def relion_bin() -> tuple[str | None, str]:
    """(directory of the real RELION programs, or None and why): on PATH, or built by tests/relion/build.sh."""
    out = subprocess.run(["bash", str(RELION_BUILD), "--check"], capture_output=True, text=True)
    lines = (out.stdout or out.stderr).strip().splitlines()
    return (lines[-1], "") if out.returncode == 0 else (None, lines[-1] if lines else f"exit {out.returncode}")


@pytest.fixture(scope="session")
def relion() -> str:
    """The real RELION 5, or a skip that says why; a failure where CRYOCC_REQUIRE_RELION is set (CI)."""
    bin_dir, why = relion_bin()
    if bin_dir is None:
        if os.environ.get("CRYOCC_REQUIRE_RELION"):
            pytest.fail(f"the real RELION is required here: {why}")
        pytest.skip(f"no real RELION: {why}")
    return bin_dir


def _relion_python() -> tuple[str | None, str]:
    """RELION's own Python interpreter: the one its relion_python_tomo_import wrapper runs
    (relion:scripts/python_tomo_import.in:16), or CRYOCC_RELION_PYTHON."""
    if os.environ.get("CRYOCC_RELION_PYTHON"):
        return os.environ["CRYOCC_RELION_PYTHON"], ""
    bin_dir, why = relion_bin()
    if bin_dir is None:
        return None, why
    wrapper = shutil.which("relion_python_tomo_import", path=os.pathsep.join([bin_dir, os.environ.get("PATH", "")]))
    text = Path(wrapper).read_text(errors="replace") if wrapper else ""
    found = re.search(r'^python_executable="(.+)"$', text, re.M)
    if found and os.access(found.group(1), os.X_OK):
        return found.group(1), ""
    return None, f"no runnable python_executable in {wrapper or 'relion_python_tomo_import (not found)'} (set CRYOCC_RELION_PYTHON)"


@pytest.fixture(scope="session")
def relion_python() -> str:
    python, why = _relion_python()
    if python is None:
        if os.environ.get("CRYOCC_REQUIRE_RELION"):
            pytest.fail(f"RELION's Python programs are required here: {why}")
        pytest.skip(f"no RELION Python programs: {why}")
    return python


def run_relion(python: str, code: str, *args: object) -> dict[str, list[list[float]]]:
    """Run code in RELION's interpreter; it prints one JSON object."""
    out = subprocess.run([python, "-c", code, *map(str, args)], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def tool_env(**switches: str) -> dict[str, str]:
    """The environment of a job: the fake tools (with the fault shim in front of the real RELION
    programs), the real RELION, the driver on PATH, plus FAKE_* switches."""
    # the scripts directory of this interpreter, not a shim: pyenv's shims put their own bin directory
    # first on PATH, where pip's real pytom_*.py scripts would then shadow the fakes
    driver_dir = Path(sysconfig.get_path("scripts"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAKE_")}
    relion, _ = relion_bin()
    path = [str(FAKE_BIN), *([relion] if relion else []), str(driver_dir), env.get("PATH", "")]
    env["PATH"] = os.pathsep.join(path)
    env.update(switches)
    return env


class Cli:
    def __init__(self) -> None:
        self.runner = CliRunner()

    def __call__(self, *args: str | Path, code: int | None = 0):
        result = self.runner.invoke(app, [str(a) for a in args])
        if result.exception and not isinstance(result.exception, SystemExit):
            raise result.exception
        if code is not None:
            assert result.exit_code == code, f"exit {result.exit_code}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        return result


@pytest.fixture
def cli():
    return Cli()


def tree(root: Path) -> dict[str, bytes]:
    """Every file below root (relative path -> bytes)."""
    if not root.exists():
        return {}
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def _slurm_state() -> str:
    import subprocess

    if not shutil.which("sinfo"):
        return "no sinfo on PATH"
    out = subprocess.run(["sinfo", "-h", "-N", "-o", "%t"], capture_output=True, text=True, timeout=20)
    state = out.stdout.strip().splitlines()[:1]
    return "" if out.returncode == 0 and state and state[0] in ("idle", "mix", "alloc") else (out.stderr.strip() or f"node {state}")


@pytest.fixture(scope="session")
def slurm_cluster():
    """A running SLURM cluster, or a skip that says why; in CI a failure, since CI must run these."""
    problem = _slurm_state()
    if problem:
        why = f"no SLURM cluster ({problem}): run tests/slurm/start.sh as root, which installs and starts slurmctld, slurmd and munge"
        if os.environ.get("CI"):
            pytest.fail(why)
        pytest.skip(why)
