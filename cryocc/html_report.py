"""`cryocc report`: one self-contained HTML file of a project, to open from a cluster file system with the
browser offline. Everything is inline: plotly.js, the figures' data, the thumbnails (PNG as data: URLs),
the styles and the table's sorting; a Content-Security-Policy forbids the page any network request.

It shows the pipeline as a graph with each job's state, a timeline of the jobs, the quality of each
tilt series as the tools measured it (cryocc/observe/quality.py; sortable), plots of it, a central slice of
each tomogram, and what the next apply would do. plotly, numpy and mrcfile are imported here only:
plan and status never load them."""

from __future__ import annotations

import base64
import contextlib
import html
import io
import json
import os
import struct
import time
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .confine import confined
from .errors import ProjectError
from .observe.quality import LABELS, by_tilt_series, table

if TYPE_CHECKING:
    from .lockfile.lockfile import Lockfile
    from .observe.project import JobState

STATE_COLOURS = {"succeeded": "#2e7d32", "failed": "#c62828", "aborted": "#ef6c00", "running": "#1565c0",
                 "scheduled": "#757575", "incomplete": "#6a1b9a", "outputs_missing": "#ad1457"}  # every Status
# the table's columns after the tilt series: the measures, the tilts dropped, the outcome
COLUMNS = ["tilts", "dropped", "defocus_um", "astigmatism_a", "ctf_resolution_a", "motion_a", "axis_deg", "shift_a", "residual_a",
           "hand", "picks", "particles"]
THUMBNAIL = 256  # pixels, the longer side


def write_report(project: Path, output: Path) -> dict[str, int]:
    """Write the report; returns what it holds (plots, tilt series, thumbnails)."""
    from .fsio import atomic_write
    from .observe.project import observe
    from .run.runner import applied_lock

    lock = applied_lock(project)
    states = observe(project, lock)
    order = lock.pipeline.get("order", [])
    states = dict(sorted(states.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else len(order)))
    text, counts = render(project, lock, states)
    atomic_write(output, text)
    return counts


def render(project: Path, lock: Lockfile, states: dict[str, JobState]) -> tuple[str, dict[str, int]]:
    quality = by_tilt_series(states)
    rows = table(quality)
    figures = [f for f in (_timeline(states), *_quality_plots(quality)) if f is not None]
    thumbs = _thumbnails(project, rows)
    sections = [
        ("Pipeline", _graph(lock, states)),
        ("Timeline", _figure_html(figures[0]) if figures and figures[0][0] == "timeline" else "<p>No job has run yet.</p>"),
        ("Quality per tilt series", _table(rows)),
        ("Tilts", _tilts(lock, quality)),
        ("Plots", "".join(_figure_html(f) for f in figures if f[0] != "timeline") or "<p>No tool has measured anything yet.</p>"),
        ("Tomograms", thumbs or "<p>No tomogram yet.</p>"),
        ("What the next apply would do", _next_apply(project, lock)),
    ]
    body = "".join(f'<section id="{_slug(title)}"><h2>{html.escape(title)}</h2>{content}</section>' for title, content in sections)
    name = lock.pipeline.get("name", project.name)
    page = PAGE.format(title=html.escape(f"cryocc report: {name}"), plotly=_plotly_js(), style=STYLE, script=SCRIPT,
                       heading=html.escape(f"{name}: {project}"), when=html.escape(time.strftime("%Y-%m-%d %H:%M %Z")), body=body)
    return page, {"plots": len(figures), "tilt_series": len(rows), "thumbnails": thumbs.count("<img")}


def _slug(title: str) -> str:
    return title.lower().replace(" ", "-")


# --- the pipeline as a graph: inline SVG, jobs in columns by their depth -----------------------------

def _graph(lock: Lockfile, states: dict[str, JobState]) -> str:
    by_fp = {j.fingerprint: n for n, j in lock.jobs.items()}
    ups = {n: [by_fp[fp] for fp in (j.parts.get("upstream") or {}).values() if fp in by_fp] for n, j in lock.jobs.items()}
    depth: dict[str, int] = {}
    for name in states:  # run order: every upstream job comes first
        depth[name] = 1 + max((depth.get(u, 0) for u in ups.get(name, [])), default=-1)
    columns: dict[int, list[str]] = {}
    for name, d in depth.items():
        columns.setdefault(d, []).append(name)
    w, h, gap_x, gap_y = 132, 58, 26, 16
    pos = {n: (10 + d * (w + gap_x), 10 + i * (h + gap_y)) for d, names in columns.items() for i, n in enumerate(names)}
    width = 20 + (max(columns, default=0) + 1) * (w + gap_x)
    height = 20 + max((len(c) for c in columns.values()), default=1) * (h + gap_y)
    parts = [f'<svg class="graph" width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img">',
             '<defs><marker id="arrow" markerWidth="8" markerHeight="8" refX="8" refY="4" orient="auto">'
             '<path d="M0,0 L8,4 L0,8 z" fill="#555"/></marker></defs>']
    for name, sources in ups.items():
        for up in sources:
            if up in pos and name in pos:
                (x1, y1), (x2, y2) = pos[up], pos[name]
                parts.append(f'<line x1="{x1 + w}" y1="{y1 + h / 2}" x2="{x2}" y2="{y2 + h / 2}" stroke="#555" marker-end="url(#arrow)"/>')
    for name, (x, y) in pos.items():
        st = states[name]
        colour = STATE_COLOURS.get(str(st.status), "#757575")
        tip = html.escape(f"{name} ({lock.jobs[name].type}): {st.status} {st.job_dir or ''} {st.detail}")
        parts.append(f'<g class="job" data-state="{html.escape(str(st.status))}"><title>{tip}</title>'
                     f'<rect x="{x}" y="{y}" width="{w}" height="{h}" rx="6" fill="{colour}"/>'
                     f'<text x="{x + w / 2}" y="{y + 19}" text-anchor="middle" class="name">{html.escape(name)}</text>'
                     f'<text x="{x + w / 2}" y="{y + 35}" text-anchor="middle" class="state">{html.escape(str(st.status))}</text>'
                     f'<text x="{x + w / 2}" y="{y + 50}" text-anchor="middle" class="state">{html.escape(st.job_dir or "")}</text></g>')
    parts.append("</svg>")
    legend = " ".join(f'<span class="chip" style="background:{c}">{s}</span>' for s, c in STATE_COLOURS.items())
    return f'<div class="graph">{"".join(parts)}</div><p class="legend">{legend}</p>'


# --- figures (plotly) -----------------------------------------------------------------------------

Figure = tuple[str, Any]  # (id, plotly figure)


def _timeline(states: dict[str, JobState]) -> Figure | None:
    import plotly.graph_objects as go

    bars = []
    for name, st in states.items():
        r = st.receipt or {}
        seconds = r.get("seconds")
        if r.get("started") and seconds is not None:
            start = time.strptime(r["started"], "%Y-%m-%dT%H:%M:%S%z")
            bars.append((name, time.strftime("%Y-%m-%d %H:%M:%S", start), float(seconds), str(st.status)))
    if not bars:
        return None
    fig = go.Figure(go.Bar(y=[b[0] for b in bars], base=[b[1] for b in bars], x=[b[2] * 1000 for b in bars], orientation="h",
                           marker_color=[STATE_COLOURS.get(b[3], "#757575") for b in bars],
                           hovertext=[f"{b[0]}: {b[3]}, {b[2]:.0f} s" for b in bars], hoverinfo="text"))
    fig.update_layout(title="Jobs over time", xaxis_type="date",
                      yaxis_autorange="reversed", height=120 + 24 * len(bars))
    return "timeline", fig


def _per_tilt(quality: dict[str, list[dict[str, Any]]], key: str) -> dict[str, tuple[str, list[dict[str, Any]]]]:
    """Tilt series -> (the job, its per-tilt values) from the last job that measured key per tilt."""
    out = {}
    for ts, measures in quality.items():
        for m in measures:
            tilts = m["quality"].get("per_tilt") or []
            if any(t.get(key) is not None for t in tilts):
                out[ts] = (m["job"], tilts)
    return out


def _against_tilt(quality: dict[str, list[dict[str, Any]]], key: str, title: str, axis: str) -> Figure | None:
    import plotly.graph_objects as go

    series = _per_tilt(quality, key)
    if not series:
        return None
    fig = go.Figure()
    for ts, (job, tilts) in series.items():
        pts = sorted((t["angle"], t[key]) for t in tilts if t.get(key) is not None and t.get("angle") is not None)
        fig.add_trace(go.Scatter(x=[p[0] for p in pts], y=[p[1] for p in pts], mode="lines+markers", name=f"{ts} ({job})"))
    fig.update_layout(title=title, xaxis_title="tilt angle (°)", yaxis_title=axis, height=380)
    return f"{key}-by-tilt", fig


def _counts(quality: dict[str, list[dict[str, Any]]]) -> Figure | None:
    import plotly.graph_objects as go

    fig = go.Figure()
    for key in ("picks", "particles"):
        values = {ts: m["quality"][key] for ts, ms in quality.items() for m in ms if m["quality"].get(key) is not None}
        if values:
            fig.add_trace(go.Bar(x=list(values), y=list(values.values()), name=key))
    if not fig.data:
        return None
    fig.update_layout(title="Picks and particles per tomogram", barmode="group", yaxis_title="count", height=340)
    return "picks", fig


def _residuals(quality: dict[str, list[dict[str, Any]]]) -> Figure | None:
    """IMOD's alignment residual, one per tilt series (its mean, the sd as the error bar)."""
    import plotly.graph_objects as go

    found = {ts: m["quality"] for ts, ms in quality.items() for m in ms if m["quality"].get("residual_a") is not None}
    if not found:
        return None
    fig = go.Figure(go.Bar(x=list(found), y=[q["residual_a"] for q in found.values()], name="residual",
                           error_y={"type": "data", "array": [q.get("residual_sd_a") or 0 for q in found.values()]}))
    fig.update_layout(title="Alignment residual per tilt series (IMOD tiltalign: mean and sd)", yaxis_title="residual (Å)", height=340)
    return "residual", fig


def _quality_plots(quality: dict[str, list[dict[str, Any]]]) -> list[Figure | None]:
    return [
        _against_tilt(quality, "defocus_um", "Defocus against tilt angle", "defocus (µm)"),
        _against_tilt(quality, "ctf_resolution_a", "CTF fit resolution against tilt angle", "CTF fit (Å)"),
        _against_tilt(quality, "astigmatism_a", "Astigmatism against tilt angle", "astigmatism (Å)"),
        # AreTomo2 writes no residual to a file (docs/tools.md): per tilt, the shift each tilt needed is the
        # alignment's measure here; IMOD's residual, one per tilt series, has its own plot
        _against_tilt(quality, "shift_a", "Alignment: shift of each tilt against tilt angle", "shift (Å)"),
        _against_tilt(quality, "axis_deg", "Alignment: refined tilt axis against tilt angle", "tilt axis (°)"),
        _residuals(quality),
        _counts(quality),
    ]


def _figure_html(fig: Figure) -> str:
    key, figure = fig
    figure.update_layout(margin={"l": 60, "r": 20, "t": 50, "b": 50}, template="plotly_white")
    div: str = figure.to_html(full_html=False, include_plotlyjs=False, div_id=f"plot-{key}", config={"displaylogo": False})
    return f'<div class="figure">{div}</div>'


def _plotly_js() -> str:
    from plotly.offline import get_plotlyjs

    js: str = get_plotlyjs()
    return js.replace("</script", "<\\/script")


# --- the table ------------------------------------------------------------------------------------

def _table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "<p>No tilt series recorded yet.</p>"
    heads = ["tilt series", *[LABELS[c][0] + LABELS[c][1] if c in LABELS else "tilts dropped" for c in COLUMNS], "outcome"]
    out = ['<table id="quality" class="sortable"><thead><tr>']
    out += [f'<th data-col="{i}" title="click to sort">{html.escape(h.strip())}</th>' for i, h in enumerate(heads)]
    out.append("</tr></thead><tbody>")
    for r in rows:
        cells = [f"<td>{html.escape(r['tilt_series'])}</td>"]
        for c in COLUMNS:
            value = r.get(c)
            fmt = LABELS[c][2] if c in LABELS else "{}"
            shown = "" if value is None else fmt.format(value)
            by = r["by"].get(c)
            title = f' title="measured by {html.escape(by)}"' if by else ""
            sort = f' data-sort="{value}"' if isinstance(value, (int, float)) else ""
            cells.append(f"<td{title}{sort}>{html.escape(shown)}</td>")
        cells.append(f"<td>{html.escape(r['outcome'])}</td>")
        out.append(f"<tr>{''.join(cells)}</tr>")
    out.append("</tbody></table><p class=\"note\">Hover a value for the job that measured it; click a heading to sort.</p>")
    return "".join(out)


# --- every tilt, the tilts left out, and the data.exclude_tilts YAML for the tilts a user ticks ------

TILT_COLUMNS = ["defocus_um", "ctf_resolution_a", "shift_a"]
CHOSEN = "chosen in the report"  # the reason the YAML box gives when the spec gave none


def _tilts(lock: Lockfile, quality: dict[str, list[dict[str, Any]]]) -> str:
    """A table per tilt series of every tilt its mdoc lists (or, if it cannot be read now, the tools
    measured): ZValue, angle, measures, and why it is left out (data.exclude_tilts, or a tool). Ticking
    tilts writes the data.exclude_tilts YAML for them into a box to copy; those the spec excludes start ticked."""
    excluded = lock.pipeline.get("excluded_tilts") or {}
    names = sorted(set(quality) | set(excluded))
    mdocs = _mdoc_tilts(lock, set(names))
    tables = [_tilt_table(ts, excluded.get(ts) or {}, mdocs.get(ts), quality.get(ts, [])) for ts in names]
    if not tables:
        return "<p>No tilt recorded yet.</p>"
    box = (f'<p><label>Reason: <input id="exclude-why" size="40" placeholder="{CHOSEN}"></label></p>'
           '<textarea id="exclude-yaml" readonly rows="8" cols="90"></textarea><p><button id="exclude-copy">Copy</button></p>'
           '<p class="note">Tick the tilts to leave out: the box holds <code>data.exclude_tilts</code> for them, to paste under '
           "<code>data:</code> in pipeline.yaml; <code>cryocc plan</code> then re-runs, from the alignment on, those tilt series alone. "
           "ZValue is the n of the mdoc's <code>[ZValue = n]</code> section.</p>")
    return box + "".join(tables)


def _tilt_table(ts: str, spec: dict[str, Any], mdoc: list[tuple[int | None, float | None, str]] | None,
                measures: list[dict[str, Any]]) -> str:
    spec_out = {_frame_id(f) for f in spec.get("frames", [])}
    why_spec = str(spec.get("why", ""))
    measured, dropped = _measured(measures)
    tilts = mdoc or sorted(((None, v.get("angle"), m) for m, v in measured.items()), key=lambda t: (t[1] is None, t[1] or 0))
    heads = ["exclude", "ZValue", "tilt angle (°)", "movie", *(LABELS[c][0] + LABELS[c][1] for c in TILT_COLUMNS), "left out"]
    rows = []
    for z, angle, movie in tilts:
        why = f"data.exclude_tilts: {why_spec}" if movie in spec_out else dropped.get(movie, "")
        ticked = " checked" if movie in spec_out else ""
        cells = [f'<td><input type="checkbox" class="tilt-pick"{ticked}></td>', f"<td>{_blank(z)}</td>",
                 f"<td>{'' if angle is None else f'{angle:g}'}</td>", f"<td>{html.escape(movie)}</td>"]
        for c in TILT_COLUMNS:
            value = measured.get(movie, {}).get(c)
            cells.append(f"<td>{'' if value is None else html.escape(LABELS[c][2].format(value))}</td>")
        cells.append(f"<td>{html.escape(why)}</td>")
        state = "excluded" if why else "kept"
        rows.append(f'<tr class="{state}" data-z="{_blank(z)}" data-angle="{_blank(angle)}">{"".join(cells)}</tr>')
    said = f", {len(spec_out)} excluded ({html.escape(why_spec)})" if spec else ""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in heads)
    return (f'<details{" open" if spec else ""}><summary>{html.escape(ts)}: {len(tilts)} tilts{said}</summary>'
            f'<table class="tilts" data-ts="{html.escape(ts)}" data-why="{html.escape(why_spec)}"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table></details>')


def _blank(value: Any) -> str:
    return "" if value is None else html.escape(str(value))


def _measured(measures: list[dict[str, Any]]) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """Movie -> its latest value of each per-tilt measure, and movie -> why a tool dropped it."""
    values: dict[str, dict[str, Any]] = {}
    dropped: dict[str, str] = {}
    for m in measures:
        for t in m["quality"].get("per_tilt") or []:
            values.setdefault(str(t.get("movie", "")), {}).update({k: v for k, v in t.items() if v is not None})
        for d in m["quality"].get("dropped") or []:
            dropped[str(d.get("movie", ""))] = f"{m['job']}: {d.get('why', '')}"
    return values, dropped


def _mdoc_tilts(lock: Lockfile, names: set[str]) -> dict[str, list[tuple[int | None, float | None, str]]]:
    """Tilt series -> [(ZValue, angle, movie id)] from its mdoc, which the lockfile names; none for an mdoc
    that cannot be read now."""
    from .acquisition.infer import read_mdoc
    from .errors import CryoccError

    root = Path(str(lock.pipeline.get("path", ""))).parent
    out: dict[str, list[tuple[int | None, float | None, str]]] = {}
    for key in lock.files:
        path = root / key
        # an mdoc the lockfile names, still a regular file (never a FIFO, which would block the read)
        if key.endswith(".mdoc") and os.path.basename(key)[:-len(".mdoc")].removesuffix(".mrc") in names and path.is_file():
            with contextlib.suppress(CryoccError, OSError):
                info = read_mdoc(path)
                out[info.name] = [(z, a, _frame_id(f)) for z, a, f in zip(info.z, info.angles, info.frames)]
    return out


def _frame_id(movie: str) -> str:
    """As the drivers name a movie: its file name without the last extension (dots in angles survive)."""
    return os.path.splitext(os.path.basename(movie))[0]


# --- thumbnails: the central slice of each tomogram, as a PNG -------------------------------------

def _thumbnails(project: Path, rows: list[dict[str, Any]]) -> str:
    out = []
    for r in rows:
        rel = r.get("tomogram")
        if not rel:
            continue
        try:  # a path from a receipt: read only within the project's job directories (confine.py)
            path = confined(project, rel, "External", source=str(project / "External"), key="quality.tomogram")
        except ProjectError:
            continue
        if not path.is_file():
            continue
        try:
            png = _central_slice_png(path)
        except (OSError, ValueError) as exc:
            why = html.escape(f"{r['tilt_series']}: cannot read {rel} ({exc})")
            out.append(f'<figure class="thumb"><figcaption>{why}</figcaption></figure>')
            continue
        out.append(f'<figure class="thumb"><img alt="{html.escape(r["tilt_series"])}" src="data:image/png;base64,{png}">'
                   f'<figcaption>{html.escape(r["tilt_series"])} <span class="path">{html.escape(rel)}</span></figcaption></figure>')
    return f'<div class="thumbs">{"".join(out)}</div>' if out else ""


def _central_slice_png(path: Path) -> str:
    import mrcfile
    import numpy as np

    with mrcfile.mmap(path, mode="r", permissive=True) as m:
        if m.data is None:
            raise ValueError("no data")
        data = m.data
        plane = np.asarray(data[data.shape[0] // 2] if data.ndim == 3 else data, dtype=np.float32)
    step = max(1, int(np.ceil(max(plane.shape) / THUMBNAIL)))
    plane = plane[::step, ::step]
    lo, hi = np.percentile(plane, (1, 99)) if plane.size else (0.0, 1.0)
    scaled = np.clip((plane - lo) / ((hi - lo) or 1.0) * 255, 0, 255).astype(np.uint8)
    # small tomograms are shown bigger, by repeating pixels
    grow = max(1, THUMBNAIL // max(scaled.shape))
    scaled = np.repeat(np.repeat(scaled, grow, axis=0), grow, axis=1)
    return base64.b64encode(_png_grey(scaled.tobytes(), scaled.shape[1], scaled.shape[0])).decode()


def _png_grey(pixels: bytes, width: int, height: int) -> bytes:
    """An 8-bit greyscale PNG (no imaging library needed)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = b"".join(b"\x00" + pixels[y * width:(y + 1) * width] for y in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


# --- the next apply -------------------------------------------------------------------------------

def _next_apply(project: Path, lock: Lockfile) -> str:
    from .compiler import plan_pipeline
    from .errors import CryoccError
    from .report import print_plan

    spec = Path(lock.pipeline.get("path", ""))
    if not spec.is_file():
        return f"<p>The pipeline last applied ({html.escape(str(spec))}) is gone: nothing to plan.</p>"
    buffer = io.StringIO()
    try:
        with contextlib.redirect_stdout(buffer):
            the_plan, _ = plan_pipeline(spec, project)
            print_plan(the_plan)
    except CryoccError as exc:
        return f"<p>cryocc plan {html.escape(str(spec))} fails: {html.escape(exc.render())}</p>"
    summary = json.dumps(the_plan.summary())
    return (f"<p><code>cryocc plan {html.escape(str(spec))}</code> (the pipeline last applied), as of this report:</p>"
            f'<pre class="plan" data-summary="{html.escape(summary)}">{html.escape(buffer.getvalue())}</pre>')


PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy"
 content="default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; style-src 'unsafe-inline'; img-src data:; font-src data:">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{style}</style>
<script>{plotly}</script>
</head><body>
<header><h1>{heading}</h1><p>cryocc report, written {when}. One file: it needs no server and no network.</p></header>
<nav><a href="#pipeline">pipeline</a> <a href="#timeline">timeline</a> <a href="#quality-per-tilt-series">quality</a>
<a href="#tilts">tilts</a> <a href="#plots">plots</a> <a href="#tomograms">tomograms</a> <a href="#what-the-next-apply-would-do">next apply</a></nav>
<main>{body}</main>
<script>{script}</script>
</body></html>
"""

STYLE = """
body { font-family: system-ui, sans-serif; margin: 0 1.5em 2em; color: #222; }
header h1 { font-size: 1.4em; margin-bottom: 0.2em; } nav a { margin-right: 1em; }
section { margin-top: 1.5em; } h2 { font-size: 1.15em; border-bottom: 1px solid #ddd; }
div.graph { overflow-x: auto; } svg.graph text.name { fill: white; font-weight: bold; font-size: 13px; } svg.graph text.state { fill: white; font-size: 11px; }
.chip { color: white; padding: 1px 6px; border-radius: 4px; font-size: 0.8em; }
table.sortable { border-collapse: collapse; font-size: 0.9em; }
table.sortable th, table.sortable td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
table.sortable td:first-child, table.sortable th:first-child { text-align: left; }
table.sortable th { cursor: pointer; background: #f3f3f3; } th.asc::after { content: " ▲"; } th.desc::after { content: " ▼"; }
.figure { display: inline-block; width: 48%; min-width: 420px; vertical-align: top; }
.thumbs { display: flex; flex-wrap: wrap; gap: 1em; } figure.thumb { margin: 0; } figure.thumb img { image-rendering: pixelated; }
table.tilts { border-collapse: collapse; font-size: 0.85em; margin: 0.3em 0 1em; } table.tilts td, table.tilts th { border: 1px solid #ddd; padding: 2px 6px; }
table.tilts tr.excluded { background: #fdecea; color: #8a1c1c; } textarea#exclude-yaml { font-family: monospace; width: 100%; max-width: 60em; }
figcaption .path, .note { color: #666; font-size: 0.85em; } pre.plan { background: #f7f7f7; padding: 0.8em; overflow-x: auto; }
"""

SCRIPT = """
document.querySelectorAll('table.sortable th').forEach(function (th) {
  th.addEventListener('click', function () {
    var table = th.closest('table'), body = table.tBodies[0], col = +th.dataset.col;
    var asc = !th.classList.contains('asc');
    table.querySelectorAll('th').forEach(function (h) { h.classList.remove('asc', 'desc'); });
    th.classList.add(asc ? 'asc' : 'desc');
    var key = function (tr) { var td = tr.cells[col]; return td.dataset.sort !== undefined ? +td.dataset.sort : td.textContent; };
    Array.from(body.rows).sort(function (a, b) {
      var x = key(a), y = key(b), c = (typeof x === 'number' && typeof y === 'number') ? x - y : String(x).localeCompare(String(y));
      return asc ? c : -c;
    }).forEach(function (tr) { body.appendChild(tr); });
  });
});
(function () {
  var box = document.getElementById('exclude-yaml'), why = document.getElementById('exclude-why');
  if (!box) { return; }
  function write() {
    var lines = ['# under data: in pipeline.yaml', '  exclude_tilts:'];
    document.querySelectorAll('table.tilts').forEach(function (table) {
      var z = [], angles = [];
      table.querySelectorAll('tbody tr').forEach(function (tr) {
        if (!tr.querySelector('input.tilt-pick').checked) { return; }
        if (tr.dataset.z !== '') { z.push(+tr.dataset.z); } else if (tr.dataset.angle !== '') { angles.push(+tr.dataset.angle); }
      });
      if (!z.length && !angles.length) { return; }
      var parts = [];
      if (z.length) { parts.push('zvalues: [' + z.join(', ') + ']'); }
      if (angles.length) { parts.push('angles: [' + angles.join(', ') + ']'); }
      var reason = why.value || table.dataset.why || why.placeholder;
      parts.push('why: ' + JSON.stringify(reason));
      lines.push('    ' + table.dataset.ts + ': {' + parts.join(', ') + '}');
    });
    box.textContent = lines.length > 2 ? lines.join('\\n') + '\\n' : '# tick tilts above to exclude them\\n';
  }
  document.querySelectorAll('input.tilt-pick').forEach(function (c) { c.addEventListener('change', write); });
  why.addEventListener('input', write);
  document.getElementById('exclude-copy').addEventListener('click', function () {
    box.select(); document.execCommand('copy');  // works from file:// and offline, unlike the clipboard API's permissions
  });
  write();
})();
document.body.dataset.ready = 'yes';
"""
