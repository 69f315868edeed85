"""One driver per job type: drivers/<stem>.py with `run(ctx)`, sharing the contract in _runtime."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def driver_for(stem: str) -> Callable[..., Any]:
    """The run(ctx) of a job type; imported lazily so a node loads only its own driver."""
    run: Callable[..., Any] = importlib.import_module(f"{__name__}.{stem}").run
    return run
