from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cryocc.cli import app

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
REAL = Path(__file__).resolve().parent / "fixtures" / "real"
FIXED_MTIME = 1_700_000_000


def freeze_mtimes(root: Path) -> None:
    for p in root.rglob("*"):
        os.utime(p, (FIXED_MTIME, FIXED_MTIME), follow_symlinks=False)


@pytest.fixture
def example(tmp_path):
    """Copy examples/<name> into tmp with fixed mtimes; returns its pipeline.yaml."""

    def make(name: str = "quickstart") -> Path:
        dest = tmp_path / name
        shutil.copytree(EXAMPLES / name, dest)
        freeze_mtimes(dest)
        return dest / "pipeline.yaml"

    return make


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
