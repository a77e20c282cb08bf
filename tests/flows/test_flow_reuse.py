"""Reuse keys, fingerprints and the reasons a step ran (pure, literals)."""

from __future__ import annotations

from cumulus.flows._reuse import (
    MAX_LISTED_FILES,
    components,
    describe_change,
    explain,
    file_marker,
    fingerprint,
    marker_change,
    reuse_key,
)


def _comps(**over):  # type: ignore[no-untyped-def]
    base = dict(kind="function", code="c1", params={"lr": 0.1}, environment=None,
                inputs={"raw": ("ws:raw.csv", fingerprint([("", {"size": 3, "ETag": '"a"'})]))},
                outputs={"clean": {"datastore": "ws", "path": "p/{step}"}})
    base.update(over)
    return components(**base)


def test_markers_prefer_etag_then_md5_then_size_mtime() -> None:
    assert file_marker({"ETag": '"abc"', "size": 1, "mtime": 5}) == "etag:abc"
    assert file_marker({"etag": "0x1", "size": 1}) == "etag:0x1"
    assert file_marker({"content_settings": {"content_md5": bytearray(b"\x01\x02")},
                        "size": 1}) == "md5:0102"
    assert file_marker({"md5Hash": "zz", "size": 1}) == "md5:zz"
    assert file_marker({"size": 4, "mtime": 1.5}) == "size:4,mtime:1.5"
    assert file_marker({"size": 4, "LastModified": "2026-01-01"}) == \
        "size:4,mtime:2026-01-01"


def test_fingerprint_is_order_independent_and_content_sensitive() -> None:
    a = fingerprint([("x", {"size": 1, "mtime": 1}), ("y", {"size": 2, "mtime": 2})])
    b = fingerprint([("y", {"size": 2, "mtime": 2}), ("x", {"size": 1, "mtime": 1})])
    c = fingerprint([("y", {"size": 2, "mtime": 3}), ("x", {"size": 1, "mtime": 1})])
    assert a == b and a["digest"] != c["digest"]
    assert a["count"] == 2 and a["bytes"] == 3 and not a["truncated"]


def test_fingerprint_lists_a_bounded_number_of_files() -> None:
    many = [(f"f{i:04d}", {"size": 1, "mtime": i}) for i in range(MAX_LISTED_FILES + 5)]
    fp = fingerprint(many)
    assert fp["count"] == MAX_LISTED_FILES + 5 and len(fp["files"]) == MAX_LISTED_FILES
    assert fp["truncated"]


def test_key_is_stable_and_covers_every_component() -> None:
    key = reuse_key(_comps())
    assert key == reuse_key(_comps()) and len(key) == 64
    changed = [
        _comps(code="c2"), _comps(params={"lr": 0.2}), _comps(environment="env1"),
        _comps(kind="script"), _comps(outputs={}),
        _comps(inputs={"raw": ("ws:other.csv", fingerprint([("", {"size": 3, "ETag": "a"})]))}),
        _comps(inputs={"raw": ("ws:raw.csv", fingerprint([("", {"size": 3, "ETag": "b"})]))}),
    ]
    assert len({reuse_key(c) for c in changed} | {key}) == len(changed) + 1


def test_explain_names_the_changed_input_with_its_etags() -> None:
    old = fingerprint([("", {"size": 3, "ETag": '"a"'})])
    new = fingerprint([("", {"size": 3, "ETag": '"b"'})])
    prev = _comps(inputs={"raw": ("ws:raw.csv", old)})
    cur = _comps(inputs={"raw": ("ws:raw.csv", new)})
    assert explain(cur, prev, {"raw": new}, {"raw": old}) == ["input raw changed: etag a -> b"]


def test_explain_parameters_code_environment_outputs() -> None:
    prev = _comps()
    cur = _comps(code="c2", params={"lr": 0.5, "epochs": 3}, environment="e",
                 outputs={"clean": {"datastore": "blob", "path": "p"}})
    reasons = explain(cur, prev)
    assert "code changed: c1 -> c2" in reasons
    assert "parameter epochs added: 3" in reasons
    assert "parameter lr changed: 0.1 -> 0.5" in reasons
    assert "environment changed: none -> e" in reasons
    assert "output declarations changed" in reasons


def test_explain_without_an_earlier_run() -> None:
    assert explain(_comps(), None) == ["no earlier run with this key"]


def test_folder_changes_list_added_removed_and_changed_files() -> None:
    old = {"files": {"a.csv": "size:1,mtime:1", "b.csv": "etag:x", "gone.csv": "etag:g"}}
    new = {"files": {"a.csv": "size:2,mtime:1", "b.csv": "etag:y", "new.csv": "etag:n"}}
    text = describe_change(old, new)
    assert "1 file(s) added (new.csv)" in text
    assert "1 file(s) removed (gone.csv)" in text
    assert "a.csv: size 1 -> 2" in text and "b.csv: etag x -> y" in text


def test_marker_change_formats_mtimes() -> None:
    assert marker_change("size:3,mtime:0", "size:3,mtime:60") == \
        "mtime 1970-01-01T00:00:00.000000Z -> 1970-01-01T00:01:00.000000Z"
    assert marker_change("etag:a", "size:1,mtime:2") == "etag:a -> size:1,mtime:2"
