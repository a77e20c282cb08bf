"""Docs that run: every ``python`` and ``bash`` code block of README.md and docs/*.md, pasted in
order into a fresh directory (with the repository's ``examples/`` beside it, as in a checkout),
runs. Blocks share one Python namespace per document, as in a notebook; ``bash`` blocks run in
the same directory with the ``cumulus`` command of this installation on PATH. The guides under
docs/ start where ``cumulus init`` ran (they assume a workspace); the README starts empty.

A block that cannot run in a fresh directory (the install commands CI itself runs, a server that
never returns, a snippet of another product's code shown for comparison) is preceded by
``<!-- docs-test: skip REASON -->``; the reason is required, and everything else runs.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
SKIP = re.compile(r"<!--\s*docs-test:\s*skip\s+(\S.*?)\s*-->")
FENCE = re.compile(r"^```(\w*)\s*$")
RUNNABLE = ("python", "bash")

DRIVER = r'''
import json, os, subprocess, sys, traceback
blocks = json.load(open(sys.argv[1]))
namespace = {"__name__": "__main__"}
for b in blocks:
    where = f"{b['doc']}:{b['line']}"
    print(f"=== {where} ({b['lang']})", flush=True)
    if b["lang"] == "bash":
        proc = subprocess.run(["bash", "-euo", "pipefail", "-c", b["code"]])
        if proc.returncode:
            print(f"DOCS-TEST FAILED at {where}: exit code {proc.returncode}", flush=True)
            sys.exit(1)
        continue
    try:
        exec(compile(b["code"], where, "exec"), namespace)
    except BaseException:
        traceback.print_exc()
        print(f"DOCS-TEST FAILED at {where}", flush=True)
        sys.exit(1)
print("DOCS-TEST OK", flush=True)
'''


@dataclass(frozen=True)
class Block:
    doc: str
    line: int
    lang: str
    code: str
    skip: str | None


def blocks_of(path: Path) -> list[Block]:
    """The fenced code blocks of a Markdown file, each with the skip reason before it."""
    lines = path.read_text().splitlines()
    out: list[Block] = []
    i = 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        start, lang = i, match.group(1)
        body: list[str] = []
        i += 1
        while i < len(lines) and not lines[i].startswith("```"):
            body.append(lines[i])
            i += 1
        before = next((ln for ln in reversed(lines[:start]) if ln.strip()), "")
        skip = SKIP.search(before)
        out.append(Block(path.name, start + 1, lang, "\n".join(body) + "\n",
                         skip.group(1) if skip else None))
        i += 1
    return out


def test_blocks_are_found_with_their_skip_reasons(tmp_path: Path) -> None:
    doc = tmp_path / "d.md"
    doc.write_text("text\n\n```python\nx = 1\n```\n<!-- docs-test: skip never returns -->\n"
                   "```bash\ncumulus ui\n```\n```yaml\na: 1\n```\n")
    assert blocks_of(doc) == [Block("d.md", 3, "python", "x = 1\n", None),
                              Block("d.md", 7, "bash", "cumulus ui\n", "never returns"),
                              Block("d.md", 10, "yaml", "a: 1\n", None)]


def _stop_everything(root: Path) -> None:
    from cumulus import Workspace
    from cumulus.services import stop_services

    for config in root.rglob("cumulus.yaml"):
        try:
            stop_services(Workspace.from_config(config.parent))
        except Exception as exc:   # report, keep stopping the others
            print(f"could not stop the services of {config.parent}: {exc}")


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.timeout(1200)
@pytest.mark.parametrize("doc", DOCS, ids=[d.name for d in DOCS])
def test_every_code_block_runs_when_pasted_in_order(doc: Path, tmp_path: Path) -> None:
    blocks = [b for b in blocks_of(doc) if b.lang in RUNNABLE and b.skip is None]
    if not blocks:
        pytest.skip(f"{doc.name} has no runnable block")
    work = tmp_path / "fresh"
    shutil.copytree(REPO / "examples", work / "examples")
    (tmp_path / "blocks.json").write_text(json.dumps([asdict(b) for b in blocks]))
    (tmp_path / "driver.py").write_text(DRIVER)
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
           "PYTHONPATH": str(REPO / "src")}
    env.pop("CUMULUS_WORKSPACE", None)
    if doc.name != "README.md":      # the guides assume a workspace; the README makes its own
        subprocess.run([sys.executable, "-m", "cumulus", "init"], cwd=work, env=env,
                       check=True, capture_output=True, timeout=120)
    try:
        proc = subprocess.run([sys.executable, str(tmp_path / "driver.py"),
                               str(tmp_path / "blocks.json")], cwd=work, env=env,
                              capture_output=True, text=True, timeout=900)
    finally:
        _stop_everything(work)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0 and "DOCS-TEST OK" in proc.stdout, out[-6000:]
