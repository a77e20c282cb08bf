"""Distributed data-parallel training with torch (gloo on CPU), launched by Cumulus.

Cumulus starts `process_count_per_node` processes on each of `node_count` nodes and sets
MASTER_ADDR, MASTER_PORT, RANK, WORLD_SIZE, LOCAL_RANK and NODE_RANK, so the standard
`init_process_group("gloo")` just works. Rank 0's metrics are the run's metrics.

    from cumulus import ScriptRunConfig, PyTorchDistribution
    src = ScriptRunConfig(source_directory="examples/distributed", script="train_ddp.py",
                          arguments=["--epochs", 3], compute_target="cpu-cluster",
                          distribution=PyTorchDistribution(node_count=2))
"""

import argparse
import hashlib
import json
import os

import torch
import torch.distributed as dist
from torch import nn

from cumulus import Run

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=3)
parser.add_argument("--steps", type=int, default=20)
args = parser.parse_args()

dist.init_process_group("gloo")
rank, world = dist.get_rank(), dist.get_world_size()
torch.manual_seed(1234 + rank)  # different data per rank; DDP syncs the parameters
model = nn.parallel.DistributedDataParallel(nn.Sequential(nn.Linear(8, 16), nn.ReLU(),
                                                          nn.Linear(16, 1)))
opt = torch.optim.SGD(model.parameters(), lr=0.05)
true_w = torch.arange(8, dtype=torch.float32) / 8
run = Run.get_context()
for epoch in range(args.epochs):
    for _ in range(args.steps):
        x = torch.randn(32, 8)
        y = (x @ true_w).unsqueeze(1)
        loss = nn.functional.mse_loss(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    run.log("loss", float(loss))
    print(f"rank {rank}/{world} epoch {epoch} loss {float(loss):.4f}", flush=True)

flat = torch.cat([p.detach().flatten() for p in model.parameters()])
digest = hashlib.sha256(flat.numpy().tobytes()).hexdigest()
os.makedirs("outputs", exist_ok=True)
with open(f"outputs/params_rank{rank}.json", "w") as fh:
    json.dump({"rank": rank, "world": world, "digest": digest}, fh)
print(f"rank {rank} parameter digest {digest}", flush=True)
dist.barrier()   # every rank is done with gloo before any tears it down
dist.destroy_process_group()
