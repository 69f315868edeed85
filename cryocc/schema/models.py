"""pipeline.yaml and site profiles as pydantic models. Field names are the keys users write."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StrictFloat, StrictInt, StringConstraints, WithJsonSchema

SAFE_NAME = r"^[A-Za-z][A-Za-z0-9_-]{0,63}$"
SafeName = Annotated[str, StringConstraints(pattern=SAFE_NAME)]


def _walltime(value: str | int) -> str:
    """A wall time as sbatch --time reads it: M, M:S, H:M:S, D-H, D-H:M, D-H:M:S (each unit below
    its next: 01:99:00 is refused, not read as 2:39), more than zero (0 would mean no limit) and at
    most MAX_WALLTIME."""
    text = str(value)
    m = re.fullmatch(r"(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?", text)
    if not m:
        raise ValueError("expected a SLURM wall time: minutes, MM:SS, HH:MM:SS or D-HH[:MM[:SS]]")
    if len(text) > 24:  # before int(): a number of thousands of digits is no time
        raise ValueError(f"longer than SLURM takes: wall times run from 1 minute to {MAX_WALLTIME}")
    days, first, second, third = (int(g) if g is not None else None for g in m.groups())
    assert first is not None  # the pattern requires it
    if days is not None:  # D-H, D-H:M, D-H:M:S
        units = [(first, 24, "hours"), (second, 60, "minutes"), (third, 60, "seconds")]
        d, h, mi, sec = days, first, second or 0, third or 0
    elif third is not None:  # H:M:S
        units = [(second, 60, "minutes"), (third, 60, "seconds")]
        d, h, mi, sec = 0, first, second or 0, third
    elif second is not None:  # M:S
        units = [(second, 60, "seconds")]
        d, h, mi, sec = 0, 0, first, second
    else:  # M
        units = []
        d, h, mi, sec = 0, 0, first, 0
    for amount, limit, name in units:
        if amount is not None and amount >= limit:
            raise ValueError(f"{name} must be below {limit} in a SLURM wall time")
    if not any(int(g) for g in m.groups() if g is not None):
        raise ValueError("a wall time of zero means no limit to SLURM: give one")
    if (d * 24 + h) * 60 + mi + (sec > 0) > MAX_MINUTES:
        raise ValueError(f"longer than SLURM takes: wall times run from 1 minute to {MAX_WALLTIME}")
    return text


# _walltime as a JSON Schema pattern: not all zeros; M | M:S | H:M:S | D-H[:M[:S]], each unit below its next
_SIXTY = "0*[0-5]?[0-9]"
WALLTIME_PATTERN = (rf"^(?![0:-]*$)([0-9]+|[0-9]+:{_SIXTY}|[0-9]+:{_SIXTY}:{_SIXTY}"
                    rf"|[0-9]+-0*([01]?[0-9]|2[0-3])(:{_SIXTY}){{0,2}})$")

# sbatch counts a wall time in seconds as a 32-bit int (rounded up to minutes): beyond 2^31-1
# seconds it wraps to another time or to no limit (tried: --time=24855-03:15:00 became 2957761 days).
MAX_MINUTES = (2**31 - 1) // 60
MAX_WALLTIME = f"{MAX_MINUTES // 1440}-{MAX_MINUTES % 1440 // 60:02d}:{MAX_MINUTES % 60:02d}:00"
# sbatch counts memory in MB in 64 bits, flags in the top ones, and multiplies units out unchecked:
# 1 EiB keeps far inside that (and beyond any node)
MAX_MEMORY_MB = 2**40
_UNIT_MB = {"K": 1 / 1024, "M": 1, "G": 1024, "T": 1024**2}


def _memory(value: str | int) -> str:
    text = str(value)
    if not re.fullmatch(r"[1-9]\d*[KMGT]?", text):
        raise ValueError("expected SLURM memory: a positive number with an optional unit K, M, G or T (e.g. 32G)")
    unit = text[-1] if text[-1] in _UNIT_MB else "M"
    if len(text) > 24 or int(text.rstrip("KMGT")) * _UNIT_MB[unit] > MAX_MEMORY_MB:
        raise ValueError(f"too much memory: SLURM memory runs from 1 (MB) to {MAX_MEMORY_MB // 1024**2}T")
    return text


# Numbers are numbers: YAML's true is not 1 (a bool would pass pydantic's lax int and float).
Int = StrictInt
Float = StrictFloat


def _not_bool(what: str) -> BeforeValidator:
    """One clear error for a boolean where what is expected (a union would report each branch)."""
    def check(value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError(f"expected {what}")  # located.py adds what was found
        return value

    return BeforeValidator(check)


Memory = Annotated[str | Int, _not_bool("SLURM memory (e.g. 32G)"), AfterValidator(_memory),
                   WithJsonSchema({"anyOf": [{"type": "string", "pattern": r"^[1-9][0-9]*[KMGT]?$"},
                                             {"type": "integer", "minimum": 1, "maximum": MAX_MEMORY_MB}]})]
Walltime = Annotated[str | Int, _not_bool("a SLURM wall time (e.g. 02:00:00)"), AfterValidator(_walltime),
                     WithJsonSchema({"anyOf": [{"type": "string", "pattern": WALLTIME_PATTERN},
                                               {"type": "integer", "minimum": 1, "maximum": MAX_MINUTES}]})]


# --- values that end up in the job script or a command line --------------------------------
# Whatever reaches a shell is either checked against what the field can legitimately hold, or
# quoted where it is rendered (env values), and never holds a control character: a newline in a
# value would start a line of its own in the job script.

def _one_line(value: str) -> str:
    bad = next((c for c in value if ord(c) < 32 or ord(c) == 127), None)
    if bad is not None:
        raise ValueError(f"holds the control character {bad!r}: values must be one line of text")
    return value


def _matching(pattern: str, what: str) -> tuple[AfterValidator, WithJsonSchema]:
    """Annotations for a string that must match pattern (what: the message when it does not)."""
    rx = re.compile(pattern)

    def check(value: str) -> str:
        if not rx.fullmatch(_one_line(value)):
            raise ValueError(what)
        return value

    return AfterValidator(check), WithJsonSchema({"type": "string", "pattern": f"^{pattern}$"})


_WORD = r"[A-Za-z0-9_./:@%+=,-]+"
_WORDS = _WORD + r"( " + _WORD + r")*"  # a command of plain words, single spaces between
OneLine = Annotated[str, AfterValidator(_one_line), WithJsonSchema({"type": "string", "pattern": "^[^\\x00-\\x1f\\x7f]*$"})]
Partition = Annotated[str, *_matching(r"[A-Za-z0-9_.-]+(,[A-Za-z0-9_.-]+)*", "expected SLURM partition names: letters, digits, . _ -, comma-separated")]
Constraint = Annotated[str, *_matching(r"[A-Za-z0-9_.,:|&*()\[\]!-]+", "expected a SLURM constraint: features joined by & | , ( ) [ ] *")]
SbatchArg = Annotated[str, *_matching(r"--[A-Za-z][A-Za-z0-9-]*(=" + _WORD + r")?",
                                     "expected one sbatch option, --name or --name=value, without spaces, quotes or shell characters")]
EnvName = Annotated[str, *_matching(r"[A-Za-z_][A-Za-z0-9_]*", "expected an environment variable name: letters, digits and _, not starting with a digit")]
Command = Annotated[str, *_matching(_WORDS,
                                   "expected words of letters, digits and . / _ : @ % + = , - separated by single spaces (no quotes or shell characters)")]
Executable = Annotated[str, *_matching(_WORD, "expected an executable: letters, digits and . / _ : @ % + = , -")]
SetupLine = Annotated[str, *_matching(_WORDS,
                                     "expected a command of plain words (module load relion/5.0, source /opt/env.sh): no quotes, "
                                     "$, ;, |, & or redirections; set variables under job_script.env")]
Env = dict[EnvName, OneLine]
# apptainer -B reads src[:dest[:ro|rw]] and a comma starts the next bind: a path holding , or : would be split
_BIND_PATH = r"[^,:\x00-\x1f\x7f]+"
BindPath = Annotated[str, *_matching(_BIND_PATH, "a path bound into containers may not hold , or : (apptainer -B splits at them)")]
Bind = Annotated[str, *_matching(f"{_BIND_PATH}(:{_BIND_PATH}(:(ro|rw))?)?",
                                 "expected a bind: a path, or src:dest[:ro|rw], without commas (apptainer -B splits at , and :)")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Resources(Strict):
    """SLURM resources of one job. Unset values fall through to the next layer."""

    partition: Partition | None = Field(None, description="SLURM partition (unset: the cluster's default)")
    cpus: Int | None = Field(None, ge=1, le=512, description="CPUs per task; also RELION's nr_threads (--j)")
    mem: Memory | None = Field(None, description=f"memory per node, SLURM syntax, e.g. 32G (from 1 MB to {MAX_MEMORY_MB // 1024**2}T)")
    time: Walltime | None = Field(None, description=f"wall-time limit, [D-]HH:MM:SS or minutes (from 1 minute to {MAX_WALLTIME})")
    gpus: Int | None = Field(None, ge=0, le=16, description="GPUs per node (--gres=gpu:N)")
    constraint: Constraint | None = Field(None, description="SLURM --constraint, e.g. 'a100|h100'")
    sbatch: tuple[SbatchArg, ...] | None = Field(None, description="extra #SBATCH arguments, e.g. ['--qos=high']")


class AcquisitionOverrides(Strict):
    """Values that win over what the mdocs say; anything the mdocs lack must be given here."""

    pixel_size: Float | None = Field(None, gt=0, le=20, description="frame pixel size [Å/px]")
    voltage: Float | None = Field(None, ge=60, le=400, description="acceleration voltage [kV]")
    cs: Float | None = Field(None, ge=0, le=10, description="spherical aberration [mm] (default 2.7)")
    amplitude_contrast: Float | None = Field(None, ge=0, le=1, description="amplitude contrast (default 0.1)")
    dose_per_tilt: Float | None = Field(None, gt=0, le=50, description="dose per tilt image [e/Å²]")
    tilt_axis: Float | None = Field(None, ge=-360, le=360, description="tilt axis angle [°]")
    eer_grouping: Int | None = Field(None, ge=1, le=1000, description="EER frames per rendered fraction (default 32 for EER data)")
    invert_defocus_hand: bool | None = Field(None, description="flip the defocus handedness at import (microscope dependent; default no)")
    invert_tilt_angles: bool | None = Field(None, description="invert tilt angles at import, as WarpTools does without --dont_invert (default: no)")


Globs = OneLine | Annotated[list[OneLine], Field(min_length=1)]


class ExcludedTilts(Strict):
    """Tilts of one tilt series to leave out, and why."""

    zvalues: list[Annotated[Int, Field(ge=0)]] = Field(
        default_factory=list, description="tilts by the n of their mdoc section [ZValue = n] (SerialEM numbers them from 0 "
                                          "in acquisition order)")
    angles: list[Annotated[Float, Field(ge=-90, le=90)]] = Field(
        default_factory=list, description="tilts by their mdoc TiltAngle [°], matched within 0.5°")
    why: OneLine = Field(description="why they are left out (kept in the lockfile)")


class Data(Strict):
    frames: Globs = Field(description="glob of movie frames, relative to pipeline.yaml (e.g. raw/frames/*.eer), "
                                      "or a list of globs, one per session")
    mdocs: Globs = Field(description="glob of SerialEM/Tomo5 mdoc files, one per tilt series, or a list of globs")
    exclude: dict[OneLine, OneLine] = Field(default_factory=dict, description="tilt series to leave out: name -> why (kept in the lockfile)")
    exclude_tilts: dict[OneLine, ExcludedTilts] = Field(
        default_factory=dict, description="tilts to leave out of a tilt series from its alignment on: name -> {zvalues or angles, why} "
                                          "(kept in the lockfile)")
    incomplete: Literal["skip", "error"] = Field(
        "skip", description="a tilt series whose frames are not all there yet (still being collected or copied; an empty, 0-byte frame is not there yet): "
                            "skip = leave it out and list it as waiting, error = refuse")
    gain: OneLine | None = Field(None, description="gain reference file")
    gain_operations: str | None = Field(
        None, pattern=r"^(flip_x|flip_y|transpose)(,(flip_x|flip_y|transpose))*$",
        description="WarpTools gain operations, comma-separated: flip_x, flip_y, transpose",
    )
    acquisition: AcquisitionOverrides = Field(default_factory=AcquisitionOverrides)
    frame_check: Literal["stat", "lenient"] = Field(
        "stat", description="how frames are fingerprinted: stat = path+size+mtime, lenient = path+size (for file systems whose times drift)"
    )

    @property
    def frame_globs(self) -> list[str]:
        return [self.frames] if isinstance(self.frames, str) else list(self.frames)

    @property
    def mdoc_globs(self) -> list[str]:
        return [self.mdocs] if isinstance(self.mdocs, str) else list(self.mdocs)


ItemFailure = Literal["stop", "continue"]
Execution = Literal["array", "node"]
EXECUTION_HELP = ("array: a supervisor job submits one SLURM array task per tilt series (or per tilt_series_per_task), "
                  "its resources per task; node: one job runs them all, --j at a time")
PER_TASK_HELP = "tilt series per array task (more than 1 batches short ones)"
MAX_PARALLEL_HELP = "array tasks of one job running at once (sbatch --array=...%N)"
ITEM_FAILURE_HELP = ("when the tool fails on some tilt series: stop = the job fails and names them; "
                     "continue = the job succeeds without them and names them")


class JobSpec(Strict):
    type: str = Field(description="job type from the catalog (cryocc jobs lists them)")
    on_item_failure: ItemFailure | None = Field(None, description=ITEM_FAILURE_HELP + " (unset: defaults.on_item_failure)")
    execution: Execution | None = Field(None, description=EXECUTION_HELP + " (unset: defaults.execution)")
    tilt_series_per_task: Int | None = Field(None, ge=1, le=10000, description=PER_TASK_HELP + " (unset: defaults)")
    max_parallel: Int | None = Field(None, ge=1, le=10000, description=MAX_PARALLEL_HELP + " (unset: defaults)")
    params: dict[str, Any] = Field(default_factory=dict, description="parameters of the job type")
    inputs: dict[str, str] = Field(default_factory=dict, description="input slot -> upstream job name (default: wired by kind)")
    resources: Resources = Field(default_factory=Resources)


class Defaults(Strict):
    resources: Resources = Field(default_factory=Resources, description="resources for every job of this pipeline")
    on_item_failure: ItemFailure = Field("stop", description=ITEM_FAILURE_HELP)
    execution: Execution | None = Field(None, description=EXECUTION_HELP + " (unset: the site profile's)")
    tilt_series_per_task: Int | None = Field(None, ge=1, le=10000, description=PER_TASK_HELP + " (unset: the site profile's)")
    max_parallel: Int | None = Field(None, ge=1, le=10000, description=MAX_PARALLEL_HELP + " (unset: the site profile's)")
    params: dict[str, dict[str, Any]] = Field(default_factory=dict, description="job type -> params for every job of that type")


class PipelineSpec(Strict):
    cryocc: Annotated[Literal[1], _not_bool("1")] = Field(description="spec format version")
    name: SafeName = Field(description="pipeline name (letters, digits, _ and -)")
    site: str = Field("local", description="site profile: a name under config/sites/ or a path to a YAML file")
    data: Data
    defaults: Defaults = Field(default_factory=Defaults)
    jobs: dict[str, JobSpec] = Field(min_length=1, description="ordered: name -> job")


# --- site profiles -------------------------------------------------------------------------

class Tool(Strict):
    image: OneLine | None = Field(None, description="apptainer/singularity image; unset: run natively")
    bin_dir: OneLine | None = Field(None, description="directory of the tool's executables (inside the image if one is set); unset: PATH")
    env: Env = Field(default_factory=dict, description="environment for the tool")


class Container(Strict):
    executable: Literal["apptainer", "singularity"] = "apptainer"
    binds: tuple[Bind, ...] = Field((), description="extra bind paths (or src:dest[:ro|rw]); the project, data and scratch are bound automatically")
    nv: bool = Field(True, description="pass --nv (GPU) to exec")
    options: tuple[OneLine, ...] = Field(("--cleanenv", "--no-home"), description="further exec options")


class Relion(Strict):
    command: Executable = Field("relion_schemer", description="relion_schemer executable")
    image: OneLine | None = Field(None, description="RELION container; unset: native")
    env: Env = Field(default_factory=dict)


class JobScript(Strict):
    setup: tuple[SetupLine, ...] = Field((), description="commands run before the driver, plain words only (module load relion/5.0, source /opt/env.sh)")
    env: Env = Field(default_factory=dict, description="exported (quoted) before the driver")


class Arrays(Strict):
    """How jobs run as SLURM arrays at this site."""

    max_parallel: Int = Field(20, ge=1, le=10000, description=MAX_PARALLEL_HELP)
    tilt_series_per_task: Int = Field(1, ge=1, le=10000, description=PER_TASK_HELP)
    poll_seconds: Int = Field(30, ge=1, le=600, description="how often a supervisor asks SLURM about its array (one squeue call)")
    supervisor: Resources = Field(default_factory=Resources,
                                  description="the supervisor job's own resources (unset: 1 CPU, 2G, 3 days, no GPU; the job's sbatch "
                                              "arguments, e.g. its account): it waits for its array, so its time must cover the array's")


class SiteProfile(Strict):
    name: SafeName
    description: str = ""
    submit: Command = Field("sbatch", description="submit command RELION uses (qsub option)")
    driver: Command = Field("cryocc_relion_driver", description="driver executable as the compute node sees it")
    scratch: BindPath | None = Field(None, description="node-local scratch directory, bound into containers (no , or :)")
    container: Container = Field(default_factory=Container)
    relion: Relion = Field(default_factory=Relion)
    tools: dict[str, Tool] = Field(default_factory=dict,
                                   description="tool key (warptools, relion, pytom, cryocare) -> how to run it; unset: natively from PATH")
    resources: dict[str, Resources] = Field(default_factory=dict, description="'default' and job type -> resources")
    params: dict[str, dict[str, Any]] = Field(default_factory=dict, description="job type -> params defaults at this site")
    job_script: JobScript = Field(default_factory=JobScript)
    execution: Execution | None = Field(None, description=EXECUTION_HELP + " (unset: array where submit is sbatch, node elsewhere)")
    arrays: Arrays = Field(default_factory=Arrays)
