"""pipeline.yaml and site profiles as pydantic models. Field names are the keys users write."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, WithJsonSchema

SAFE_NAME = r"^[A-Za-z][A-Za-z0-9_-]{0,63}$"
SafeName = Annotated[str, StringConstraints(pattern=SAFE_NAME)]


def _walltime(value: str | int) -> str:
    """A wall time as sbatch --time reads it: M, M:S, H:M:S, D-H, D-H:M, D-H:M:S (each unit below
    its next: 01:99:00 is refused, not read as 2:39), and more than zero (0 would mean no limit)."""
    text = str(value)
    m = re.fullmatch(r"(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?", text)
    if not m:
        raise ValueError("expected a SLURM wall time: minutes, MM:SS, HH:MM:SS or D-HH[:MM[:SS]]")
    days, first, second, third = (int(g) if g is not None else None for g in m.groups())
    if days is not None:  # D-H, D-H:M, D-H:M:S
        units = [(first, 24, "hours"), (second, 60, "minutes"), (third, 60, "seconds")]
    elif third is not None:  # H:M:S
        units = [(second, 60, "minutes"), (third, 60, "seconds")]
    elif second is not None:  # M:S
        units = [(second, 60, "seconds")]
    else:  # M
        units = []
    for amount, limit, name in units:
        if amount is not None and amount >= limit:
            raise ValueError(f"{name} must be below {limit} in a SLURM wall time")
    if not any(int(g) for g in m.groups() if g is not None):
        raise ValueError("a wall time of zero means no limit to SLURM: give one")
    return text


def _memory(value: str | int) -> str:
    text = str(value)
    if not re.fullmatch(r"[1-9]\d*[KMGT]?", text):
        raise ValueError("expected SLURM memory: a positive number with an optional unit K, M, G or T (e.g. 32G)")
    return text


Memory = Annotated[str | int, AfterValidator(_memory),
                   WithJsonSchema({"anyOf": [{"type": "string", "pattern": r"^[1-9][0-9]*[KMGT]?$"}, {"type": "integer", "minimum": 1}]})]
Walltime = Annotated[str | int, AfterValidator(_walltime),
                     WithJsonSchema({"anyOf": [{"type": "string", "pattern": r"^([0-9]+-)?[0-9]+(:[0-9]+){0,2}$"},
                                               {"type": "integer", "minimum": 1}]})]


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


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Resources(Strict):
    """SLURM resources of one job. Unset values fall through to the next layer."""

    partition: Partition | None = Field(None, description="SLURM partition (unset: the cluster's default)")
    cpus: int | None = Field(None, ge=1, le=512, description="CPUs per task; also RELION's nr_threads (--j)")
    mem: Memory | None = Field(None, description="memory per node, SLURM syntax, e.g. 32G")
    time: Walltime | None = Field(None, description="wall-time limit, [D-]HH:MM:SS")
    gpus: int | None = Field(None, ge=0, le=16, description="GPUs per node (--gres=gpu:N)")
    constraint: Constraint | None = Field(None, description="SLURM --constraint, e.g. 'a100|h100'")
    sbatch: tuple[SbatchArg, ...] | None = Field(None, description="extra #SBATCH arguments, e.g. ['--qos=high']")


class AcquisitionOverrides(Strict):
    """Values that win over what the mdocs say; anything the mdocs lack must be given here."""

    pixel_size: float | None = Field(None, gt=0, le=20, description="frame pixel size [Å/px]")
    voltage: float | None = Field(None, ge=60, le=400, description="acceleration voltage [kV]")
    cs: float | None = Field(None, ge=0, le=10, description="spherical aberration [mm] (default 2.7)")
    amplitude_contrast: float | None = Field(None, ge=0, le=1, description="amplitude contrast (default 0.1)")
    dose_per_tilt: float | None = Field(None, gt=0, le=50, description="dose per tilt image [e/Å²]")
    tilt_axis: float | None = Field(None, ge=-360, le=360, description="tilt axis angle [°]")
    eer_grouping: int | None = Field(None, ge=1, le=1000, description="EER frames per rendered fraction (default 32 for EER data)")
    invert_defocus_hand: bool | None = Field(None, description="flip the defocus handedness at import (microscope dependent; default no)")
    invert_tilt_angles: bool | None = Field(None, description="invert tilt angles at import, as WarpTools does without --dont_invert (default: no)")


Globs = OneLine | Annotated[list[OneLine], Field(min_length=1)]


class Data(Strict):
    frames: Globs = Field(description="glob of movie frames, relative to pipeline.yaml (e.g. raw/frames/*.eer), "
                                      "or a list of globs, one per session")
    mdocs: Globs = Field(description="glob of SerialEM/Tomo5 mdoc files, one per tilt series, or a list of globs")
    exclude: dict[OneLine, OneLine] = Field(default_factory=dict, description="tilt series to leave out: name -> why (kept in the lockfile)")
    incomplete: Literal["skip", "error"] = Field(
        "skip", description="a tilt series whose frames are not all there yet (still being collected or copied): "
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
ITEM_FAILURE_HELP = ("when the tool fails on some tilt series: stop = the job fails and names them; "
                     "continue = the job succeeds without them and names them")


class JobSpec(Strict):
    type: str = Field(description="job type from the catalog (cryocc jobs lists them)")
    on_item_failure: ItemFailure | None = Field(None, description=ITEM_FAILURE_HELP + " (unset: defaults.on_item_failure)")
    params: dict[str, Any] = Field(default_factory=dict, description="parameters of the job type")
    inputs: dict[str, str] = Field(default_factory=dict, description="input slot -> upstream job name (default: wired by kind)")
    resources: Resources = Field(default_factory=Resources)


class Defaults(Strict):
    resources: Resources = Field(default_factory=Resources, description="resources for every job of this pipeline")
    on_item_failure: ItemFailure = Field("stop", description=ITEM_FAILURE_HELP)
    params: dict[str, dict[str, Any]] = Field(default_factory=dict, description="job type -> params for every job of that type")


class PipelineSpec(Strict):
    cryocc: Literal[1] = Field(description="spec format version")
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
    binds: tuple[OneLine, ...] = Field((), description="extra bind paths; the project, data and scratch are bound automatically")
    nv: bool = Field(True, description="pass --nv (GPU) to exec")
    options: tuple[OneLine, ...] = Field(("--cleanenv", "--no-home"), description="further exec options")


class Relion(Strict):
    command: Executable = Field("relion_schemer", description="relion_schemer executable")
    image: OneLine | None = Field(None, description="RELION container; unset: native")
    env: Env = Field(default_factory=dict)


class JobScript(Strict):
    setup: tuple[SetupLine, ...] = Field((), description="commands run before the driver, plain words only (module load relion/5.0, source /opt/env.sh)")
    env: Env = Field(default_factory=dict, description="exported (quoted) before the driver")


class SiteProfile(Strict):
    name: SafeName
    description: str = ""
    submit: Command = Field("sbatch", description="submit command RELION uses (qsub option)")
    driver: Command = Field("cryocc_relion_driver", description="driver executable as the compute node sees it")
    scratch: OneLine | None = Field(None, description="node-local scratch directory, bound into containers")
    container: Container = Field(default_factory=Container)
    relion: Relion = Field(default_factory=Relion)
    tools: dict[str, Tool] = Field(default_factory=dict,
                                   description="tool key (warptools, relion, pytom, cryocare) -> how to run it; unset: natively from PATH")
    resources: dict[str, Resources] = Field(default_factory=dict, description="'default' and job type -> resources")
    params: dict[str, dict[str, Any]] = Field(default_factory=dict, description="job type -> params defaults at this site")
    job_script: JobScript = Field(default_factory=JobScript)
