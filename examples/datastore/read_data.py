"""A script that reads a downloaded input and a mounted input and writes an uploaded output."""

import argparse
import os
from pathlib import Path

from cumulus import Run

parser = argparse.ArgumentParser()
parser.add_argument("--downloaded", required=True)
parser.add_argument("--mounted", required=True)
parser.add_argument("--out", required=True)
args = parser.parse_args()

run = Run.get_context()
for label, folder in (("downloaded", args.downloaded), ("mounted", args.mounted)):
    files = sorted(p for p in Path(folder).rglob("*") if p.is_file())
    total = sum(len(p.read_bytes()) for p in files)
    print(f"{label}: {folder} has {len(files)} file(s), {total} bytes", flush=True)
    run.log(f"{label}_bytes", total)
Path(args.out, "summary.txt").write_text(f"read {args.downloaded} and {args.mounted}\n")
print("env:", sorted(k for k in os.environ if k.startswith(("CUMULUS_INPUT", "CUMULUS_OUTPUT"))))
