"""pytom_match_template.py and pytom_extract_candidates.py: the real pytom-match-pick 0.10.0 from PyPI
(the version the facility container pins), with only the GPU search replaced.

Its argument parsers, job files, candidate extraction and STAR writing run for real
(src/pytom_tm/entry_points.py:439-605 and 607-1105 at tag 0.10.0). `run_job_parallel`
(src/pytom_tm/parallel.py:58) is the one function that needs a GPU: here it makes a score map with
three peaks and a zero angle map, and sets the job's statistics as the real search does
(src/pytom_tm/matching.py:185, 341-343).
"""

from __future__ import annotations

import sys
from functools import reduce
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "gpu_stub"))


def _search(job, volume_splits, gpu_ids, *args, **kwargs):
    import numpy as np

    n_pieces = reduce(lambda x, y: x * y, volume_splits)
    if n_pieces % len(gpu_ids) != 0:  # parallel.py:87-95, before any GPU work
        raise ValueError(f"Can't evenly distribute {n_pieces} tomogram pieces over {len(gpu_ids)} GPUs, please alter "
                         "either the split or the number of GPUs")
    shape = tuple(job.search_size)
    scores = np.random.default_rng(0).normal(0, 0.01, shape).astype(np.float32)
    # three peaks, a third of the volume apart (further than a particle radius, which extraction boxes out)
    for k, fraction in enumerate((0.5, 0.15, 0.85)):
        scores[tuple(int(s * (fraction if i < 2 else 0.5)) for i, s in enumerate(shape))] = 0.5 - 0.05 * k
    job.job_stats = {"search_space": int(np.prod(shape)), "variance": 1e-4, "std": 0.01}
    return scores.astype(job.output_dtype), np.zeros(shape, dtype=np.float32)


def match(argv: list[str]) -> int:
    import pytom_tm.parallel

    pytom_tm.parallel.run_job_parallel = _search
    from pytom_tm.entry_points import match_template

    match_template(argv)
    return 0


def extract(argv: list[str]) -> int:
    from pytom_tm.entry_points import extract_candidates

    extract_candidates(argv)
    return 0
