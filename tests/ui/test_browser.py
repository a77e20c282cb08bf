"""The web app in a real headless Chromium (Debian's package, driven by Playwright): the runs
list, a running run whose new log lines and metric points appear without a reload, a comparison,
a sweep's parallel coordinates and a pipeline's step graph. Screenshots of each page are saved
under $CUMULUS_TEST_ARTIFACTS (default: the test's tmp folder)."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from cumulus.flows import Input, Output, pipeline, step

from .conftest import Server

pytestmark = [pytest.mark.integration, pytest.mark.slow]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@step
def make_numbers(out: Output) -> None:
    (Path(out) / "n.txt").write_text("1 2 3")


@step
def add_numbers(data: Input) -> int:
    return sum(map(int, (Path(data) / "n.txt").read_text().split()))


@pipeline(name="ui-graph")
def graph_pipeline():  # type: ignore[no-untyped-def]
    add_numbers(data=make_numbers())


@pytest.fixture(scope="module")
def browser():  # type: ignore[no-untyped-def]
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; .ci/run installs Debian's chromium")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        b.close()


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("CUMULUS_TEST_ARTIFACTS") or tmp_path) / "ui-screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_the_web_app_pages(browser, server: Server, ui_ws, shots: Path) -> None:  # type: ignore[no-untyped-def]
    from cumulus import Experiment, ScriptRunConfig
    from cumulus.flows import stop_services

    ws, src = ui_ws["ws"], ui_ws["src"]
    (src / "live.py").write_text(
        "import time\nfrom cumulus import Run\nrun = Run.get_context()\n"
        "for i in range(40):\n    run.log('loss', 1.0 / (i + 1))\n"
        "    print('step', i, flush=True)\n    time.sleep(0.5)\n")
    live = Experiment(ws, "ui-demo").submit(ScriptRunConfig(source_directory=str(src),
                                                            script="live.py"))
    prun = Experiment(ws, "ui-demo").submit(graph_pipeline)
    page = browser.new_page(viewport={"width": 1300, "height": 900})
    try:
        page.goto(f"{server.base}/?token={server.token}")
        page.wait_for_selector("#runs tr[data-run]")
        page.screenshot(path=str(shots / "runs.png"), full_page=True)

        deadline = time.monotonic() + 90
        while live.get_status() != "Running" and time.monotonic() < deadline:
            time.sleep(0.2)
        page.goto(f"{server.base}/#/runs/{live.id}")
        page.wait_for_selector(".chart[data-metric=loss]", timeout=20_000)
        points = int(page.get_attribute(".chart[data-metric=loss]", "data-points") or 0)
        lines = page.inner_text("#log").count("step ")
        # a new metric point and a new log line appear within 2 s, without a reload
        page.wait_for_function(
            f"() => Number(document.querySelector('.chart[data-metric=loss]').dataset.points)"
            f" > {points}", timeout=2000)
        page.wait_for_function(
            f"() => document.querySelector('#log').textContent.split('step ').length - 1"
            f" > {lines}", timeout=2000)
        page.screenshot(path=str(shots / "run-live.png"), full_page=True)
        live.cancel()

        a, b = ui_ws["runs"]
        page.goto(f"{server.base}/#/compare?ids={a.id},{b.id}")
        page.wait_for_selector("#params")
        assert page.locator("#overlay .chart[data-metric=loss] polyline").count() == 2
        assert page.locator("#params th").count() == 3
        page.screenshot(path=str(shots / "compare.png"), full_page=True)

        page.goto(f"{server.base}/#/runs/{ui_ws['sweep'].id}")
        page.wait_for_selector("#parallel polyline.trial")
        assert page.locator("#parallel polyline.trial").count() == 3
        page.screenshot(path=str(shots / "sweep.png"), full_page=True)

        prun.wait_for_completion(timeout=240)
        page.goto(f"{server.base}/#/runs/{prun.id}")
        page.wait_for_selector("#graph g.step")
        statuses = page.eval_on_selector_all("#graph g.step",
                                             "gs => gs.map(g => g.dataset.status)")
        assert statuses == ["Completed", "Completed"]
        assert page.locator("#graph line").count() == 1   # make_numbers -> add_numbers
        page.screenshot(path=str(shots / "pipeline.png"), full_page=True)

        from cumulus.compute import Quota

        Quota.set(ws, "local", runs=7)
        page.goto(f"{server.base}/#/compute")           # node counts over time, quotas
        page.wait_for_selector(".history[data-target=local][data-samples]")
        row = page.inner_text("#quotas tr[data-scope=local]")
        assert "/ 7" in row and row.startswith("local"), row
        assert int(page.get_attribute(".history[data-target=local]", "data-samples") or 0) >= 1
        assert page.locator(".history[data-target=local] polyline").count() == 3
        page.screenshot(path=str(shots / "compute.png"), full_page=True)
    finally:
        from cumulus.compute import Quota

        Quota.clear(ws, "local")
        page.close()
        stop_services(ws)
        if live.get_status() not in ("Completed", "Failed", "Canceled"):
            live.cancel()
