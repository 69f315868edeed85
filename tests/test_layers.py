"""Layered values, one test per precedence rule: job-type defaults < site < pipeline defaults < job."""

from __future__ import annotations

from pathlib import Path

from conftest import edit

from cryocc.schema.pipeline import load_pipeline


def _site(pipeline: Path, body: str) -> None:
    (pipeline.parent / "site.yaml").write_text("name: testsite\n" + body)
    edit(pipeline, "site: local", "site: site.yaml")


def _ctf(pipeline: Path):
    return load_pipeline(pipeline).jobs["ctf"]


def test_job_type_default_applies_when_nobody_sets_it(example):
    assert _ctf(example()).params.window == 512


def test_site_overrides_job_type_default(example):
    p = example()
    _site(p, "params:\n  tsCtf: {window: 640}\n")
    assert _ctf(p).params.window == 640


def test_pipeline_defaults_override_site(example):
    p = example()
    _site(p, "params:\n  tsCtf: {window: 640}\n")
    edit(p, "defaults:\n", "defaults:\n  params:\n    ts_ctf: {window: 768}\n")
    assert _ctf(p).params.window == 768


def test_job_value_overrides_pipeline_defaults(example):
    p = example()
    _site(p, "params:\n  tsCtf: {window: 640}\n")
    edit(p, "defaults:\n", "defaults:\n  params:\n    ts_ctf: {window: 768}\n")
    edit(p, "{type: ts_ctf}", "{type: ts_ctf, params: {window: 1024}}")
    assert _ctf(p).params.window == 1024


def test_layers_merge_key_by_key(example):
    p = example()
    _site(p, "params:\n  tsCtf: {window: 640, do_phase: true}\n")
    edit(p, "{type: ts_ctf}", "{type: ts_ctf, params: {window: 1024}}")
    params = _ctf(p).params
    assert (params.window, params.do_phase, params.defocus_hand) == (1024, True, "set_flip")


def test_resources_precedence(example):
    p = example()
    _site(p, "resources:\n  default: {cpus: 2, mem: 8G, time: '01:00:00', partition: cpu}\n"
             "  tsCtf: {cpus: 3, mem: 9G, gpus: 1}\n")
    edit(p, "  resources: {time: \"00:20:00\"}", "  resources: {time: \"00:20:00\", cpus: 4}")
    edit(p, "{type: ts_ctf}", "{type: ts_ctf, resources: {partition: gpu}}")
    jobs = load_pipeline(p).jobs
    ctf, motion = jobs["ctf"].resources, jobs["motion"].resources
    assert ctf.partition == "gpu"  # the job's own value
    assert ctf.cpus == 4  # pipeline defaults over the site's per-type profile
    assert ctf.mem == "9G" and ctf.gpus == 1  # site per-type profile over site default
    assert ctf.time == "00:20:00"  # pipeline defaults over the site default
    assert (motion.partition, motion.mem) == ("cpu", "8G")  # site default over built-in
    assert motion.gpus == 1 and jobs["import"].resources.gpus == 0  # a type that needs a GPU asks for one by default...
    (p.parent / "site.yaml").write_text("name: testsite\nresources:\n  default: {gpus: 0}\n")
    assert load_pipeline(p).jobs["motion"].resources.gpus == 0  # ...unless the site profile says otherwise
