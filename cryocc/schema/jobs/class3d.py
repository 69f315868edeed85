from ._base import InputSlot, JobType, Output, Params, param, register
from ._types import Bool, Float, Int, Symmetry


class Class3dParams(Params):
    n_classes: Int = param(1, "number of classes", ge=1)
    n_iterations: Int = param(15, "iterations", ge=1)
    tau_fudge: Float = param(1.0, "regularisation parameter T", gt=0)
    healpix_order: Int = param(3, "angular sampling (HEALPix order)", ge=1, le=6)
    offset_range: Float = param(5.0, "offset search range", unit="px", ge=0)
    offset_step: Float = param(2.0, "offset search step", unit="px", gt=0)
    symmetry: Symmetry = param("C1", "point-group symmetry")
    ini_high: Float = param(45.0, "initial low-pass filter", unit="Å", gt=0)
    particle_diameter: Float = param(-1.0, "mask diameter (-1: automatic)", unit="Å", ge=-1)
    flatten_solvent: Bool = param(True, "flatten the solvent")
    zero_mask: Bool = param(True, "zero the solvent area of particles")
    firstiter_cc: Bool = param(True, "cross-correlation in the first iteration")
    pool: Int = param(30, "particles read at once per thread", ge=1, affects_results=False)


JOB = register(JobType(
    name="class3d",
    summary="3D classification of subtomograms",
    tool="relion",
    tool_label="RELION 5 relion_refine",
    params=Class3dParams,
    pools=lambda p: "one classification of the particles of all tilt series",
    inputs={
        "particles": InputSlot(("subtomo_set",), "in_part", "extracted particles"),
        "reference": InputSlot(("reference_map",), "in_3dref", "starting reference"),
    },
    outputs=(Output("class3d_set", "run_optimisation_set.star", "optimisation set after the last iteration"),),
    gpu=True,
))
