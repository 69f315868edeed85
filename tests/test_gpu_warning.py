"""validate warns (exit 0, nothing refused) when a job type that runs on a GPU gets 0 GPUs, naming the job,
its type, the layer the 0 came from, where it is written, and how to fix it."""

from __future__ import annotations

import re

from conftest import ROOT, edit

GPU_JOBS = {"motion": "fs_motion_ctf", "align": "ts_alignment", "ctf": "ts_ctf", "reconstruct": "ts_reconstruct"}


def _site(pipeline, resources: str):
    """pipeline.yaml on a copy of config/sites/local.yaml (as its header suggests) with these resources."""
    text = (ROOT / "config/sites/local.yaml").read_text()
    text = re.sub(r"(?m)^resources:\n(  .*\n)*", resources, text)
    (pipeline.parent / "mysite.yaml").write_text(text)
    edit(pipeline, "site: local", "site: mysite.yaml")
    return pipeline.parent / "mysite.yaml"


def _warnings(cli, pipeline) -> list[tuple[str, str]]:
    """(warning, hint) pairs validate printed; validate succeeds."""
    lines = cli("validate", str(pipeline)).stderr.splitlines()
    return [(w.removeprefix("warning: "), h.strip()) for w, h in zip(lines, lines[1:]) if w.startswith("warning: ")]


def _line(path, fragment: str) -> int:
    return next(n for n, text in enumerate(path.read_text().splitlines(), 1) if fragment in text)


def test_a_copied_local_profile_warns_for_every_gpu_job_at_its_default(example, cli):
    pipeline = example()
    site = _site(pipeline, 'resources:\n  default: {cpus: 1, mem: 1G, time: "00:30:00", gpus: 0}\n')
    found = _warnings(cli, pipeline)
    line = _line(site, "  default: {")
    assert [w.split(": ", 3)[-1] for w, _ in found] == [
        f"job {job} ({t}, which runs on a GPU) gets 0 GPUs from the site profile's default resources" for job, t in GPU_JOBS.items()]
    for (w, hint), (job, t) in zip(found, GPU_JOBS.items()):
        assert w.startswith(f"{site}:{line}:"), w
        assert ": resources.default.gpus: " in w
        assert hint == (f"hint: give {t} jobs GPUs in the site profile (resources: {{{t}: {{gpus: 1}}}}), or set "
                        f"jobs.{job}.resources.gpus: 1 in pipeline.yaml; 0 is right only where the tool runs without a GPU")
    assert _warnings(cli, pipeline) == found  # the second validate, served by the recipe cache, warns alike


def test_the_warning_names_the_layer_the_zero_came_from(example, cli):
    pipeline = example()
    _site(pipeline, "resources:\n  default: {gpus: 1}\n  tsCtf: {gpus: 0}\n")
    edit(pipeline, 'resources: {time: "00:20:00"}', 'resources: {time: "00:20:00", gpus: 0}')
    # the job's own value wins over the pipeline's defaults: no warning for motion
    edit(pipeline, "{type: fs_motion_ctf, params:", "{type: fs_motion_ctf, resources: {gpus: 2}, params:")
    edit(pipeline, "resources: {mem: 2G}", "resources: {mem: 2G, gpus: 0}")
    found = dict(_warnings(cli, pipeline))
    by_job = {re.search(r"job (\w+) ", w).group(1): (w, h) for w, h in found.items()}
    assert set(by_job) == {"align", "ctf", "reconstruct"}
    w, h = by_job["align"]
    assert f"pipeline.yaml:{_line(pipeline, 'defaults:') + 1}:" in w and ": defaults.resources.gpus: " in w
    assert "gets 0 GPUs from defaults.resources, which sets every job" in w
    assert "remove gpus from defaults.resources, or set jobs.align.resources.gpus: 1" in h
    # ctf: its own type's site resources are overridden by the pipeline's defaults, which set 0 last
    assert "from defaults.resources" in by_job["ctf"][0]
    w, h = by_job["reconstruct"]
    assert f"pipeline.yaml:{_line(pipeline, 'reconstruct:')}:" in w and ": jobs.reconstruct.resources.gpus: " in w
    assert "gets 0 GPUs from its own resources" in w and "set jobs.reconstruct.resources.gpus: 1" in h


def test_a_site_type_layer_is_named_as_written(example, cli):
    pipeline = example()
    site = _site(pipeline, "resources:\n  default: {gpus: 1}\n  tsCtf: {gpus: 0}\n")
    [(w, h)] = _warnings(cli, pipeline)
    assert w.startswith(f"{site}:{_line(site, 'tsCtf')}:") and ": resources.tsCtf.gpus: " in w
    assert "job ctf (ts_ctf, which runs on a GPU) gets 0 GPUs from the site profile's resources for ts_ctf" in w
    assert "set resources.tsCtf.gpus to 1 or more in the site profile, or set jobs.ctf.resources.gpus: 1" in h


def test_gpu_jobs_with_gpus_and_cpu_jobs_with_none_are_not_warned_about(example, cli):
    pipeline = example()
    _site(pipeline, "resources:\n  default: {gpus: 1}\n  import_movies: {gpus: 0}\n  ts_import: {gpus: 0}\n")
    result = cli("validate", str(pipeline))
    assert "warning" not in result.stderr
