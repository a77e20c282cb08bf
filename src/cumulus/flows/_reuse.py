"""Step reuse keys, data fingerprints and the reasons a step ran (pure, tested with literals).

A step's key is the SHA-256 of its *components*: the step kind, its code identity (function
source or script snapshot digest), its parameters, its environment hash, each input's
identity and content fingerprint, and its output declarations. A completed step run with the
same key is reused. When none exists, :func:`explain` compares the components with the
step's latest completed run and says what changed, e.g. ``input raw changed: etag a -> b``.

Example::

    fp = fingerprint([("", {"size": 3, "ETag": '"a"'})])
    comps = components(kind="function", code="c1", params={"lr": 0.1}, environment=None,
                       inputs={"raw": ("workspacestore:raw.csv", fp)}, outputs={})
    key = reuse_key(comps)
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import Any

from cumulus._hashing import text_digest

KEY_VERSION = 1
MAX_LISTED_FILES = 200
_ETAG_KEYS = ("etag", "ETag", "Etag")
_MD5_KEYS = ("md5Hash", "md5", "content_md5", "ContentMD5")
_TIME_KEYS = ("mtime", "last_modified", "LastModified", "updated", "modified", "created")


def _plain(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return bytes(value).hex()
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).isoformat() if value.tzinfo else value.isoformat()
    return value


def file_marker(info: dict[str, Any]) -> str:
    """The best change marker for one file: its backend's marker of the bytes (``content``,
    e.g. a local file's SHA-256), its ETag or MD5, else size and mtime.

    >>> file_marker({"content": "sha256:ab", "mtime": 1.5, "size": 3})
    'sha256:ab'
    >>> file_marker({"mtime": 1.5, "size": 3})
    'size:3,mtime:1.5'
    """
    if info.get("content"):
        return str(info["content"])
    for key in _ETAG_KEYS:
        if info.get(key):
            return f"etag:{str(info[key]).strip(chr(34))}"
    content = info.get("content_settings")
    md5 = next((info[k] for k in _MD5_KEYS if info.get(k)), None)
    if md5 is None and isinstance(content, dict):
        md5 = content.get("content_md5")
    if md5:
        return f"md5:{_plain(md5)}"
    when = next((info[k] for k in _TIME_KEYS if info.get(k) is not None), None)
    return f"size:{info.get('size')},mtime:{_plain(when)}"


def fingerprint(entries: Iterable[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """Fingerprint of a file or folder from ``(relative path, fsspec info)`` pairs.

    A single file has the relative path ``""``. The digest covers every file; the per-file
    markers (kept for explanations) are listed up to MAX_LISTED_FILES files.
    """
    markers = sorted((rel, file_marker(info), int(info.get("size") or 0))
                     for rel, info in entries)
    digest = text_digest(json.dumps([m[:2] for m in markers]), 32)
    return {"digest": digest, "count": len(markers), "bytes": sum(m[2] for m in markers),
            "files": {rel: marker for rel, marker, _ in markers[:MAX_LISTED_FILES]},
            "truncated": len(markers) > MAX_LISTED_FILES}


def components(*, kind: str, code: str, params: dict[str, Any], environment: str | None,
               inputs: dict[str, tuple[str, dict[str, Any]]],
               outputs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """What a reuse key covers; ``inputs`` maps name -> (identity, fingerprint)."""
    return {
        "version": KEY_VERSION, "kind": kind, "code": code, "params": params,
        "environment": environment,
        "inputs": {n: {"identity": ident, "digest": fp["digest"]}
                   for n, (ident, fp) in sorted(inputs.items())},
        "outputs": {n: outputs[n] for n in sorted(outputs)},
    }


def reuse_key(comps: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON of the components."""
    text = json.dumps(comps, sort_keys=True, separators=(",", ":"), default=str)
    return text_digest(text)


def explain(current: dict[str, Any], previous: dict[str, Any] | None,
            files: dict[str, dict[str, Any]] | None = None,
            previous_files: dict[str, dict[str, Any]] | None = None) -> list[str]:
    """Why ``current`` does not match ``previous`` (the step's latest completed run)."""
    if not previous:
        return ["no earlier run with this key"]
    reasons: list[str] = []
    if previous.get("version") != current.get("version"):
        reasons.append("the reuse key format changed")
    if previous.get("kind") != current.get("kind"):
        reasons.append(f"step kind changed: {previous.get('kind')} -> {current.get('kind')}")
    if previous.get("code") != current.get("code"):
        reasons.append(f"code changed: {_short(previous.get('code'))} -> "
                       f"{_short(current.get('code'))}")
    reasons += _param_changes(previous.get("params") or {}, current.get("params") or {})
    if previous.get("environment") != current.get("environment"):
        reasons.append(f"environment changed: {_short(previous.get('environment'))} -> "
                       f"{_short(current.get('environment'))}")
    reasons += _input_changes(previous.get("inputs") or {}, current.get("inputs") or {},
                              previous_files or {}, files or {})
    if previous.get("outputs") != current.get("outputs"):
        reasons.append("output declarations changed")
    return reasons or ["no earlier run with this key"]


def _short(value: Any) -> str:
    return "none" if value is None else str(value)[:12]


def _param_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    out = []
    for k in sorted(set(old) | set(new)):
        if k not in old:
            out.append(f"parameter {k} added: {new[k]!r}")
        elif k not in new:
            out.append(f"parameter {k} removed (was {old[k]!r})")
        elif old[k] != new[k]:
            out.append(f"parameter {k} changed: {old[k]!r} -> {new[k]!r}")
    return out


def _input_changes(old: dict[str, Any], new: dict[str, Any], old_files: dict[str, Any],
                   new_files: dict[str, Any]) -> list[str]:
    out = []
    for name in sorted(set(old) | set(new)):
        if name not in old:
            out.append(f"input {name} added")
        elif name not in new:
            out.append(f"input {name} removed")
        elif old[name]["identity"] != new[name]["identity"]:
            out.append(f"input {name} now reads {new[name]['identity']} "
                       f"(was {old[name]['identity']})")
        elif old[name]["digest"] != new[name]["digest"]:
            out.append(f"input {name} changed: " + describe_change(
                old_files.get(name) or {}, new_files.get(name) or {},
                old[name]["digest"], new[name]["digest"]))
    return out


def describe_change(old: dict[str, Any], new: dict[str, Any], old_digest: str = "",
                    new_digest: str = "") -> str:
    """``etag a -> b`` for one file; files added/removed/changed for a folder."""
    a, b = old.get("files") or {}, new.get("files") or {}
    if set(a) == {""} and set(b) == {""}:
        return marker_change(a[""], b[""])
    added = sorted(set(b) - set(a))
    removed = sorted(set(a) - set(b))
    changed = sorted(k for k in set(a) & set(b) if a[k] != b[k])
    parts = []
    if added:
        parts.append(f"{len(added)} file(s) added ({_names(added)})")
    if removed:
        parts.append(f"{len(removed)} file(s) removed ({_names(removed)})")
    if changed:
        shown = ", ".join(f"{k}: {marker_change(a[k], b[k])}" for k in changed[:3])
        more = f" and {len(changed) - 3} more" if len(changed) > 3 else ""
        parts.append(f"{len(changed)} file(s) changed ({shown}{more})")
    if not parts:
        return f"content fingerprint {old_digest[:8]} -> {new_digest[:8]}"
    return "; ".join(parts)


def _names(names: list[str]) -> str:
    return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def marker_change(old: str, new: str) -> str:
    """``etag a -> b`` or ``size 3 -> 4, mtime t1 -> t2`` between two file markers."""
    pa, pb = _parse_marker(old), _parse_marker(new)
    if set(pa) != set(pb):
        return f"{old} -> {new}"
    changes = [f"{k} {_show(k, pa[k])} -> {_show(k, pb[k])}" for k in pa if pa[k] != pb[k]]
    return ", ".join(changes) or f"{old} -> {new}"


def _parse_marker(marker: str) -> dict[str, str]:
    kind, _, value = marker.partition(":")
    if kind in ("etag", "md5"):
        return {kind: value}
    parts = dict(p.split(":", 1) for p in marker.split(",") if ":" in p)
    return parts or {"marker": marker}


def _show(key: str, value: str) -> str:
    if key == "mtime":
        try:
            ts = float(value)
        except ValueError:
            return value
        return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return value
