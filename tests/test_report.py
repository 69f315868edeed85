"""`cryocc report`: one self-contained HTML file, checked in a real headless browser (Debian's Chromium,
installed by tests/run.sh) with networking off: the plots and the quality table must render, and a
screenshot of each rendering is kept in tests/artifacts/ (the test prints where). The full-catalog
example runs once with the workstation profile, and once under SLURM (the done-when of the report)."""

from __future__ import annotations

import html
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import copy_examples, tool_env
from test_drivers import Catalog
from typer.testing import CliRunner

from cryocc.cli import app

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _browser(*args: str) -> subprocess.CompletedProcess[str]:
    """Headless Chromium in a network namespace of its own (no network at all) when root can make one,
    else pointed at a proxy that does not exist; either way the page's CSP forbids any request."""
    if CHROMIUM is None:
        if os.environ.get("CRYOCC_REQUIRE_RELION"):
            pytest.fail("chromium is required here (tests/run.sh installs it as root)")
        pytest.skip("no chromium (tests/run.sh installs Debian's as root)")
    isolate = ["unshare", "--net"] if os.geteuid() == 0 and shutil.which("unshare") else []
    argv = [*isolate, CHROMIUM, "--headless", "--disable-gpu", "--no-sandbox", "--hide-scrollbars", "--no-first-run",
            "--proxy-server=127.0.0.1:9", "--virtual-time-budget=15000", *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=180)


def render_in_chromium(report: Path, screenshot: Path) -> str:
    """The DOM after the page's scripts ran; a screenshot beside it."""
    dom = _browser("--dump-dom", report.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    shot = _browser("--window-size=1400,2600", f"--screenshot={screenshot}", report.as_uri())
    assert shot.returncode == 0 and screenshot.stat().st_size > 10_000, shot.stderr[-2000:]
    print(f"\nscreenshot of the report: {screenshot}")
    return dom.stdout


def check_rendered(dom: str, *, tilt_series: list[str], min_plots: int = 3) -> None:
    assert 'data-ready="yes"' in dom  # the page's own script ran to its end
    plots = re.findall(r'<div id="plot-([\w-]+)" class="plotly-graph-div', dom)
    drawn = dom.count('class="plot-container plotly"')  # what plotly.js builds once it has drawn a figure
    assert drawn >= min_plots and drawn == len(plots), (drawn, plots)
    for key in ("defocus_um-by-tilt", "ctf_resolution_a-by-tilt", "shift_a-by-tilt", "picks", "timeline"):
        assert key in plots
    table = re.search(r'<table id="quality" class="sortable">.*?</table>', dom, re.S)
    assert table is not None
    rows = re.findall(r"<tr><td>([^<]+)</td>", table.group(0))
    assert rows == tilt_series
    assert "ctf_resolution" not in table.group(0) and "CTF fit" in table.group(0)
    assert re.findall(r'<img alt="([^"]+)" src="data:image/png;base64,', dom) == tilt_series  # a slice of each tomogram
    assert '<g class="job" data-state="succeeded">' in dom


def _report(project: Path, out: Path) -> str:
    result = CliRunner().invoke(app, ["report", "--project", str(project), "-o", str(out)])
    assert result.exit_code == 0, result.output
    return result.stdout


@pytest.fixture(scope="module")
def catalog(tmp_path_factory, relion):
    return Catalog(tmp_path_factory.mktemp("report"))


def test_the_report_renders_offline_in_a_real_browser(catalog, tmp_path):
    out = tmp_path / "report.html"
    said = _report(catalog.project, out)
    assert f"Wrote {out}: 1 tilt series, 7 plots, 1 tomogram slices." in said
    text = out.read_text()
    # self-contained: no element outside the inline scripts (plotly.js holds URLs in its strings) fetches
    # anything, and the page's CSP forbids every request: scripts, styles, images, fonts
    markup = re.sub(r"<script>.*?</script>", "", text, flags=re.S)
    assert not re.search(r'(src|href)="(https?:)?//', markup) and "<link" not in markup and markup.count("<script") == 0
    assert "default-src 'none'" in text
    dom = render_in_chromium(out, ARTIFACTS / "report-workstation.png")
    check_rendered(dom, tilt_series=["TS_01"])
    plan = re.search(r'<pre class="plan"[^>]*>(.*?)</pre>', dom, re.S)
    assert plan and "Plan: 0 to run, 0 to re-run, 14 to keep" in plan.group(1)


def test_the_report_shows_the_job_that_measured_each_value(catalog, tmp_path):
    out = tmp_path / "report.html"
    _report(catalog.project, out)
    text = out.read_text()
    cells = dict(re.findall(r'<td title="measured by ([^"]+)"[^>]*>([^<]*)</td>', text))
    assert {"ctf", "align, filter", "align", "motion", "picks", "extract"} <= set(cells), cells
    assert cells["align, filter"] == "2"  # the aligner dropped none, the filter two


def test_status_and_plan_do_not_import_the_reports_libraries(catalog):
    for command in (["status", "--project", str(catalog.project), "--tilt-series"], ["plan", str(catalog.pipeline), "--project", str(catalog.project)]):
        probe = ("import sys, runpy; sys.argv = ['cryocc', *sys.argv[1:]]\n"
                 "try:\n    runpy.run_module('cryocc.cli', run_name='__main__')\nexcept SystemExit:\n    pass\n"
                 "print(sorted({m.split('.')[0] for m in sys.modules} & {'plotly', 'numpy', 'mrcfile'}))")
        out = subprocess.run([sys.executable, "-c", probe, *command], capture_output=True, text=True, env=tool_env(), timeout=120)
        assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout + out.stderr


def test_the_quality_table_sorts_by_a_click_in_the_browser(tmp_path):
    """Three tilt series; a script appended to the page clicks the CTF-fit heading twice (ascending, then
    descending), as a user would, and the DOM after it has the rows in that order."""
    from cryocc.html_report import COLUMNS, render
    from cryocc.lockfile.lockfile import JobLock, Lockfile
    from cryocc.observe.project import JobState
    from cryocc.states import Status

    res = {"TS_01": 9.5, "TS_02": 6.25, "TS_03": 12.0}
    items = {ts: {"outcome": "succeeded", "quality": {"ctf_resolution_a": r, "tilts": 41}} for ts, r in res.items()}
    receipt = {"type": "ts_ctf", "items": items, "started": "2026-12-06T10:00:00+0000", "seconds": 12.0}
    lock = Lockfile(pipeline={"name": "sorting", "path": str(tmp_path / "gone.yaml")}, jobs={"ctf": JobLock("ts_ctf", "f1", {})})
    text, _ = render(tmp_path, lock, {"ctf": JobState("ctf", Status.SUCCEEDED, "External/job005/", receipt=receipt)})
    col = 1 + COLUMNS.index("ctf_resolution_a")
    clicks = (f"var th = document.querySelector('#quality th[data-col=\"{col}\"]'); th.click(); "
              "document.body.dataset.ascending = Array.from(document.querySelectorAll('#quality tbody tr td:first-child'))"
              ".map(function (td) { return td.textContent; }).join(','); th.click();")
    page = tmp_path / "sort.html"
    page.write_text(text.replace("</body>", f"<script>{clicks}</script></body>"))
    dom = render_in_chromium(page, ARTIFACTS / "report-sorted.png")
    assert 'data-ascending="TS_02,TS_01,TS_03"' in dom
    assert re.findall(r"<tr><td>([^<]+)</td>", dom) == ["TS_03", "TS_01", "TS_02"]
    assert "The pipeline last applied" in dom and "is gone" in dom


def test_a_project_not_run_yet_gets_a_report_that_says_so(tmp_path, example):
    pipeline = example()
    project = tmp_path / "project"
    assert CliRunner().invoke(app, ["apply", str(pipeline), "--project", str(project)]).exit_code == 0
    out = tmp_path / "report.html"
    assert "0 tilt series, 0 plots, 0 tomogram slices" in _report(project, out)
    text = out.read_text()
    assert "No job has run yet." in text and "No tilt series recorded yet." in text
    assert text.count('data-state="scheduled"') == 6
    assert "Plan: 6 to run" in text  # nothing ran: the next apply runs it all


def test_report_refuses_a_directory_that_is_no_project(tmp_path):
    result = CliRunner().invoke(app, ["report", "--project", str(tmp_path), "-o", str(tmp_path / "r.html")])
    assert result.exit_code == 1 and "nothing applied yet" in result.stderr and not (tmp_path / "r.html").exists()


@pytest.mark.slurm
def test_the_full_catalog_run_under_slurm_renders_in_chromium(tmp_path, monkeypatch, slurm_cluster, relion):
    """The done-when: `cryocc report` on the full-catalog example after a run under SLURM."""
    pipeline = copy_examples(tmp_path / "examples", "full-catalog")
    project = tmp_path / "project"
    for k, v in tool_env().items():
        monkeypatch.setenv(k, v)
    runner = CliRunner()
    applied = runner.invoke(app, ["apply", str(pipeline), "--project", str(project)])
    assert applied.exit_code == 0, applied.output
    try:
        ran = runner.invoke(app, ["run", "--project", str(project), "--wait"])
        assert ran.exit_code == 0, ran.output
        assert "14 jobs succeeded" in ran.stdout
    finally:
        from test_slurm import _stop_everything

        _stop_everything(project)
    out = tmp_path / "report.html"
    _report(project, out)
    dom = render_in_chromium(out, ARTIFACTS / "report-slurm.png")
    check_rendered(dom, tilt_series=["TS_01"])


def test_the_tilts_table_marks_the_excluded_tilts_and_writes_the_yaml_for_those_ticked(tmp_path):
    """Two tilt series of six tilts; the lockfile says TS_02 leaves out ZValue 5. The page starts with that
    exclusion in the box; a script appended to the page ticks ZValues 1 and 3 of TS_01, as a user would,
    and the box then holds both, ready to paste under data:."""
    from test_exclude_tilts import ANGLES, mdoc

    from cryocc.html_report import render
    from cryocc.lockfile.lockfile import JobLock, Lockfile
    from cryocc.observe.project import JobState
    from cryocc.states import Status

    (tmp_path / "data").mkdir()
    for ts in ("TS_01", "TS_02"):
        (tmp_path / f"data/{ts}.mdoc").write_text(mdoc(ts))
    per_tilt = {ts: [{"movie": f"{ts}_{z:03d}_{a}", "angle": a, "defocus_um": 3.0 + z / 10} for z, a in enumerate(ANGLES)]
                for ts in ("TS_01", "TS_02")}
    items = {ts: {"outcome": "succeeded", "quality": {"tilts": 6, "per_tilt": tilts}} for ts, tilts in per_tilt.items()}
    receipt = {"type": "fs_motion_ctf", "items": items, "started": "2026-12-06T10:00:00+0000", "seconds": 12.0}
    excluded = {"TS_02": {"zvalues": [5], "frames": ["TS_02_005_9.0.tiff"], "why": "ice crack"}}
    lock = Lockfile(pipeline={"name": "tilts", "path": str(tmp_path / "pipeline.yaml"), "excluded_tilts": excluded},
                    files={f"data/{ts}.mdoc": {} for ts in ("TS_01", "TS_02")}, jobs={"motion": JobLock("fs_motion_ctf", "f1", {})})
    text, _ = render(tmp_path, lock, {"motion": JobState("motion", Status.SUCCEEDED, "External/job002/", receipt=receipt)})
    assert '<tr class="excluded" data-z="5" data-angle="9.0">' in text and "data.exclude_tilts: ice crack" in text
    assert 'id="exclude-yaml"' in text and "exclude_tilts:" in text  # the box and its script, inline
    ticks = ("var before = document.getElementById('exclude-yaml').textContent; document.body.dataset.before = before;"
             "document.querySelectorAll('table.tilts[data-ts=\"TS_01\"] tbody tr').forEach(function (tr) {"
             "  if (tr.dataset.z === '1' || tr.dataset.z === '3') { var c = tr.querySelector('input'); c.checked = true;"
             "    c.dispatchEvent(new Event('change')); } });")
    page = tmp_path / "tilts.html"
    page.write_text(text.replace("</body>", f"<script>{ticks}</script></body>"))
    dom = render_in_chromium(page, ARTIFACTS / "report-tilts.png")
    assert 'data-before="# under data: in pipeline.yaml\n  exclude_tilts:\n    TS_02: {zvalues: [5], why: &quot;ice crack&quot;}\n"' in dom
    box = re.search(r'<textarea id="exclude-yaml"[^>]*>(.*?)</textarea>', dom, re.S)
    assert box and html.unescape(box.group(1)) == ('# under data: in pipeline.yaml\n  exclude_tilts:\n'
                                                   '    TS_01: {zvalues: [1, 3], why: "chosen in the report"}\n'
                                                   '    TS_02: {zvalues: [5], why: "ice crack"}\n')


def test_imods_residual_gets_a_plot_per_tilt_series_and_aretomos_none():
    from cryocc.html_report import _residuals

    quality = {"TS_01": [{"job": "align", "quality": {"residual_a": 4.2, "residual_sd_a": 1.1}}],
               "TS_02": [{"job": "align", "quality": {"residual_a": 6.0}}, {"job": "ctf", "quality": {"defocus_um": 3.0}}],
               "TS_03": [{"job": "align", "quality": {"axis_deg": 85.1}}]}  # AreTomo2: no residual
    key, fig = _residuals(quality)
    bar = fig.data[0]
    assert key == "residual" and list(bar.x) == ["TS_01", "TS_02"] and list(bar.y) == [4.2, 6.0]
    assert list(bar.error_y.array) == [1.1, 0]
    assert _residuals({"TS_03": quality["TS_03"]}) is None
