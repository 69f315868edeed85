"""How a driver says a job cannot succeed: the message is the one-line reason in the log and the receipt."""

from __future__ import annotations


class JobFailed(Exception):
    """The job cannot succeed."""


class PartialFailure(JobFailed):
    """The tool failed on some tilt series and the policy is to stop."""


class Terminated(JobFailed):
    """SLURM (scancel, wall time) or a user sent SIGTERM/SIGINT."""


class Aborted(Exception):
    """RELION_JOB_ABORT_NOW appeared."""


def items_failed(failed: dict[str, str | None], total: int) -> str:
    """One line naming the failed tilt series and why: '2 of 30 tilt series failed: TS_03 (why), TS_11 (why)'."""
    return f"{len(failed)} of {total} tilt series failed: " + ", ".join(f"{n} ({why})" if why else n for n, why in sorted(failed.items()))
