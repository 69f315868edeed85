"""The recipe cache: stage one (spec, site profile, mdocs) is skipped exactly when nothing it read changed."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time

import pytest

import cryocc.compiler.compile as compile_module
import cryocc.compiler.recipe_cache as recipe_cache
from cryocc.compiler.compile import compile_pipeline, fingerprint
from cryocc.compiler.fingerprint import FileFingerprints
from cryocc.errors import DataError
from cryocc.resources import data_dir


def _count_calls(monkeypatch, module, name: str) -> list[int]:
    """One entry per call of module.name, which still runs."""
    calls: list[int] = []
    real = getattr(module, name)

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, counted)
    return calls


@pytest.fixture
def stage_one(monkeypatch):
    """Counts the runs of stage one."""
    return _count_calls(monkeypatch, compile_module, "prepare")


def _mdoc(pipeline):
    return pipeline.parent / "data/mdoc/TS_01.mdoc"


def test_an_unchanged_pipeline_skips_stage_one_with_the_same_result(example, stage_one):
    pipeline = example()
    first = compile_pipeline(pipeline)
    second = compile_pipeline(pipeline)
    assert len(stage_one) == 1
    assert second.recipe == first.recipe
    assert second.fingerprints == first.fingerprints and second.parts == first.parts


def test_the_memoised_data_digest_is_the_digest(example):
    pipeline = example()
    compile_pipeline(pipeline)
    cached = compile_pipeline(pipeline)  # its data digest comes from the memo
    fresh = fingerprint(cached.recipe, cached.listing, FileFingerprints(cached.recipe.frame_check), memo={})
    assert fresh.fingerprints == cached.fingerprints


def test_a_touched_frame_misses_the_memo_and_changes_the_fingerprint(example, stage_one):
    pipeline = example()
    before = compile_pipeline(pipeline)
    frame = pipeline.parent / "data/frames/TS_01_010_-15.0.mrc"
    os.utime(frame, ns=(1, 1))
    after = compile_pipeline(pipeline)
    assert len(stage_one) == 1  # the recipe stands: same frames by name
    assert after.parts["motion"]["data"] != before.parts["motion"]["data"]
    assert after.parts["tsimport"]["data"] != before.parts["tsimport"]["data"]


@pytest.mark.parametrize("change", ["param", "comment"])
def test_an_edited_pipeline_runs_stage_one(example, stage_one, change):
    pipeline = example()
    before = compile_pipeline(pipeline)
    text = pipeline.read_text()
    pipeline.write_text(text.replace("rescale_angpixs: 10", "rescale_angpixs: 12") if change == "param" else text + "# note\n")
    after = compile_pipeline(pipeline)
    assert len(stage_one) == 2
    assert (after.jobs["reconstruct"].params["rescale_angpixs"] == 12) == (change == "param")
    assert (after.fingerprints == before.fingerprints) == (change == "comment")


def test_an_edited_site_profile_runs_stage_one(example, stage_one):
    pipeline = example()
    sites = pipeline.parent / "config/sites"
    sites.mkdir(parents=True)
    shutil.copy(data_dir("config") / "sites/local.yaml", sites / "mine.yaml")
    pipeline.write_text(pipeline.read_text().replace("site: local", "site: mine"))
    compile_pipeline(pipeline)
    (sites / "mine.yaml").write_text((sites / "mine.yaml").read_text().replace("name: local", "name: mine-too"))
    assert compile_pipeline(pipeline).recipe.site["name"] == "mine-too"
    assert len(stage_one) == 2


def test_a_site_profile_that_appears_ahead_on_the_search_path_is_used(example, stage_one):
    pipeline = example()
    assert compile_pipeline(pipeline).recipe.site["name"] == "local"
    shadow = pipeline.parent / "config/sites/local.yaml"
    shadow.parent.mkdir(parents=True)
    shadow.write_text((data_dir("config") / "sites/local.yaml").read_text().replace("name: local", "name: shadow"))
    assert compile_pipeline(pipeline).recipe.site["name"] == "shadow"
    assert len(stage_one) == 2


def test_a_changed_mdoc_runs_stage_one(example, stage_one):
    pipeline = example()
    compile_pipeline(pipeline)
    mdoc = _mdoc(pipeline)
    mdoc.write_text(mdoc.read_text().replace("PixelSpacing = 5.4", "PixelSpacing = 5.5"))  # same size
    assert compile_pipeline(pipeline).recipe.summary["acquisition"]["pixel_size"] == 5.5
    assert len(stage_one) == 2


def test_a_touched_mdoc_costs_a_hash_not_stage_one(example, stage_one):
    pipeline = example()
    before = compile_pipeline(pipeline)
    os.utime(_mdoc(pipeline), ns=(5, 5))
    after = compile_pipeline(pipeline)
    again = compile_pipeline(pipeline)
    assert len(stage_one) == 1
    assert after.fingerprints == before.fingerprints == again.fingerprints
    cache = json.loads(recipe_cache.RecipeCache(pipeline).file.read_text())
    assert cache["mdocs"]["data/mdoc/TS_01.mdoc"][1] == 5  # the new mtime remembered: hashed once


def test_a_new_frame_runs_stage_one_and_a_missing_one_is_an_error(example, stage_one):
    pipeline = example()
    compile_pipeline(pipeline)
    frames = pipeline.parent / "data/frames"
    (frames / "extra.mrc").write_bytes(b"x")  # not empty: an empty frame is not there yet
    compile_pipeline(pipeline)
    assert len(stage_one) == 2
    (frames / "TS_01_010_-15.0.mrc").unlink()
    with pytest.raises(DataError, match=r"no tilt series has all its frames yet: TS_01 \(40 of 41 frames\)"):
        compile_pipeline(pipeline)
    assert len(stage_one) == 3


def test_new_cryocc_code_runs_stage_one(example, stage_one, monkeypatch):
    pipeline = example()
    compile_pipeline(pipeline)
    monkeypatch.setattr(recipe_cache, "code_id", lambda: "another build")
    compile_pipeline(pipeline)
    assert len(stage_one) == 2


def test_a_corrupt_or_unwritable_cache_is_not_used(example, stage_one, monkeypatch, tmp_path):
    pipeline = example()
    expected = compile_pipeline(pipeline).fingerprints
    recipe_cache.RecipeCache(pipeline).file.write_text('{"format": 1, "code": "')
    assert compile_pipeline(pipeline).fingerprints == expected
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the cache directory would be")
    monkeypatch.setenv("CRYOCC_CACHE", str(blocked))
    assert compile_pipeline(pipeline).fingerprints == expected
    assert len(stage_one) == 3


def test_a_plan_served_by_the_cache_imports_no_yaml_parser_models_or_rich(example, tmp_path):
    """Start-up is most of a small plan: what it imports is behaviour, checked by importing for real."""
    pipeline = example()
    project = tmp_path / "project"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    command = [sys.executable, "-X", "importtime", "-m", "cryocc.cli", "plan", str(pipeline), "--project", str(project)]
    subprocess.run(command, env=env, check=True, capture_output=True)  # fills the cache
    out = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
    imported = {line.split("|")[-1].strip() for line in out.stderr.splitlines() if line.startswith("import time:")}
    assert "Plan: 6 to run" in out.stdout
    assert "cryocc.compiler.plan" in imported  # the probe sees our own modules
    assert "cryocc.compiler.apply" not in imported and "statistics" not in imported  # the write side is apply's
    heavy = {m for m in imported if m.split(".")[0] in ("pydantic", "pydantic_core", "ruamel", "rich", "jinja2", "pandas")}
    assert heavy == set()


def test_a_glob_that_no_longer_matches_is_located_when_the_cache_listed_it(example, stage_one):
    """The cache lists the data with the recipe's absolute globs; the error still points at the spec's."""
    pipeline = example()
    compile_pipeline(pipeline)
    for f in (pipeline.parent / "data/mdoc").glob("*.mdoc"):
        f.unlink()
    with pytest.raises(DataError) as info:
        compile_pipeline(pipeline)
    assert info.value.errors[0].message == "data.mdocs matches no file: data/mdoc/*.mdoc"
    assert info.value.errors[0].location.line == 10


# --- the user cache is bounded ---------------------------------------------------------------------

def _aged(path, days, size=10):
    path.write_bytes(b"x" * size)
    then = time.time() - days * 86400
    os.utime(path, (then, then))
    return path


def test_the_user_cache_forgets_what_no_plan_used_for_a_month_and_keeps_a_bound(tmp_path):
    from cryocc.fsio import prune_cache

    kind = tmp_path / "recipes"
    kind.mkdir()
    stale, recent, older, kept = (_aged(kind / f"{n}.json", d) for n, d in (("stale", 40), ("recent", 1), ("older", 5), ("kept", 60)))
    other = _aged(kind / "notes.txt", 90)  # not a cache file of ours
    prune_cache(kind, keep=kept)
    assert sorted(p.name for p in kind.iterdir()) == ["kept.json", "notes.txt", "older.json", "recent.json"]
    prune_cache(kind, keep=kept, limit=25)  # kept (10 bytes) and the most recently used that fit
    assert sorted(p.name for p in kind.iterdir()) == ["kept.json", "notes.txt", "recent.json"]
    assert not stale.exists() and not older.exists() and other.exists() and recent.exists()


def test_a_plan_marks_its_recipe_used_and_prunes_others_when_it_writes(example, monkeypatch, tmp_path):
    pipeline = example()
    compile_pipeline(pipeline)
    cache = recipe_cache.RecipeCache(pipeline)
    abandoned = _aged(cache.file.parent / "0123456789abcdef0123.json", 45)  # a pipeline planned once, long ago
    then = time.time() - 20 * 86400
    os.utime(cache.file, (then, then))
    compile_pipeline(pipeline)  # served by the cache: marks it used
    assert time.time() - cache.file.stat().st_mtime < 60
    (pipeline.parent / "data/mdoc/TS_01.mdoc").touch()  # the cache is written again, and pruned
    compile_pipeline(pipeline)
    assert cache.file.is_file() and not abandoned.exists()


# --- the scan cache: an edit outside data: reads no mdoc ----------------------------------------------

@pytest.fixture
def scans(monkeypatch):
    """Counts the scans that read the data (not served by the scan cache)."""
    import cryocc.acquisition.scan as scan_module

    return _count_calls(monkeypatch, scan_module, "scan")


def test_an_edit_outside_data_keeps_the_scan_and_compiles_the_same(example, scans, stage_one):
    pipeline = example()
    compile_pipeline(pipeline)
    text = pipeline.read_text()
    pipeline.write_text(text.replace("rescale_angpixs: 10", "rescale_angpixs: 12"))
    edited = compile_pipeline(pipeline)
    assert len(stage_one) == 2 and len(scans) == 1  # the spec compiled again, the data not scanned again
    for kind in ("scans", "recipes"):
        shutil.rmtree(recipe_cache.user_cache(kind))
    fresh = compile_pipeline(pipeline)  # what a scan of the data makes of the edited spec
    assert len(scans) == 2
    assert edited.recipe.to_json() == fresh.recipe.to_json() and edited.fingerprints == fresh.fingerprints


@pytest.mark.parametrize("change", ["data section", "mdoc content", "new frame", "mdoc touched"])
def test_the_scan_is_kept_only_for_the_same_data(example, scans, change):
    pipeline = example()
    compile_pipeline(pipeline)
    text = pipeline.read_text()
    pipeline.write_text(text.replace("rescale_angpixs: 10", "rescale_angpixs: 12"))  # the recipe cannot vouch
    mdoc = _mdoc(pipeline)
    if change == "data section":
        pipeline.write_text(pipeline.read_text().replace("  mdocs: data/mdoc/*.mdoc", "  mdocs: data/mdoc/*.mdoc\n  frame_check: lenient"))
    elif change == "mdoc content":
        mdoc.write_text(mdoc.read_text().replace("ExposureDose = 0\n", "ExposureDose = 0.5\n", 1))
    elif change == "new frame":
        (pipeline.parent / "data/frames/TS_01_099_99.0.mrc").write_bytes(b"x")
    else:
        os.utime(mdoc, ns=(time.time_ns(), time.time_ns()))
    compile_pipeline(pipeline)
    assert len(scans) == (1 if change == "mdoc touched" else 2)  # a touched mdoc costs a hash, not a scan


def test_a_scan_that_found_errors_is_not_kept(example, scans):
    pipeline = example()
    pipeline.write_text(pipeline.read_text().replace("  mdocs: data/mdoc/*.mdoc", "  mdocs: data/mdoc/*.mdoc\n  exclude: {TS_99: gone}"))
    for value in ("10", "12"):  # the same data: section, another parameter: the error again, from a scan again
        pipeline.write_text(re.sub(r"rescale_angpixs: \d+", f"rescale_angpixs: {value}", pipeline.read_text()))
        with pytest.raises(DataError, match="data.exclude names TS_99"):
            compile_pipeline(pipeline)
    assert len(scans) == 2


def test_a_damaged_scan_cache_is_scanned_again(example, scans):
    pipeline = example()
    compile_pipeline(pipeline)
    cache = recipe_cache.ScanCache(pipeline).file
    head = cache.read_text().splitlines()[0]
    cache.write_text(head + "\n" + json.dumps({"acquisition": {"pixel_size": "x"}}))  # its data check (the first line) still passes
    pipeline.write_text(pipeline.read_text().replace("rescale_angpixs: 10", "rescale_angpixs: 12"))
    compile_pipeline(pipeline)
    assert len(scans) == 2 and json.loads(cache.read_text().splitlines()[1])["tilt_series"]


def test_a_scan_cache_cut_off_after_its_data_record_is_scanned_again(example, scans):
    pipeline = example()
    compile_pipeline(pipeline)
    cache = recipe_cache.ScanCache(pipeline).file
    cache.write_text(cache.read_text()[:-10])
    pipeline.write_text(pipeline.read_text().replace("rescale_angpixs: 10", "rescale_angpixs: 12"))
    compile_pipeline(pipeline)
    assert len(scans) == 2 and json.loads(cache.read_text().splitlines()[1])["tilt_series"]


@pytest.mark.parametrize("data", ["héllo wörld ✓✓", b"raw\x00bytes", ["head", "\n", "bödy ✓"]])
def test_a_document_written_in_parts_and_chunks_has_exactly_its_bytes(data, tmp_path, monkeypatch):
    from cryocc import fsio

    monkeypatch.setattr(fsio, "_CHUNK", 3)  # chunk boundaries inside multi-byte characters' strings
    fsio.atomic_write(tmp_path / "doc", data, durable=False)
    text = "".join(data) if isinstance(data, list) else data
    assert (tmp_path / "doc").read_bytes() == (text if isinstance(text, bytes) else text.encode())


def test_a_new_mdoc_is_the_only_one_parsed_and_rewrites_only_its_shard_of_the_mdoc_cache(tmp_path, monkeypatch):
    import cryocc.acquisition.cache as mdoc_cache

    source = data_dir("examples") / "quickstart/data/mdoc/TS_01.mdoc"
    folder = tmp_path / "mdoc"
    folder.mkdir()
    for i in range(40):
        shutil.copy(source, folder / f"TS_{i:02d}.mdoc")
    parsed = _count_calls(monkeypatch, mdoc_cache, "read_mdoc")

    def read_all(cache):
        for path in sorted(folder.iterdir()):
            st = path.stat()
            cache.read(path.name, str(path), (st.st_size, st.st_mtime_ns))
        cache.save()

    read_all(mdoc_cache.MdocCache(tmp_path / "cache"))
    shards = {p.name: p.read_bytes() for p in (tmp_path / "cache").iterdir()}
    assert len(parsed) == 40 and 1 < len(shards) <= mdoc_cache.SHARDS
    shutil.copy(source, folder / "TS_40.mdoc")
    read_all(mdoc_cache.MdocCache(tmp_path / "cache"))
    after = {p.name: p.read_bytes() for p in (tmp_path / "cache").iterdir()}
    assert len(parsed) == 41  # only the new one
    assert sum(after[name] != shards.get(name) for name in after) == 1  # its shard, with it
