"""Stand-in for cupy (see ../README.md): enough for `import cupy` at module level."""
from numpy import ndarray  # noqa: F401  (type hints at import time)

from . import cuda  # noqa: F401


class ElementwiseKernel:
    """Declared at import by pytom_tm.matching (as is ReductionKernel); only ever called on a GPU."""

    def __init__(self, *args, **kwargs):
        self.args = args

    def __call__(self, *args, **kwargs):
        raise RuntimeError("no GPU here: the template search is replaced in tests/fake_tools/pytom.py")


ReductionKernel = ElementwiseKernel
