"""Container runs on a real private dockerd, through the real local compute target."""

from __future__ import annotations

import io
import json
import os
import platform
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from cumulus import Environment, Experiment, ScriptRunConfig
from cumulus.environment import environment_definition
from cumulus.errors import EnvironmentBuildError, RunError
from cumulus.tasks import containers
from cumulus.tasks.containers import _limits, _platform, parse_probe, wrap_for_container

pytestmark = pytest.mark.integration

BOX = """
import os, sys
from cumulus import Run
import six
run = Run.get_context()
def read(*paths):
    for p in paths:
        try:
            return open(p).read().strip()
        except OSError:
            pass
    return ""
run.log("six", six.__version__)
run.log("six_path", six.__file__)
run.log("exe", sys.executable)
run.log("greeting", os.environ.get("GREETING", ""))
run.log("cpu_quota", read("/sys/fs/cgroup/cpu.max", "/sys/fs/cgroup/cpu/cpu.cfs_quota_us"))
run.log("input", open(sys.argv[1]).read())
os.makedirs("outputs", exist_ok=True)
open("outputs/result.txt", "w").write("from the container")
print("container says hi", flush=True)
"""

MARKER = """
import sys
from cumulus import Run
Run.get_context().log("marker", open("/etc/cumulus-marker").read().strip())
sys.exit(int(sys.argv[1]))
"""

SLEEPER = """
import time
print("started", flush=True)
for i in range(600):
    time.sleep(0.1)
"""


def _exp(workspace) -> Experiment:  # type: ignore[no-untyped-def]
    return Experiment(workspace, "env-containers")


def _history(run) -> list[str]:  # type: ignore[no-untyped-def]
    return [e["status"] for e in run.get_details()["statusHistory"]]


def test_image_with_pip_layer_runs_and_is_cached(workspace, docker_env, box_target,  # type: ignore[no-untyped-def]
                                                  script_dir, tmp_path) -> None:
    ds = workspace.get_default_datastore()
    data = tmp_path / "in.txt"
    data.write_text("input bytes")
    ds.upload_files([str(data)], relative_root=str(tmp_path), target_path="envtest",
                    overwrite=True)
    env = Environment("box", image=docker_env.base_image, pip=["six==1.16.0"],
                      env_vars={"GREETING": "hello from env_vars"})
    src = script_dir({"box.py": BOX})
    cfg = ScriptRunConfig(source_directory=src, script="box.py", environment=env,
                          arguments=[ds.path("envtest/in.txt").as_download()],
                          resources={"cpus": 1}, compute_target=box_target)
    run = _exp(workspace).submit(cfg)
    out = io.StringIO()
    details = run.wait_for_completion(show_output=True, stream=out, timeout=300)
    log = out.getvalue()
    assert details["status"] == "Completed", log
    m = run.get_metrics()
    assert m["six"] == "1.16.0" and m["six_path"].startswith(containers.SITE)
    assert m["exe"] == "/usr/bin/python3"  # the image's interpreter, not the worker's
    assert m["greeting"] == "hello from env_vars"
    assert "100000" in m["cpu_quota"]  # cpus=1: a quota of one period
    assert m["input"] == "input bytes"
    assert "outputs/result.txt" in run.get_file_names()
    assert "[uv]" in log and "[docker]" in log and "container says hi" in log
    # probed in the bookworm image (Python 3.11, glibc 2.36)
    assert f"for Python 3.11 ({platform.machine()}-manylinux_2_36)" in log
    assert docker_env.containers_of(run.id) == []  # removed after the run
    again = _exp(workspace).submit(cfg)
    assert again.wait_for_completion(timeout=300)["status"] == "Completed"
    log2 = again.get_log()
    assert "using cached image" in log2 and "[docker]" not in log2 and "[uv]" not in log2


def test_dockerfile_run_and_exit_code(workspace, docker_env, box_target, script_dir) -> None:  # type: ignore[no-untyped-def]
    env = Environment("df", dockerfile=f"FROM {docker_env.base_image}\n"
                                       "RUN echo built-by-dockerfile > /etc/cumulus-marker\n")
    src = script_dir({"marker.py": MARKER})
    ok = _exp(workspace).submit(ScriptRunConfig(source_directory=src, script="marker.py",
                                                arguments=[0], environment=env,
                                                compute_target=box_target))
    assert ok.wait_for_completion(timeout=300)["status"] == "Completed", ok.get_log()
    assert ok.get_metrics() == {"marker": "built-by-dockerfile"}
    assert "building its Dockerfile" in ok.get_log()
    bad = _exp(workspace).submit(ScriptRunConfig(source_directory=src, script="marker.py",
                                                 arguments=[3], environment=env,
                                                 compute_target=box_target))
    with pytest.raises(RunError) as info:
        bad.wait_for_completion(timeout=300)
    assert info.value.exit_code == 3 and bad.get_metrics() == {"marker": "built-by-dockerfile"}
    assert "using cached Dockerfile image" in bad.get_log() or "using cached image" in \
        bad.get_log()


@pytest.mark.parametrize(("env_kwargs", "expected"), [
    ({"image": "cumulus-test-no-such-image:0"},
     "image 'cumulus-test-no-such-image:0' does not exist on this node's Docker engine"),
    ({"dockerfile": "FROM {base}\nRUN echo failing-step && exit 3\n"},
     "returned a non-zero code: 3"),
    ({"image": "{base}", "pip": ["cumulus-test-no-such-package-c0ffee"]},
     "cumulus-test-no-such-package-c0ffee was not found in the package registry"),
])
def test_bad_environments_fail_in_preparing(workspace, docker_env, box_target,  # type: ignore[no-untyped-def]
                                            script_dir, env_kwargs, expected) -> None:
    kwargs = {k: v.format(base=docker_env.base_image) if isinstance(v, str) else v
              for k, v in env_kwargs.items()}
    src = script_dir({"marker.py": MARKER})
    run = _exp(workspace).submit(ScriptRunConfig(source_directory=src, script="marker.py",
                                                 arguments=[0], compute_target=box_target,
                                                 environment=Environment("bad", **kwargs)))
    with pytest.raises(RunError):
        run.wait_for_completion(timeout=300)
    assert _history(run) == ["Queued", "Preparing", "Failed"]
    message = run.get_details()["error"]["message"]
    assert message.startswith("EnvironmentBuildError: Environment 'bad'")
    assert expected in message


def test_cancel_stops_and_removes_the_container(workspace, docker_env, box_target,  # type: ignore[no-untyped-def]
                                                script_dir) -> None:
    env = Environment("sleepy", image=docker_env.base_image)
    src = script_dir({"sleep.py": SLEEPER})
    run = _exp(workspace).submit(ScriptRunConfig(source_directory=src, script="sleep.py",
                                                 environment=env, compute_target=box_target))
    deadline = time.monotonic() + 120
    while "started" not in run.get_log() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "started" in run.get_log() and run.get_status() == "Running"
    assert len(docker_env.containers_of(run.id)) == 1
    run.cancel()
    details = run.wait_for_completion(timeout=120, raise_on_error=False)
    assert details["status"] == "Canceled"
    deadline = time.monotonic() + 30
    while docker_env.containers_of(run.id) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert docker_env.containers_of(run.id) == []


MEMORY = """
from cumulus import Run
def read(*paths):
    for p in paths:
        try:
            return open(p).read().split()[0]
        except OSError:
            pass
    return "unknown"
limit = read("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes")
Run.get_context().log("memory_limit", limit)
"""


def test_memory_request_becomes_the_container_limit(workspace, docker_env, box_target,  # type: ignore[no-untyped-def]
                                                    script_dir) -> None:
    src = script_dir({"mem.py": MEMORY})
    run = _exp(workspace).submit(ScriptRunConfig(
        source_directory=src, script="mem.py", compute_target=box_target,
        environment=Environment("mem", image=docker_env.base_image),
        resources={"memory": "256MiB"}))
    assert run.wait_for_completion(timeout=300)["status"] == "Completed", run.get_log()
    assert run.get_metrics()["memory_limit"] == str(256 * 1024 * 1024)


def test_cli_builds_an_image_environment(docker_env, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from cumulus import Workspace

    Workspace.create("clibox", path=tmp_path)
    env = {**os.environ, "PYTHONPATH": str(Path(containers.__file__).parents[2]),
           "COLUMNS": "200", "CUMULUS_CACHE_DIR": str(tmp_path / "node-cache")}
    proc = subprocess.run([sys.executable, "-m", "cumulus.cli._entry", "env", "build", "clibox",
                           "--image", docker_env.base_image, "--pip", "six==1.16.0",
                           "--pip", "six!=0.0.3", "--register"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "[docker]" in proc.stdout and "is ready: image cumulus-env:" in proc.stdout
    listed = subprocess.run([sys.executable, "-m", "cumulus.cli._entry", "env", "list",
                             "--json"], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=120)
    rows = json.loads(listed.stdout)
    assert [(r["name"], r["kind"], r["built_here"]) for r in rows] == [("clibox", "image",
                                                                        "yes")]


def _launch(spec: dict, tmp_path: Path) -> subprocess.CompletedProcess[str]:  # type: ignore[type-arg]
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    return subprocess.run([sys.executable, "-m", "cumulus.tasks.containers", str(path)],
                          capture_output=True, text=True, timeout=120)


def test_launcher_replaces_a_stale_container_and_returns_the_exit_code(  # type: ignore[no-untyped-def]
        docker_env, tmp_path: Path) -> None:
    name = "cumulus-stale-run_1"
    docker_env.client.containers.create(docker_env.base_image, ["true"], name=name)
    spec = {"image": docker_env.base_image, "working_dir": str(tmp_path),
            "command": ["python3", "-c", "import sys; print('from inside'); sys.exit(7)"],
            "environment": {}, "mounts": [[str(tmp_path), str(tmp_path), "rw"]],
            "user": f"{os.getuid()}:{os.getgid()}", "limits": {},
            "labels": {"cumulus.run_id": "stale-run_1"}, "name": name}
    proc = _launch(spec, tmp_path)
    assert (proc.returncode, proc.stdout) == (7, "from inside\n"), proc.stderr
    assert docker_env.containers_of("stale-run_1") == []
    missing = _launch({**spec, "image": "cumulus-test-no-such-image:0"}, tmp_path)
    assert missing.returncode == containers.START_FAILED
    assert "the container could not be created" in missing.stdout


def test_container_stops_when_the_executor_process_dies(docker_env, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    spec = {"image": docker_env.base_image, "working_dir": str(tmp_path),
            "command": ["python3", "-c", "import time; print('up', flush=True); time.sleep(120)"],
            "environment": {}, "mounts": [[str(tmp_path), str(tmp_path), "rw"]],
            "user": f"{os.getuid()}:{os.getgid()}", "limits": {},
            "labels": {"cumulus.run_id": "orphan-run_1"}, "name": "cumulus-orphan-run_1"}
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    # a stand-in for the executor: starts the launcher, then is killed like a lost worker
    parent = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import subprocess, sys, time
        subprocess.Popen([sys.executable, "-m", "cumulus.tasks.containers",
                          {str(tmp_path / "spec.json")!r}])
        time.sleep(300)
    """)])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not [
            c for c in docker_env.containers_of("orphan-run_1") if c.status == "running"]:
        time.sleep(0.1)
    assert [c.status for c in docker_env.containers_of("orphan-run_1")] == ["running"]
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 60
    while docker_env.containers_of("orphan-run_1") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert docker_env.containers_of("orphan-run_1") == []


CONCURRENT = textwrap.dedent("""
    import json, sys
    from cumulus.environment import Environment
    from cumulus.tasks.containers import ensure_image
    import os
    lines = []
    def log(line):
        lines.append(line)
        if "waiting" in line:     # tell the test this process waits for the build lock
            with open(os.environ["WAIT_MARKS"], "a") as fh:
                fh.write("w\\n")
    tag = ensure_image(Environment.from_dict(json.loads(sys.argv[1])), log)
    print(json.dumps({"tag": tag, "lines": lines}))
""")


def _waiters(marks: Path) -> int:
    """Processes that said they wait for the build lock (the script's log marks it)."""
    return len(marks.read_text().split()) if marks.exists() else 0


def test_concurrent_builds_of_one_image_build_once(docker_env, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import fcntl

    env = Environment("shared-img", image=docker_env.base_image, pip=["six==1.15.0"])
    script = tmp_path / "build.py"
    script.write_text(CONCURRENT)
    lock = tmp_path / "cache" / "images" / f"{env.build_hash}.lock"
    lock.parent.mkdir(parents=True)
    marks = tmp_path / "waiting"
    penv = {**os.environ, "CUMULUS_CACHE_DIR": str(tmp_path / "cache"), "WAIT_MARKS": str(marks)}
    with open(lock, "a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        procs = [subprocess.Popen([sys.executable, str(script), json.dumps(env.to_dict())],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  env=penv) for _ in range(3)]
        deadline = time.monotonic() + 60
        while _waiters(marks) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _waiters(marks) == 3
        fcntl.flock(held, fcntl.LOCK_UN)
    results = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        results.append(json.loads(out))
    assert len({r["tag"] for r in results}) == 1
    built = [r for r in results if any("installing" in ln for ln in r["lines"])]
    reused = [r for r in results if any("built by another run" in ln for ln in r["lines"])]
    assert (len(built), len(reused)) == (1, 2), [r["lines"] for r in results]
    assert containers.cached_image(env)


# pieces that need no engine ----------------------------------------------------------------
@pytest.mark.parametrize(("machine", "libc", "expected"), [
    ("x86_64", "glibc 2.36", "x86_64-manylinux_2_36"),
    ("x86_64", "glibc 2.17", "x86_64-manylinux_2_17"),
    ("aarch64", "glibc 2.41", "aarch64-manylinux_2_40"),
    ("arm64", "glibc 2.31", "aarch64-manylinux_2_31"),
    ("x86_64", "musl", "x86_64-unknown-linux-musl"),
    ("riscv64", "glibc 2.36", "linux"),
])
def test_platform_for_uv(machine: str, libc: str, expected: str) -> None:
    assert _platform(machine, libc) == expected


@pytest.mark.parametrize(("output", "expected"), [
    ("3 11 x86_64 glibc 2.36\n", ("3.11", "x86_64-manylinux_2_36")),
    ("3 12 aarch64 musl\n", ("3.12", "aarch64-unknown-linux-musl")),
])
def test_parse_probe(output: str, expected: tuple[str, str]) -> None:
    assert parse_probe(output) == expected


def test_limits_from_resources() -> None:
    assert _limits({"cpus": 1.5, "memory": "512MiB"}) == {"nano_cpus": 1_500_000_000,
                                                         "mem_limit": 512 * 1024 * 1024}
    assert _limits({}) == {}


def test_non_container_runs_are_not_wrapped(tmp_path: Path) -> None:
    definition = {"environment": environment_definition(Environment(pip=["six"]))}
    argv = ["python", "train.py"]
    assert wrap_for_container(definition, argv, {}, tmp_path, print) is argv
    assert wrap_for_container({"environment": None}, argv, {}, tmp_path, print) is argv


def test_unreachable_engine_is_a_clear_error(monkeypatch: pytest.MonkeyPatch,
                                             tmp_path: Path) -> None:
    monkeypatch.setenv("CUMULUS_DOCKER_HOST", f"unix://{tmp_path}/nothing.sock")
    with pytest.raises(EnvironmentBuildError, match=r"No Docker engine answers at unix://.*"
                                                    r"nothing\.sock.*CUMULUS_DOCKER_HOST"):
        containers.ensure_image(Environment("x", image="img:1"), print)
