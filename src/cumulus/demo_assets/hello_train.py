"""Hello, Cumulus: a tiny training loop that logs metrics and writes an output.

Run it with `cumulus run examples/hello/train.py --experiment hello --follow`, or plainly with
`python examples/hello/train.py` (an offline run that prints its metrics).
"""

import argparse
import json
import math
import os
import time

from cumulus import Run

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=5)
parser.add_argument("--lr", type=float, default=0.5)
args = parser.parse_args()

run = Run.get_context()
w = 0.0
for epoch in range(args.epochs):
    w += args.lr * (1.0 - w)  # converge towards 1.0
    loss = (1.0 - w) ** 2
    run.log("loss", loss)
    run.log("accuracy", 1.0 - math.sqrt(loss))
    print(f"epoch {epoch}: loss={loss:.4f}", flush=True)
    time.sleep(0.2)

os.makedirs("outputs", exist_ok=True)
with open("outputs/model.json", "w") as fh:
    json.dump({"w": w, "epochs": args.epochs}, fh)
print("wrote outputs/model.json")
