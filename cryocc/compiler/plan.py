"""Decide, job by job, what to keep, run or re-run, and why."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class JobPlan:
    name: str
    type: str
    action: str  # keep | run | rerun | orphan
    reasons: list[dict[str, Any]] = field(default_factory=list)
    job_dir: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "action": self.action, "reasons": self.reasons, "job_dir": self.job_dir}


@dataclass
class Plan:
    jobs: list[JobPlan]

    @property
    def to_run(self) -> list[str]:
        return [j.name for j in self.jobs if j.action in ("run", "rerun")]

    @property
    def kept(self) -> dict[str, str]:
        return {j.name: j.job_dir for j in self.jobs if j.action == "keep" and j.job_dir}

    def summary(self) -> dict[str, int]:
        out = {"keep": 0, "run": 0, "rerun": 0, "orphan": 0}
        for j in self.jobs:
            out[j.action] += 1
        return out

    def to_json(self) -> dict[str, Any]:
        return {"jobs": [j.to_json() for j in self.jobs], "summary": self.summary()}


def plan_fresh(order: list[str], types: dict[str, str]) -> Plan:
    """A project with no history: every job runs."""
    return Plan([JobPlan(n, types[n], "run", [{"kind": "new"}]) for n in order])
