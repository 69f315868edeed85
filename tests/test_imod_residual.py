"""IMOD's alignment residual, read from the align.log tiltalign writes where WarpTools runs it
(cryocc/drivers/_quality.imod_residual). The lines are tiltalign's format 118 (`imod:` the IMOD
source, flib/tiltalign/tiltalign.f90): the newest source prints the residual times the pixel size
with its unit (nm when align.com gives UnbinnedPixelSize, else `pixels`); older ones print pixels with
no unit, as in the log IMOD keeps for its own tests, quoted below."""

from __future__ import annotations

from pathlib import Path

import pytest

from cryocc.drivers._quality import imod_residual

# LabShare-Archive/IMOD Etomo/unitTestData/aligna.log:1092-1098 (commit 8c592ce4), IMOD's own test
# data: a tiltalign run of the pixel-only era, between the residual file it opened and the list of
# points with large residuals
OLD_IMOD = """\

 FORMATTED  new  file opened: /home/bouchetm/Desktop/maria-tomograms/8/goulbourne8a.resid

 Residual error mean and sd:   0.243   0.259

         Projection points with large residuals
 obj  cont  view   index coordinates      residuals        # of
"""

# format 118 and 1181 of the newest tiltalign.f90 with UnbinnedPixelSize in align.com:
# (/,' Residual error mean and sd:  ',2f8.3,1x,a,4x,a,2i4,a) and (' Residual error weighted mean:',f8.3,9x,a,...)
NEW_IMOD_NM = "\n Residual error mean and sd:     0.412   0.233 nm\n Residual error weighted mean:   0.398         nm\n"


def _log(tmp_path: Path, text: str, com: str | None = None) -> Path:
    (tmp_path / "align.log").write_text(text)
    if com is not None:
        (tmp_path / "align.com").write_text(com)
    return tmp_path / "align.log"


def test_a_residual_in_nm_is_converted_to_angstrom_whatever_the_stack(tmp_path):
    """nm already holds UnbinnedPixelSize x ImagesAreBinned: only the unit changes (1 nm = 10 Å)."""
    assert imod_residual(_log(tmp_path, NEW_IMOD_NM), stack_angpix=10.0) == (4.12, 2.33)
    assert imod_residual(_log(tmp_path, NEW_IMOD_NM), stack_angpix=7.5) == (4.12, 2.33)


def test_a_residual_in_pixels_takes_the_stacks_pixel_size(tmp_path):
    """IMOD's own test log: 0.243 and 0.259 pixels of a stack at 10 Å, aligned unbinned."""
    assert imod_residual(_log(tmp_path, OLD_IMOD), stack_angpix=10.0) == (2.43, 2.59)
    pixels = " Residual error mean and sd:     0.243   0.259 pixels\n"
    assert imod_residual(_log(tmp_path, pixels), stack_angpix=10.0) == (2.43, 2.59)


def test_a_binned_alignment_in_pixels_counts_the_binning_align_com_gives(tmp_path):
    """tiltalign's own scale for nm is UnbinnedPixelSize x ImagesAreBinned; pixels are of the binned images."""
    com = "$tiltalign -StandardInput\nModelFile\tTS_01.fid\nImagesAreBinned\t2\nRobustFitting\t1\n"
    assert imod_residual(_log(tmp_path, OLD_IMOD, com), stack_angpix=10.0) == (4.86, 5.18)


def test_with_local_alignments_the_global_residual_is_the_one_recorded(tmp_path):
    text = (" Residual error mean and sd:     0.500   0.300 nm    (Global)\n"
            " Residual error weighted mean:   0.480         nm    (Global)\n"
            " Residual error mean and sd:     0.350   0.200 nm    (Local area   1   1)\n")
    assert imod_residual(_log(tmp_path, text), stack_angpix=10.0) == (5.0, 3.0)
    local_only = " Residual error mean and sd:     0.350   0.200 nm    (Local area   1   1)\n"
    assert imod_residual(_log(tmp_path, local_only), stack_angpix=10.0) is None


def test_a_log_without_a_residual_gives_none_and_a_damaged_one_an_error(tmp_path):
    """The driver says either in run.out and records no number (test_quality: the job still succeeds)."""
    assert imod_residual(_log(tmp_path, "ERROR: TILTALIGN - Too few points\n"), stack_angpix=10.0) is None
    with pytest.raises(ValueError):  # Fortran writes asterisks for a number too wide for f8.3
        imod_residual(_log(tmp_path, " Residual error mean and sd:  ********   0.259 nm\n"), stack_angpix=10.0)
    with pytest.raises(FileNotFoundError):
        imod_residual(tmp_path / "missing" / "align.log", stack_angpix=10.0)
