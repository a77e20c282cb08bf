"""TensorBoard over runs: a real TensorBoard process reading the event files a run wrote under
./logs with torch's SummaryWriter."""

from __future__ import annotations

import time

import pytest

from cumulus import Experiment, ScriptRunConfig
from cumulus.errors import CumulusError, ValidationError

pytestmark = [pytest.mark.integration]
pytest.importorskip("tensorboard")
pytest.importorskip("torch")

WRITER = """
from torch.utils.tensorboard import SummaryWriter
w = SummaryWriter("logs/tb")
for i in range(5):
    w.add_scalar("loss", 1.0 / (i + 1), i)
w.close()
print("wrote 5 points")
"""


def test_tensorboard_shows_a_runs_scalars(workspace, script_dir) -> None:  # type: ignore[no-untyped-def]
    import httpx

    from cumulus.tensorboard import Tensorboard

    exp = Experiment(workspace, "tensorboard")
    run = exp.submit(ScriptRunConfig(source_directory=str(script_dir({"w.py": WRITER})),
                                     script="w.py"))
    assert run.wait_for_completion(raise_on_error=False, timeout=180)["status"] == \
        "Completed", run.get_log()
    tb = Tensorboard([run], port=0)
    url = tb.start()
    try:
        assert url.startswith("http://127.0.0.1:")
        deadline = time.monotonic() + 60
        while True:
            tags = httpx.get(url + "data/plugin/scalars/tags", timeout=5).json()
            names = [name for name, t in tags.items() if "loss" in t]
            if names or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert names and names[0].startswith(run.id), tags
        points = httpx.get(url + "data/plugin/scalars/scalars",
                           params={"run": names[0], "tag": "loss"}, timeout=5).json()
        assert [p[1] for p in points] == [0, 1, 2, 3, 4]
        proc = tb.proc
    finally:
        tb.stop()
    assert proc is not None and proc.poll() is not None       # nothing left running

    silent = exp.submit(ScriptRunConfig(source_directory=str(script_dir({"s.py": "print(1)"})),
                                        script="s.py"))
    silent.wait_for_completion(timeout=120)
    with pytest.raises(CumulusError, match="no TensorBoard event files"):
        Tensorboard([silent], port=0).start()
    with pytest.raises(ValidationError, match="at least one run"):
        Tensorboard([])
