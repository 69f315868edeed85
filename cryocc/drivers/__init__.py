"""One driver per job type: drivers/<stem>.py with `run(ctx)`, sharing the contract in _runtime."""

from __future__ import annotations

import importlib
from collections.abc import Callable


def driver_for(stem: str) -> Callable:
    """The run(ctx) of a job type; imported lazily so a node loads only its own driver."""
    return importlib.import_module(f"{__name__}.{stem}").run
