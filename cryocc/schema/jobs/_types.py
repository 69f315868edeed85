"""Value types shared by the params models."""

from typing import Annotated

from pydantic import Field, StrictBool, StrictFloat, StrictInt, StringConstraints

# "min:max" ranges as the catalog writes them, e.g. "1.1:8" (µm) or "500:10" (Å).
Span = Annotated[str, StringConstraints(pattern=r"^\d+(\.\d+)?:\d+(\.\d+)?$")]
# WarpTools grids, e.g. "1x1x3".
Grid = Annotated[str, StringConstraints(pattern=r"^\d+x\d+x\d+$")]
# Box dimensions in pixels, e.g. "4096x4096x2048".
Dims = Annotated[str, StringConstraints(pattern=r"^\d+x\d+x\d+$")]
Symmetry = Annotated[str, StringConstraints(pattern=r"^(C[1-9]\d*|D[2-9]\d*|T|O|I[1-4]?)$")]
# YAML's types hold: true is not 1, nor 1 true (pydantic's lax int, float and bool convert them;
# the JSON Schema does not, and tests/test_schema_contract.py holds the two together).
Int = StrictInt
Float = StrictFloat
Bool = StrictBool
PerDevice = Annotated[StrictInt, Field(ge=1, le=8)]
