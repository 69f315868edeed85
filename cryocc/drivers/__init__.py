"""One driver per job type: drivers/<stem>.py with `run(ctx)`, sharing the contract in _runtime."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def driver_module(stem: str) -> Any:
    """drivers/<stem>.py, imported lazily so a node loads only its own driver."""
    return importlib.import_module(f"{__name__}.{stem}")


def driver_for(stem: str) -> Callable[..., Any]:
    """The run(ctx) of a job type."""
    run: Callable[..., Any] = driver_module(stem).run
    return run
