"""Fingerprints: a hash of everything that changes a job's results, in canonical JSON."""

from __future__ import annotations

import hashlib
import json
from typing import Any

# Bump only when the fingerprint recipe changes in a way that must invalidate old results.
RECIPE_VERSION = 1


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def digest(value: Any) -> str:
    return hashlib.sha256(canonical(value).encode()).hexdigest()


def job_parts(*, job_type: str, type_version: int, params: dict[str, Any], acquisition: dict[str, Any],
              inputs: dict[str, str], data: str | None, upstream: dict[str, str],
              exclude_tilts: dict[str, list[int]] | None = None) -> dict[str, Any]:
    """The named parts a job's fingerprint is made of, kept in the lockfile so plan can explain a change.
    exclude_tilts (the job that leaves them out): tilt series -> the ZValues it leaves out; a part only
    when some are, so that no other fingerprint changes."""
    return {**({"exclude_tilts": exclude_tilts} if exclude_tilts else {}),
        "recipe": RECIPE_VERSION,
        "type": job_type,
        "type_version": type_version,
        "params": params,
        "acquisition": acquisition,
        "inputs": inputs,  # input file named by a param -> its fingerprint
        "data": data,  # digest over the fingerprints of every frame, mdoc and gain file (jobs that read data:)
        "upstream": upstream,  # slot -> upstream job's fingerprint
    }


def job_fingerprint(parts: dict[str, Any]) -> str:
    return digest(parts)
