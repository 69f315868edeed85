"""One job type described for `cryocc jobs TYPE`: every parameter with its type, unit, default,
allowed values and description, read from the JSON Schema the params model exports, so that the
terminal shows the same text as an editor's hover."""

from __future__ import annotations

from typing import Any

from .schema.jobs import JobType

RANGE_KEYS = (("minimum", ">="), ("exclusiveMinimum", ">"), ("maximum", "<="), ("exclusiveMaximum", "<"))


def _type(prop: dict[str, Any]) -> str:
    if "const" in prop:
        return repr(prop["const"])
    if "enum" in prop:
        return "one of " + ", ".join(map(str, prop["enum"]))
    if "anyOf" in prop:
        return " | ".join(_type(p) for p in prop["anyOf"])
    kind = str(prop.get("type", "?"))
    return {"number": "float", "integer": "int", "boolean": "bool", "string": "text", "null": "null"}.get(kind, kind)


def _allowed(prop: dict[str, Any]) -> str:
    parts = [f"{op} {prop[key]:g}" for key, op in RANGE_KEYS if key in prop]
    if "pattern" in prop:
        parts.append(f"matches {prop['pattern']}")
    for sub in prop.get("anyOf", []):
        parts += [p for p in [_allowed(sub)] if p]
    return ", ".join(parts)


def describe(job: JobType) -> dict[str, Any]:
    schema = job.params.model_json_schema()
    required = set(schema.get("required", []))
    params = []
    for name, prop in schema.get("properties", {}).items():
        unit = prop.get("unit")
        text = prop.get("description", "")
        params.append({
            "name": name, "type": _type(prop), "unit": unit,
            "default": None if name in required else prop.get("default"), "required": name in required,
            "allowed": _allowed(prop), "changes_results": prop.get("affects_results", True),
            "description": text.removesuffix(f" [{unit}]") if unit else text,
        })
    return {
        "type": job.name, "aliases": list(job.aliases), "summary": job.summary, "tool": job.tool_label, "gpu": job.gpu,
        "consumes": {slot: {"kinds": list(s.kinds), "description": s.description} for slot, s in job.inputs.items()},
        "produces": [{"kind": o.kind, "path": o.path + ("/" if o.is_dir else ""), "description": o.description} for o in job.outputs],
        "acquisition": list(job.acquisition) + (["frames, mdocs, gain"] if job.reads_data else []),
        "params": params,
    }


def describe_text(job: JobType) -> str:
    from .report import fmt, table

    d = describe(job)
    also = f" (also {', '.join(d['aliases'])})" if d["aliases"] else ""
    lines = [f"{d['type']}{also}: {d['summary']} ({d['tool']}{', GPU' if d['gpu'] else ''})", ""]
    lines += [f"consumes  {slot}: {' or '.join(c['kinds'])} ({c['description']})" for slot, c in d["consumes"].items()] or ["consumes  the data"]
    lines += [f"produces  {o['kind'] or '-'}: {o['path']} ({o['description']})" for o in d["produces"]]
    if d["acquisition"]:
        lines.append("uses      " + ", ".join(d["acquisition"]) + " (the acquisition: inferred from the mdocs or data.acquisition)")
    rows = [[p["name"] + ("" if p["changes_results"] else " *"), p["type"], p["unit"] or "",
             "required" if p["required"] else fmt(p["default"]), p["allowed"], p["description"]] for p in d["params"]]
    lines += ["", table("Parameters (* does not change results: not part of the fingerprint)",
                        ["name", "type", "unit", "default", "allowed", "description"], rows)]
    return "\n".join(lines)
