"""What a job directory holds once its driver is done: one of RELION's sentinels, and cryocc's receipt.
Shared by the drivers, which write them, and the compiler, which reads them back."""

SUCCESS, FAILURE, ABORTED = "RELION_JOB_EXIT_SUCCESS", "RELION_JOB_EXIT_FAILURE", "RELION_JOB_EXIT_ABORTED"
ABORT_NOW = "RELION_JOB_ABORT_NOW"
RECEIPT = "cryocc_receipt.json"
SLURM_ID = "cryocc_slurm_job"  # the job script writes $SLURM_JOB_ID here as it starts: the job is then known by id
ITEM_LOGS = "logs"  # <job>/logs/<tilt series>.log: a tool's output for one tilt series run beside others


def ended(job_dir) -> bool:
    """Whether a job directory holds one of RELION's end sentinels."""
    return any((job_dir / s).exists() for s in (SUCCESS, FAILURE, ABORTED))

