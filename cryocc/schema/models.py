"""pipeline.yaml and site profiles as pydantic models. Field names are the keys users write."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

SAFE_NAME = r"^[A-Za-z][A-Za-z0-9_-]{0,63}$"
SafeName = Annotated[str, StringConstraints(pattern=SAFE_NAME)]
Memory = Annotated[str, StringConstraints(pattern=r"^\d+[KMGT]?$")]
Walltime = Annotated[str, StringConstraints(pattern=r"^(\d+-)?\d{1,3}:\d{2}(:\d{2})?$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Resources(Strict):
    """SLURM resources of one job. Unset values fall through to the next layer."""

    partition: str | None = Field(None, description="SLURM partition (unset: the cluster's default)")
    cpus: int | None = Field(None, ge=1, le=512, description="CPUs per task; also RELION's nr_threads (--j)")
    mem: Memory | None = Field(None, description="memory per node, SLURM syntax, e.g. 32G")
    time: Walltime | None = Field(None, description="wall-time limit, [D-]HH:MM:SS")
    gpus: int | None = Field(None, ge=0, le=16, description="GPUs per node (--gres=gpu:N)")
    constraint: str | None = Field(None, description="SLURM --constraint, e.g. 'a100|h100'")
    sbatch: tuple[str, ...] | None = Field(None, description="extra #SBATCH arguments, e.g. ['--qos=high']")


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
    invert_tilt_angles: bool | None = Field(None, description="invert tilt angles at tilt-series import (default: no for SerialEM, yes for Tomo5)")


class Data(Strict):
    frames: str = Field(description="glob of movie frames, relative to pipeline.yaml (e.g. raw/frames/*.eer)")
    mdocs: str = Field(description="glob of SerialEM/Tomo5 mdoc files, one per tilt series")
    gain: str | None = Field(None, description="gain reference file")
    gain_operations: str | None = Field(
        None, pattern=r"^(flip_x|flip_y|transpose)(,(flip_x|flip_y|transpose))*$",
        description="WarpTools gain operations, comma-separated: flip_x, flip_y, transpose",
    )
    acquisition: AcquisitionOverrides = Field(default_factory=AcquisitionOverrides)
    frame_check: Literal["stat", "lenient"] = Field(
        "stat", description="how frames are fingerprinted: stat = path+size+mtime, lenient = path+size (for file systems whose times drift)"
    )


class JobSpec(Strict):
    type: str = Field(description="job type from the catalog (cryocc jobs lists them)")
    params: dict[str, Any] = Field(default_factory=dict, description="parameters of the job type")
    inputs: dict[str, str] = Field(default_factory=dict, description="input slot -> upstream job name (default: wired by kind)")
    resources: Resources = Field(default_factory=Resources)


class Defaults(Strict):
    resources: Resources = Field(default_factory=Resources, description="resources for every job of this pipeline")
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
    image: str | None = Field(None, description="apptainer/singularity image; unset: run natively")
    bin_dir: str | None = Field(None, description="directory of the tool's executables (inside the image if one is set); unset: PATH")
    env: dict[str, str] = Field(default_factory=dict, description="environment for the tool")


class Container(Strict):
    executable: Literal["apptainer", "singularity"] = "apptainer"
    binds: tuple[str, ...] = Field((), description="extra bind paths; the project, data and scratch are bound automatically")
    nv: bool = Field(True, description="pass --nv (GPU) to exec")
    options: tuple[str, ...] = Field(("--cleanenv", "--no-home"), description="further exec options")


class Relion(Strict):
    command: str = Field("relion_schemer", description="relion_schemer executable")
    image: str | None = Field(None, description="RELION container; unset: native")
    env: dict[str, str] = Field(default_factory=dict)


class JobScript(Strict):
    setup: tuple[str, ...] = Field((), description="lines run before the driver (module load ...)")
    env: dict[str, str] = Field(default_factory=dict, description="exported before the driver")


class SiteProfile(Strict):
    name: SafeName
    description: str = ""
    submit: str = Field("sbatch", description="submit command RELION uses (qsub option)")
    driver: str = Field("cryocc_relion_driver", description="driver executable as the compute node sees it")
    scratch: str | None = Field(None, description="node-local scratch directory, bound into containers")
    container: Container = Field(default_factory=Container)
    relion: Relion = Field(default_factory=Relion)
    tools: dict[str, Tool] = Field(default_factory=dict, description="tool key (warptools, relion, pytom, cryocare) -> how to run it; unset: natively from PATH")
    resources: dict[str, Resources] = Field(default_factory=dict, description="'default' and job type -> resources")
    params: dict[str, dict[str, Any]] = Field(default_factory=dict, description="job type -> params defaults at this site")
    job_script: JobScript = Field(default_factory=JobScript)
