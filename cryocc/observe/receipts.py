"""A driver's receipt read back (cryocc_receipt.json; drivers/_receipt.py writes it): its shape
checked before anything uses it, once per process while its stat vouches for it; whether it is
evidence of a result (its fingerprint and params document), and whether its outputs are still there."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any, cast

from .. import confine
from ..contract import MEASURES, PARAMS_DIR, RECEIPT, RECEIPT_FORMAT, Receipt, params_named
from ..fsio import sha256_bytes
from ..project_files import ABSENT, damaged, expect, expect_fields, parse_json, read_bytes, read_json

NUMBER = (int, float, type(None))
# one tilt series' quality record (drivers/_quality.py writes it), checked before status or report
# formats it: measures, per-tilt values, drops
QUALITY_FIELDS: dict[str, type | tuple[type, ...]] = {
    **dict.fromkeys(MEASURES, NUMBER), "hand": (str, type(None)), "tomogram": (str, type(None)), "source": (str, type(None)),
    "per_tilt": (list, type(None)), "dropped": (list, type(None))}
PER_TILT: dict[str, type | tuple[type, ...]] = {**dict.fromkeys(set(MEASURES) - {"hand"}, NUMBER), "movie": str, "angle": NUMBER}
DROPPED: dict[str, type | tuple[type, ...]] = {"movie": str, "why": str}
_RECEIPT_FIELDS: dict[str, type | tuple[type, ...]] = {
    "format": int, "job": str, "type": str, "fingerprint": str, "params_file": (str, type(None)), "status": str, "reason": (str, type(None)),
    "ended": (str, type(None)), "seconds": (int, float, type(None)), "outputs": (list, type(None)), "items": (dict, type(None)),
    "quality": (dict, type(None))}
_OUTPUT_FIELDS: dict[str, type | tuple[type, ...]] = {"path": str, "is_dir": bool, "size": int, "files": dict}
_ITEM_FIELDS: dict[str, type | tuple[type, ...]] = {"outcome": str, "fingerprint": str, "reason": (str, type(None)), "quality": dict}
_WHAT = "receipt"
# the formats read: 1 (folder outputs without their files: outputs_missing checks them by being non-empty)
# and RECEIPT_FORMAT; a receipt without a format is read as one of them
READABLE = range(1, RECEIPT_FORMAT + 1)
NEWER = "a newer cryocc ran this job: see it with that version, or run the job again with this one"


# receipts this process read, by path, with the stat that vouches for them: a plan asks for a
# job's receipt several times (its state, the results by fingerprint, an extension's home)
_READ: dict[Path, tuple[tuple[int, int, int, int], Receipt]] = {}


def read_receipt(root: Path, job_dir: str) -> Receipt | None:
    """The driver's receipt in a job directory, or None when there is none (yet). A receipt that is
    not one (not a file, not JSON, of another shape) is an error naming it."""
    path = root / job_dir / RECEIPT
    try:
        st = os.lstat(path)
        vouch = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns) if stat.S_ISREG(st.st_mode) else None
    except OSError:
        vouch = None
    known = _READ.get(path)
    if vouch is not None and known is not None and known[0] == vouch:
        return known[1].copy()
    doc = read_json(path, _WHAT)
    if doc is ABSENT:
        return None
    receipt = check_receipt(doc, path).copy()
    if vouch is not None:
        _READ[path] = (vouch, receipt)
    return receipt.copy()


def check_receipt(doc: Any, path: Path) -> Receipt:
    """doc, when it has the shape of a receipt (what cryocc reads of it) in a format this cryocc reads;
    else an error at path and key."""
    receipt = expect_fields(doc, _RECEIPT_FIELDS, path, _WHAT, required=("fingerprint", "status"))
    _check_format(receipt.get("format"), path)
    for i, out in enumerate(receipt.get("outputs") or []):
        expect(out, dict, path, f"outputs[{i}]", _WHAT)
        expect_fields(out, _OUTPUT_FIELDS, path, _WHAT, f"outputs[{i}].", required=("path",) if out.get("is_dir") else ("path", "size"))
        if out["path"].startswith("/") or ".." in out["path"].split("/"):
            raise damaged(path, "an output outside its job directory: not a receipt cryocc wrote", key=f"outputs[{i}].path")
        for name, size in (out.get("files") or {}).items():
            expect(size, int, path, f"outputs[{i}].files.{name}", _WHAT)
    for name, item in (receipt.get("items") or {}).items():
        if _plain_item(item):
            continue  # 10^3-10^4 a job: checked without the machinery that words an error
        expect_fields(item, _ITEM_FIELDS, path, _WHAT, f"items.{name}.", required=("outcome",))
        if "quality" in item:
            _check_quality(item["quality"], path, f"items.{name}.quality")
    for name, quality in (receipt.get("quality") or {}).items():  # tilt series a job pools, with no item record
        _check_quality(quality, path, f"quality.{name}")
    return cast(Receipt, receipt)


def _check_format(found: int | None, path: Path) -> None:
    if found is None or found in READABLE:
        return
    if found > RECEIPT_FORMAT:
        raise damaged(path, f"format {found}: written by a newer cryocc, which this one (format {RECEIPT_FORMAT}) cannot read",
                      key="format", hint=NEWER)
    raise damaged(path, f"format {found}: not a receipt cryocc wrote", key="format")


def _plain_item(item: Any) -> bool:
    """An item record of the usual shape with nothing to check further (no quality record)."""
    if type(item) is not dict or "quality" in item or type(item.get("outcome")) is not str:
        return False
    fingerprint, reason = item.get("fingerprint", ""), item.get("reason")
    return type(fingerprint) is str and (reason is None or type(reason) is str)


def _check_quality(quality: Any, path: Path, key: str) -> None:
    """One tilt series' quality record, as status --tilt-series and report format it."""
    expect_fields(quality, QUALITY_FIELDS, path, _WHAT, f"{key}.")
    for name, shape, required in (("per_tilt", PER_TILT, ()), ("dropped", DROPPED, ("why",))):
        for i, entry in enumerate(quality.get(name) or []):
            expect_fields(entry, shape, path, _WHAT, f"{key}.{name}[{i}].", required=required)


def receipt_mismatch(root: Path, receipt: Receipt, fingerprint: str) -> str:
    """Why a receipt does not match a result of fingerprint ("" when it does). A receipt is evidence,
    not a claim: its fingerprint must be the recipe's, and that of the params document it names, whose
    content must still hash to its name (apply names each one by its hash)."""
    if receipt.get("fingerprint") != fingerprint:
        return "it is from other parameters"
    name = receipt.get("params_file") or ""
    found = params_named(name)
    if not found:
        return f"it names no params document of this project ({name or 'none'})"
    # apply's own document, never one a symlinked .cryocc/jobs leads to: an error, as for any path that leads out
    data = read_bytes(confine.confined(root, name, PARAMS_DIR, source=str(root / name)), "params document")
    if data is None:
        return f"its params document {name} is gone"
    if sha256_bytes(data)[:16] != found[1]:
        return f"its params document {name} was changed since apply wrote it"
    doc = parse_json(data, root / name, "params document")
    if not isinstance(doc, dict) or doc.get("fingerprint") != fingerprint:
        return f"its params document {name} has another fingerprint"
    return ""




def outputs_missing(root: Path, job_dir: str, receipt: Receipt) -> list[str]:
    """Promised outputs gone or changed since the receipt, by stat: files by size, folders file by
    file (a receipt of format 1 lists no files: its folders by being non-empty)."""
    missing = []
    for out in receipt.get("outputs") or []:
        p = root / job_dir / out["path"]
        try:
            if out.get("is_dir") and "files" in out:
                changed = [name for name, size in out["files"].items() if _size(p / name) != size]
                if changed:
                    missing.append(f"{out['path']}/{changed[0]}" + (f" and {len(changed) - 1} more" if len(changed) > 1 else "")
                                   + (" (changed)" if _size(p / changed[0]) is not None else ""))
            elif out.get("is_dir"):
                with os.scandir(p) as it:
                    if next(it, None) is None:
                        missing.append(out["path"] + "/")
            elif os.stat(p).st_size != out["size"]:
                missing.append(f"{out['path']} (changed)")
        except OSError:
            missing.append(out["path"] + ("/" if out.get("is_dir") else ""))
    return missing


def _size(path: Path) -> int | None:
    try:
        return os.stat(path).st_size
    except OSError:
        return None
