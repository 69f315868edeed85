from ._base import InputSlot, JobType, Output, Params, param, register
from ._types import Bool, Float, Int, Symmetry


class ReconstructParticleParams(Params):
    box_size: Int = param(384, "box size", unit="px", ge=16)
    crop_size: Int = param(224, "crop size, -1 for none", unit="px", ge=-1)
    symmetry: Symmetry = param("C1", "point-group symmetry")
    binning: Int = param(1, "binning", ge=1)
    snr: Float = param(0.0, "Wiener SNR (0: automatic)", ge=0)
    whiten: Bool = param(False, "whiten the power spectrum")
    no_ctf: Bool = param(False, "do not apply CTFs")


JOB = register(JobType(
    name="reconstruct_particle",
    aliases=("reconstructParticle",),
    summary="Subtomogram average from an optimisation set",
    tool="relion",
    tool_label="RELION 5 relion_tomo_reconstruct_particle",
    params=ReconstructParticleParams,
    pools=lambda p: "one average of the particles of all tilt series",
    inputs={"particles": InputSlot(("subtomo_set",), "in_mic", "extracted particles")},
    # half1.mrc and half2.mrc come only from particles with rlnRandomSubset
    # (src/jaz/tomography/programs/reconstruct_particle.cpp:106-107, 518-535): not promised
    outputs=(Output("reference_map", "merged.mrc", "the average"),),
    type_version=2,  # 2: --SNR (RELION ignored --snr)
))
