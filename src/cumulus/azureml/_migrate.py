"""``cumulus migrate``: rewrite Azure ML SDK v1 imports in ``.py`` files and ``.ipynb`` notebooks.

``from azureml.X import Y`` becomes ``from cumulus.azureml.X import Y``; ``import azureml.X``
becomes ``import cumulus.azureml.X`` plus ``from cumulus import azureml`` so that code spelling
``azureml.core.VERSION`` keeps working. Nothing else changes: calls stay as they are (the
adapters accept them). Then every imported name that Cumulus does not provide, and every call
that has no meaning off Azure, is listed with file:line and what to do.

A file with a syntax error (a notebook with one in any code cell) is reported and left
untouched; files are replaced atomically, so nothing is ever half-rewritten.
"""

from __future__ import annotations

import ast
import difflib
import importlib
import json
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

#: calls that exist in the SDK but have no local meaning, with what to do instead
UNSUPPORTED_CALLS = {
    "AksWebservice": "deploy with LocalWebservice.deploy_configuration(port=...) or package a "
                     "Docker image with Model.package(...)",
    "AksCompute": "use a Cumulus compute target (AmlCompute.provisioning_configuration)",
    "DataTransferStep": "copy data in a PythonScriptStep (datastore download/upload)",
    "register_azure_file_share": "register the files as a folder or blob container",
    "ContainerRegistry": "no registry is needed: environments are built on each node",
    "Keyvault": "put secrets in environment variables; Cumulus stores them by reference",
    "get_default_keyvault": "put secrets in environment variables; Cumulus stores them by "
                            "reference",
}
INSTALL_SDK = re.compile(r"^\s*[!%]\s*pip\s+install\b.*\bazureml", re.I)
MAGIC = re.compile(r"^\s*[!%?]")


@dataclass
class Finding:
    path: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


@dataclass
class FileResult:
    path: Path
    changed: bool = False
    imports: int = 0
    diff: str = ""
    error: str | None = None
    findings: list[Finding] = field(default_factory=list)


def _module_exists(module: str) -> bool:
    try:
        importlib.import_module("cumulus." + module)
        return True
    except ImportError:
        return False


def _check_names(module: str, names: list[str], where: str, line: int,
                 out: list[Finding]) -> None:
    if not _module_exists(module):
        out.append(Finding(where, line, f"module {module!r} has no Cumulus equivalent; see "
                           "docs/migration.md for the names Cumulus maps"))
        return
    mod = importlib.import_module("cumulus." + module)
    for name in names:
        if name == "*" or hasattr(mod, name) or _module_exists(f"{module}.{name}"):
            continue
        out.append(Finding(where, line, f"{module}.{name} is not provided by Cumulus; see "
                           "docs/migration.md for the equivalent"))


def rewrite_source(source: str, where: str, line_offset: int = 0,
                   ) -> tuple[str, int, list[Finding]]:
    """(new source, imports rewritten, findings) for one Python source; raises SyntaxError."""
    tree = ast.parse(source)
    lines = source.splitlines(keepends=True)
    findings: list[Finding] = []
    edits: list[tuple[int, int, str]] = []  # (first line, last line) 0-based, new text
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and \
                (node.module == "azureml" or node.module.startswith("azureml.")):
            first, last = node.lineno - 1, (node.end_lineno or node.lineno) - 1
            text = "".join(lines[first:last + 1])
            new = re.sub(r"^(\s*from\s+)azureml\b", r"\1cumulus.azureml", text, count=1)
            edits.append((first, last, new))
            _check_names(node.module, [a.name for a in node.names], where,
                         node.lineno + line_offset, findings)
        elif isinstance(node, ast.Import) and any(
                a.name == "azureml" or a.name.startswith("azureml.") for a in node.names):
            first, last = node.lineno - 1, (node.end_lineno or node.lineno) - 1
            indent = re.match(r"\s*", lines[first]).group(0)  # type: ignore[union-attr]
            parts, bind = [], False
            for a in node.names:
                if a.name == "azureml" or a.name.startswith("azureml."):
                    parts.append(f"cumulus.{a.name}" + (f" as {a.asname}" if a.asname else ""))
                    bind = bind or a.asname is None
                    if not _module_exists(a.name):
                        findings.append(Finding(where, node.lineno + line_offset,
                                                f"module {a.name!r} has no Cumulus equivalent"))
                else:
                    parts.append(a.name + (f" as {a.asname}" if a.asname else ""))
            new = f"{indent}import {', '.join(parts)}"
            if bind:
                new += "; from cumulus import azureml"
            tail = lines[last][len(lines[last].rstrip("\r\n")):] or ("\n" if last < len(lines)
                                                                   - 1 else "")
            edits.append((first, last, new + tail))
        elif isinstance(node, ast.Attribute | ast.Name):
            name = node.attr if isinstance(node, ast.Attribute) else node.id
            if name in UNSUPPORTED_CALLS and isinstance(getattr(node, "ctx", None), ast.Load):
                findings.append(Finding(where, node.lineno + line_offset,
                                        f"{name} has no meaning off Azure: "
                                        f"{UNSUPPORTED_CALLS[name]}"))
    for first, last, new in sorted(edits, reverse=True):
        lines[first:last + 1] = [new]
    unique = {(f.line, f.message): f for f in findings}
    return "".join(lines), len(edits), sorted(unique.values(), key=lambda f: f.line)


def _mask_magics(source: str) -> tuple[str, list[int]]:
    """IPython magics and shell lines replaced by ``pass`` (same line count) for parsing."""
    out, magic = [], []
    for i, line in enumerate(source.splitlines(keepends=True)):
        if MAGIC.match(line):
            indent = re.match(r"\s*", line).group(0)  # type: ignore[union-attr]
            out.append(f"{indent}pass\n")
            magic.append(i)
        else:
            out.append(line)
    return "".join(out), magic


def _rewrite_cell(source: str, where: str, offset: int) -> tuple[str, int, list[Finding]]:
    masked, magic = _mask_magics(source)
    new, count, findings = rewrite_source(masked, where, offset)
    original = source.splitlines(keepends=True)
    lines = new.splitlines(keepends=True)
    for i in magic:
        line = original[i]
        if INSTALL_SDK.match(line):
            lines[i] = f"# cumulus migrate: the SDK is Cumulus here: {line.strip()}\n"
            findings.append(Finding(where, offset + i + 1, "installing the Azure ML SDK: "
                                    "commented out (Cumulus provides it: pip install "
                                    "'cumulus-ml[azureml]')"))
            count += 1
        else:
            lines[i] = line
    text = "".join(lines)
    if source and not source.endswith("\n") and text.endswith("\n"):
        text = text[:-1]
    return text, count, findings


def migrate_notebook(path: Path) -> FileResult:
    result = FileResult(path)
    raw = path.read_text()
    try:
        doc = json.loads(raw)
    except json.JSONDecodeError as exc:
        result.error = f"not a notebook (invalid JSON: {exc})"
        return result
    new_sources: list[tuple[dict[str, object], str]] = []
    offset = 0
    for n, cell in enumerate(doc.get("cells") or []):
        src = cell.get("source") or ""
        text = "".join(src) if isinstance(src, list) else str(src)
        if cell.get("cell_type") == "code":
            try:
                new, count, findings = _rewrite_cell(text, f"{path}[cell {n + 1}]", 0)
            except SyntaxError as exc:
                result.error = (f"cell {n + 1} line {exc.lineno}: syntax error ({exc.msg}); "
                                "the notebook was left unchanged")
                return result
            result.imports += count
            result.findings += findings
            if new != text:
                new_sources.append((cell, new))
        offset += text.count("\n") + 1
    for cell, new in new_sources:
        cell["source"] = new.splitlines(keepends=True)
    if new_sources:
        text = json.dumps(doc, indent=1, ensure_ascii=False) + "\n"
        result.diff = _diff(path, raw, text)
        result.changed = True
        result.__dict__["_new"] = text
    return result


def migrate_python(path: Path) -> FileResult:
    result = FileResult(path)
    raw = path.read_text()
    try:
        new, count, findings = rewrite_source(raw, str(path))
    except SyntaxError as exc:
        result.error = f"line {exc.lineno}: syntax error ({exc.msg}); the file was left unchanged"
        return result
    result.imports, result.findings = count, findings
    if new != raw:
        result.changed, result.diff = True, _diff(path, raw, new)
        result.__dict__["_new"] = new
    return result


def _diff(path: Path, old: str, new: str) -> str:
    return "".join(difflib.unified_diff(old.splitlines(keepends=True),
                                        new.splitlines(keepends=True),
                                        f"{path} (before)", f"{path} (after)"))


def _write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.chmod(tmp, path.stat().st_mode & 0o7777)
    os.replace(tmp, path)


def iter_files(paths: list[str]) -> list[Path]:
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out += sorted(f for f in p.rglob("*") if f.suffix in (".py", ".ipynb")
                          and ".ipynb_checkpoints" not in f.parts and ".venv" not in f.parts)
        elif p.is_file():
            out.append(p)
        else:
            raise FileNotFoundError(f"{p} does not exist")
    return out


def migrate(paths: list[str], *, dry_run: bool = False) -> list[FileResult]:
    """Rewrite (or with ``dry_run`` only diff) every ``.py``/``.ipynb`` under ``paths``."""
    results = []
    for path in iter_files(paths):
        result = migrate_notebook(path) if path.suffix == ".ipynb" else migrate_python(path)
        if result.changed and not dry_run:
            _write(path, result.__dict__["_new"])
        results.append(result)
    return results


__all__ = ["FileResult", "Finding", "migrate", "rewrite_source"]
