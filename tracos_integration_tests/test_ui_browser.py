"""The Dagster UI in a real headless Chromium (Debian's package, driven by Playwright)."""

import os
import re
import shutil
import time
from pathlib import Path

import dagster as dg
import pytest

from tracos_integration_tests.factories import client_order, drop
from tracos_integration_tests.live import wait_for

pytestmark = pytest.mark.slow
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SCREENSHOTS = Path(__file__).resolve().parent / "artifacts" / "screenshots"


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM:
        pytest.skip("Debian's chromium package is not installed (.ci/run installs it)")
    playwright_api = pytest.importorskip("playwright.sync_api")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    page.set_default_timeout(60_000)
    yield page
    context.close()


def dismiss_welcome_dialog(page):
    """A first visit shows a 'Join the Dagster community' dialog over the page."""
    skip = page.get_by_role("button", name="Skip")
    try:
        skip.wait_for(timeout=5_000)
    except Exception:
        return
    skip.click()


def sensor_run(live):
    with live.instance() as instance:
        runs = instance.get_runs(filters=dg.RunsFilter(
            job_name="inbound_job", statuses=[dg.DagsterRunStatus.SUCCESS],
            tags={"dagster/sensor_name": "inbound_file_sensor"},
        ))
    return runs[0] if runs else None


def test_sensor_launched_run_shows_success_and_its_counts(live_dagster, page):
    live = live_dagster
    if not sensor_run(live):
        path = drop(live.inbound, "for_the_ui.json", [client_order(901), client_order(902, isDone=True)])
        os.utime(path, (time.time() - 10,) * 2)
    run = wait_for(lambda: sensor_run(live), 180, "a sensor-launched inbound run")

    page.goto(f"{live.url}/runs")
    dismiss_welcome_dialog(page)
    page.get_by_text(run.run_id[:8]).first.wait_for()
    page.screenshot(path=str(SCREENSHOTS / "runs.png"))
    listing = page.locator("body").inner_text()
    assert "inbound_job" in listing and "inbound_file_se" in listing and "Success" in listing

    page.goto(f"{live.url}/runs/{run.run_id}")
    page.get_by_text("RUN_SUCCESS").first.wait_for()
    page.get_by_text("inserted", exact=True).first.wait_for()
    page.screenshot(path=str(SCREENSHOTS / "sensor_run.png"), full_page=True)
    text = page.content()
    for count in ("read", "inserted", "updated", "unchanged", "stale", "rejected"):
        assert re.search(rf">\s*{count}\s*<", text), f"count {count!r} not shown on the run page"

    # The run's totals, as a person finds them: filter the events to the output of settle_inbound_files.
    page.get_by_placeholder(re.compile("Filter")).fill("type:STEP_OUTPUT")
    page.get_by_text("rejected_records").first.wait_for()
    page.screenshot(path=str(SCREENSHOTS / "sensor_run_counts.png"), full_page=True)


def test_sync_job_launched_from_the_launchpad_succeeds(live_dagster, page):
    live = live_dagster
    page.goto(f"{live.url}/locations/tracos_integration/jobs/sync_job/playground")
    dismiss_welcome_dialog(page)
    launch = page.get_by_role("button", name=re.compile("Launch Run"))
    launch.wait_for()
    page.screenshot(path=str(SCREENSHOTS / "launchpad.png"))
    launch.click()
    page.wait_for_url(re.compile(r".*/runs/[0-9a-f-]{36}.*"))
    page.get_by_text("RUN_SUCCESS").first.wait_for(timeout=180_000)
    page.screenshot(path=str(SCREENSHOTS / "sync_job_run.png"), full_page=True)
    run_id = re.search(r"/runs/([0-9a-f-]{36})", page.url).group(1)
    with live.instance() as instance:
        assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.SUCCESS
        assert instance.get_run_by_id(run_id).job_name == "sync_job"
