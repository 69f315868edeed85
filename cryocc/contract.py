"""The names the compiler, the runner, the supervisor and the drivers share: what a job directory
holds once its driver is done, where cryocc keeps its own files in a project, and how RELION hands
inputs to a driver. Standard library only: the drivers import it on every compute node."""

from __future__ import annotations

import json
import re
from enum import StrEnum
from pathlib import Path
from typing import Any, NotRequired, TypedDict

# RELION's sentinels (pipeline_jobs.h): the schemer waits for one of the three end sentinels.
SUCCESS, FAILURE, ABORTED = "RELION_JOB_EXIT_SUCCESS", "RELION_JOB_EXIT_FAILURE", "RELION_JOB_EXIT_ABORTED"
END_SENTINELS = (SUCCESS, FAILURE, ABORTED)
ABORT_NOW = "RELION_JOB_ABORT_NOW"

# What a cryocc driver leaves in its job directory.
# Bump only when the rules of a fingerprint (compiler/fingerprint.py) change in a way that must
# invalidate old results; the lockfile records it (its "recipe").
FINGERPRINT_VERSION = 1

RECEIPT = "cryocc_receipt.json"
RECEIPT_FORMAT = 2  # 2: folder outputs list their files
SLURM_ID = "cryocc_slurm_job"  # the job script writes $SLURM_JOB_ID here as it starts: the job is then known by id
JOB_PID = "cryocc_pid"  # a job script run without SLURM (by bash) writes "<host> <pid>" here as it starts
WATCHDOG_NOTE = "cryocc_watchdog.txt"  # why cryocc, not the job, wrote the job's end sentinel
LOG_TAIL_MARK = "--- last lines of output ---"  # a failed driver repeats its log's last lines below this line
ITEM_LOGS = "logs"  # <job>/logs/<tilt series>.log: a tool's output for one tilt series run beside others

# A job run as a SLURM array (execution: array): its driver is the supervisor RELION submitted, and
# each array task runs the same driver on some tilt series (drivers/_array.py). In the job directory:
ARRAY_DIR = "cryocc_array"
ARRAY_MANIFEST = f"{ARRAY_DIR}/manifest.json"  # ArrayManifest
ARRAY_IDS = f"{ARRAY_DIR}/arrays.json"  # [ArrayEntry]: each sbatch --array the supervisor made (base + index = task)
ARRAY_TASKS = f"{ARRAY_DIR}/tasks"  # <task>.json: TaskRecord, what one task made of its tilt series (written once, atomically)
ARRAY_LOGS = f"{ARRAY_DIR}/logs"  # <array id>_<index>.out and .err: sbatch's --output and --error of each task
ARRAY_FORMAT = 1  # of the manifest and the task records (arrays.json is a bare list: its entries have no format)


def task_log(array_id: str, index: int, stream: str = "out") -> str:
    """A task's log in its job directory: sbatch --output/--error with %A_%a."""
    return f"{ARRAY_LOGS}/{array_id}_{index}.{stream}"



class ReceiptStatus(StrEnum):
    """How a driver's run ended, as its receipt records it (running: it has not)."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    FAILED_PARTIAL = "failed_partial"  # failed on some tilt series, with on_item_failure: stop
    ABORTED = "aborted"


class Outcome(StrEnum):
    """What became of one tilt series in a job, as its receipt records it."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"  # the tool failed on it
    FILTERED = "filtered"  # left out by a rule the user set (kept as such)
    PENDING = "pending"  # a run that processes it has started and not ended


# What a driver's _quality records of a tilt series (a receipt's items.<ts>.quality), each a number
# (hand: a word); status and report show them in this order (observe/quality.LABELS).
MEASURES = ("tilts", "defocus_um", "astigmatism_a", "ctf_resolution_a", "motion_a", "axis_deg", "shift_a",
            "residual_a", "residual_sd_a", "hand", "picks", "particles")


class ReceiptOutput(TypedDict, total=False):
    path: str
    is_dir: bool
    size: int
    files: dict[str, int]


class ReceiptItem(TypedDict, total=False):
    outcome: str
    fingerprint: str
    reason: str | None
    quality: dict[str, Any]  # MEASURES, per_tilt, dropped, tomogram, source


class ReceiptTool(TypedDict):
    image: str | None
    bin_dir: str | None
    commands: list[list[str]]  # every tool command line the job ran, in order


class ArrayRun(TypedDict):
    """A supervisor's arrays, as its receipt records them."""

    ids: list[str]
    tasks: int
    max_parallel: int


class Receipt(TypedDict, total=False):
    """cryocc_receipt.json as drivers._receipt writes it (every key); a receipt read back
    (observe/receipts.check_receipt) has the keys cryocc reads checked, and may lack others."""

    format: int  # RECEIPT_FORMAT; 1 (folder outputs without their files) is read too
    job: str
    type: str
    type_version: int
    fingerprint: str
    params_file: str | None  # the params document, as RELION gave it (--job): project-relative
    job_dir: str  # project-relative, with a trailing /
    status: str  # ReceiptStatus
    reason: str | None
    tool: ReceiptTool
    host: str
    slurm_job_id: str | None
    array: ArrayRun | None
    decisions: dict[str, Any]  # Context.decisions: name -> {value, from: [tilt series]}
    started: str
    ended: str | None
    seconds: int | float | None
    outputs: list[ReceiptOutput]
    items: dict[str, ReceiptItem]
    quality: dict[str, dict[str, Any]]  # tilt series a job pools, with no item record
    cryocc: str | None  # the version of cryocc that wrote the params document


# The files of a job run as arrays (ARRAY_DIR), as drivers/_array.py writes them.
class ArrayManifest(TypedDict):
    """ARRAY_MANIFEST: the tasks the supervisor split the job's tilt series into."""

    format: int  # ARRAY_FORMAT
    job: str
    fingerprint: str
    tasks: list[list[str]]  # task number -> its tilt series
    max_parallel: int
    decisions: NotRequired[dict[str, Any]]  # what the job decided before its tasks ran (every task uses it)


class ArrayEntry(TypedDict):
    """One entry of ARRAY_IDS: an sbatch --array; its task numbers are base + each index."""

    id: str  # SLURM's job id of the array: digits
    base: int
    indices: list[int]


class TaskRecord(TypedDict):
    """ARRAY_TASKS/<task>.json: what one task made of its tilt series."""

    format: int  # ARRAY_FORMAT
    task: int
    status: str  # succeeded, failed or aborted
    reason: str | None
    items: dict[str, ReceiptItem]  # its tilt series, as the job's receipt records them
    quality: dict[str, dict[str, Any]]
    files: dict[str, str]  # its own copies of job-level files: name -> how they merge (Context.job_name)
    commands: list[list[str]]
    devices: str | None  # CUDA_VISIBLE_DEVICES: the GPUs SLURM gave it
    host: str
    slurm: str  # <array id>_<index>: the array task that wrote it
    started: float
    seconds: float


def other_format(doc: object, readable: tuple[int, ...]) -> str | None:
    """None when doc is an object of a format this cryocc reads; else what it is, as the end of a
    sentence that names the file: "is of format 3, and this cryocc reads format 2"."""
    found = doc.get("format") if isinstance(doc, dict) else None
    if type(found) is int and found in readable:
        return None
    shown = str(found) if type(found) is int else json.dumps(found)
    shown = shown if len(shown) <= 40 else shown[:37] + "..."  # a damaged file's value, not a page of it
    said = "has no format" if found is None else f"is of format {shown}"
    return f"{said}, and this cryocc reads format {' or '.join(str(f) for f in readable)}"


# The params document: what `cryocc apply` writes for each job (.cryocc/jobs/<job>/<hash>.json,
# compiler/render.py) and its driver reads (drivers/_runtime.py), besides what RELION passes it.
PARAMS_FORMAT = 2  # 2: no "stem": the type names the driver


class InputSlot(TypedDict):
    """One input of a job: which upstream job's file, and how RELION passes it to the driver."""

    upstream: str  # the upstream job's name
    kind: str
    option: str  # RELION's input option (INPUT_FLAGS)
    flag: str  # the flag RELION passes it as
    file: str  # the file, in the upstream job directory


class OutputSpec(TypedDict):
    """A promised output: the driver succeeds only once each is there and not empty."""

    path: str  # in the job directory
    kind: str | None
    is_dir: bool


class ItemsPlan(TypedDict):
    """A per-tilt-series job's tilt series, as the plan decided them."""

    fingerprints: dict[str, str]  # tilt series -> item fingerprint
    todo: list[str]  # to run
    keep: list[str]  # an extension's: kept as its earlier run in the job directory left them


class ToolSpec(TypedDict):
    """The site's tool of the job type (site profile tools.<tool>)."""

    image: str | None  # apptainer/singularity image; None: native
    bin_dir: str | None
    env: dict[str, str]


class ContainerSpec(TypedDict):
    """The site's container runtime (site profile container)."""

    executable: str
    binds: list[str]
    nv: bool
    options: list[str]


class JobResources(TypedDict):
    """What one job (or one array task) asks SLURM for."""

    partition: str | None
    cpus: int
    mem: str
    time: str
    gpus: int
    constraint: str | None
    sbatch: list[str] | None


class ArraySettings(TypedDict):
    """How a job runs as SLURM arrays (execution: array)."""

    tilt_series_per_task: int
    max_parallel: int
    poll_seconds: int
    supervisor: JobResources  # the job RELION submits
    resources: JobResources  # each task's


class SeriesRef(TypedDict):
    name: str
    mdoc: str  # absolute


class DataSpec(TypedDict):
    """What a job that reads the data gets of data: (the tools find the frames themselves)."""

    frames: list[str]  # absolute globs
    mdocs: list[str]
    gain: str | None
    gain_operations: str | None
    tilt_series: list[SeriesRef]


class ParamsDoc(TypedDict):
    """The params document, as compiler/render.params_document writes it. params and acquisition
    have the shapes of the job type's model (schema/jobs/<type>.py)."""

    format: int  # PARAMS_FORMAT: the driver refuses another
    cryocc: str  # the version that wrote it
    job: str
    type: str
    type_version: int
    fingerprint: str
    params: dict[str, Any]
    acquisition: dict[str, Any]
    data: DataSpec | None  # only for a job type that reads the data
    inputs: dict[str, InputSlot]  # by the job type's input slot
    outputs: list[OutputSpec]
    tool: ToolSpec | None  # None: the tool's executables on PATH
    container: ContainerSpec
    scratch: str | None
    on_item_failure: str  # stop | continue
    items: ItemsPlan | None  # None: not a per-tilt-series job
    items_star: str | None  # the job's combined STAR file, a row per tilt series
    threads: int  # each task's, for an array
    gpus: int
    array: ArraySettings | None  # None: one job (execution: node)
    exclude_tilts: NotRequired[dict[str, dict[str, Any]]]  # the job that leaves tilts out: name -> {zvalues, frames, why}


class RunRecord(TypedDict, total=False):
    """.cryocc/run.json: the relion_schemer cryocc started (run/runner.start writes it; scheme, pid and
    host are what observe/project.read_run_record requires)."""

    scheme: str
    pid: int
    host: str
    watchdog: int  # the pid of the watchdog beside it (run/watchdog.py)
    command: list[str]
    started: str
    log: str


# A RELION project: every path cryocc builds in one is built here.
STATE_DIR = ".cryocc"  # cryocc's own files in a project; everything else belongs to RELION or the user
SCHEMES_DIR = "Schemes"
EXTERNAL_DIR = "External"  # RELION's folder of external jobs: External/jobNNN/
PIPELINE = "default_pipeline.star"
RUN_RECORD = f"{STATE_DIR}/run.json"  # the relion_schemer cryocc started: host, pid, scheme, log
PARAMS_DIR = f"{STATE_DIR}/jobs"  # <job>/<hash>.json: each job's params documents, named by their content
SCRIPTS_DIR = f"{STATE_DIR}/scripts"  # <job>.<hash>.sh: each job's SLURM script, named by its content
SPECS_DIR = f"{STATE_DIR}/specs"  # the pipeline and site profile each scheme was compiled from, named by content
SITE_COPY = f"{STATE_DIR}/site.yaml"  # the one site profile copy of a lockfile whose schemes name none (older cryocc)
FRAMES_DIR = f"{STATE_DIR}/frames"  # <hash>.tsv: the frame map a lockfile names
DAMAGED_DIR = f"{STATE_DIR}/damaged"  # a lockfile that could not be read, kept by its content before apply replaces it
RESULTS_INDEX = f"{STATE_DIR}/results.json"  # where each result is, by fingerprint (compiler/results.py)
APPLY_MUTEX = f"{STATE_DIR}/apply.lock"  # held by apply and gc --yes (compiler/mutex.py)

# RELION external-job input options and the flag RELION passes each one to fn_exe as.
INPUT_FLAGS = {
    "in_mov": "--in_movies",
    "in_mic": "--in_mics",
    "in_part": "--in_parts",
    "in_coords": "--in_coords",
    "in_3dref": "--in_3dref",
    "in_mask": "--in_mask",
}


def scheme_dir(scheme: str) -> str:
    return f"{SCHEMES_DIR}/{scheme}"


def scheme_job(scheme: str, job: str, name: str = "job.star") -> str:
    """A file of one job of a scheme: its job.star, or an output RELION resolves when it runs the scheme."""
    return f"{scheme_dir(scheme)}/{job}/{name}"


def external_job_dir(name: str) -> str:
    """A job directory of the project as RELION names it (name: jobNNN)."""
    return f"{EXTERNAL_DIR}/{name}/"


def params_path(job: str, digest: str) -> str:
    """A job's params document, named by the first 16 hex digits of its content's sha256."""
    return f"{PARAMS_DIR}/{job}/{digest}.json"


_PARAMS_PATH = re.compile(re.escape(PARAMS_DIR) + r"/(?!\.\.?/)([^/]+)/([0-9a-f]{16})\.json")


def params_named(path: str) -> tuple[str, str] | None:
    """(job, digest) of a params document's path as params_path makes it, or None for any other path."""
    found = _PARAMS_PATH.fullmatch(path)
    return (found[1], found[2]) if found else None


def params_job(path: str) -> str | None:
    named = params_named(path)
    return named[0] if named else None


def script_path(job: str, digest: str) -> str:
    return f"{SCRIPTS_DIR}/{job}.{digest}.sh"


def schemer_lock_dir(scheme: str) -> str:
    """The directory relion_schemer holds while it runs a scheme (and leaves behind when it dies)."""
    return f".relion_lock_scheme_{scheme}"


def ended(job_dir: Path) -> bool:
    """Whether a job directory holds one of RELION's end sentinels."""
    return any((job_dir / s).exists() for s in END_SENTINELS)
