"""The Dagster UI in a real headless Chromium (Debian's package, driven by Playwright)."""

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import dagster as dg
import pytest

from tracos_integration.tracos.resource import MongoResource
from tracos_integration_tests.factories import client_order, drop, tracos_document
from tracos_integration_tests.live import DAGSTER, ROOT, wait_for

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

    # The rejects, as a person finds them: filter the events to the step outputs (apply_inbound_files).
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


# -- operations at a glance (issue 11) ------------------------------------------------------

def inbound_runs(live, **tags):
    with live.instance() as instance:
        return instance.get_runs(filters=dg.RunsFilter(job_name="inbound_job", statuses=[dg.DagsterRunStatus.SUCCESS], tags=tags))


def test_the_runs_list_marks_a_run_that_rejected_records(live_dagster, page):
    live = live_dagster
    path = drop(live.inbound, "with_rejects.json", [client_order(931), client_order(932, isDone=True, isActive=True)])
    os.utime(path, (time.time() - 10,) * 2)
    run = wait_for(lambda: inbound_runs(live, **{"tracos/rejected": "1"}), 180, "an inbound run tagged with its rejects")[0]
    page.goto(f"{live.url}/runs")
    dismiss_welcome_dialog(page)
    page.get_by_text(run.run_id[:8]).first.wait_for()
    page.get_by_text("tracos/rejected").first.wait_for()
    page.screenshot(path=str(SCREENSHOTS / "runs_marked.png"))
    assert "tracos/rejected: 1" in page.locator("body").inner_text().replace("\n", " ") or "tracos/rejected" in page.content()


def test_the_work_orders_asset_plots_the_counts_of_several_runs(live_dagster, page):
    live = live_dagster
    for number in (941, 942):
        path = drop(live.inbound, f"plot_{number}.json", [client_order(number)])
        os.utime(path, (time.time() - 10,) * 2)
        wait_for(lambda: not path.exists(), 180, f"plot_{number}.json archived")
    with live.instance() as instance:
        events = instance.fetch_materializations(dg.AssetKey(["tracos", "work_orders"]), limit=10).records
    assert len(events) >= 2
    page.goto(f"{live.url}/assets/tracos/work_orders?view=overview")
    dismiss_welcome_dialog(page)
    page.get_by_text("Latest materialization").first.wait_for()
    page.get_by_text("Plots", exact=True).first.click()  # the Metadata section: Table | Plots
    page.get_by_text("inserted").first.wait_for()
    time.sleep(2)  # let the plots draw
    page.screenshot(path=str(SCREENSHOTS / "asset_plots.png"), full_page=True)
    text = page.locator("body").inner_text()
    for count in ("read", "inserted", "rejected"):
        assert count in text


def test_a_failing_check_shows_on_the_asset(live_dagster, page):
    live = live_dagster
    path = drop(live.inbound, "rejects_again.json", [client_order(951, isDone=True, isCanceled=True)])
    os.utime(path, (time.time() - 10,) * 2)
    wait_for(lambda: not path.exists(), 180, "the rejecting file archived")  # its run is the latest
    page.goto(f"{live.url}/assets/tracos/work_orders?view=checks")
    dismiss_welcome_dialog(page)
    page.get_by_text("no_rejected_records").first.wait_for()
    page.screenshot(path=str(SCREENSHOTS / "asset_checks.png"), full_page=True)
    text = page.locator("body").inner_text()
    assert "no_rejected_records" in text and ("Warn" in text or "Fail" in text)


def test_the_automation_page_shows_a_failed_tick_when_the_inbound_folder_is_missing(live_dagster, page):
    live = live_dagster
    hidden = live.inbound.with_name("inbound.moved")
    live.inbound.rename(hidden)
    try:
        page.goto(f"{live.url}/locations/tracos_integration/sensors/inbound_file_sensor")
        dismiss_welcome_dialog(page)

        def failure_shown():
            page.reload()
            try:
                page.get_by_text("Failure").first.wait_for(timeout=5_000)
                return True
            except Exception:
                return False

        wait_for(failure_shown, 120, "a failed inbound_file_sensor tick", interval=2)
        page.screenshot(path=str(SCREENSHOTS / "sensor_failed_tick.png"), full_page=True)
        assert "does not exist" in page.locator("body").inner_text() or "Failure" in page.locator("body").inner_text()
    finally:
        hidden.rename(live.inbound)


# -- many customers (issue 12) ------------------------------------------------------------------

def test_the_partitions_page_shows_both_customers(live_customers, page):
    live = live_customers
    # A drop of its own per customer: the page needs a run under each, whatever ran before.
    csv = "order_no;description;status;opened_at;changed_at;deleted\n992;x;OPEN;01/03/2024 10:00;01/03/2024 10:00;N\n"
    for slug, name, content in (("acme", "partitions.json", [client_order(991)]), ("globex", "partitions.csv", csv)):
        path = drop(live.customers / slug / "inbound", name, content)
        os.utime(path, (time.time() - 10,) * 2)
    wait_for(lambda: inbound_runs(live, **{"dagster/partition": "acme"}) and inbound_runs(live, **{"dagster/partition": "globex"}),
             240, "an inbound run for each customer")
    page.goto(f"{live.url}/locations/tracos_integration/jobs/inbound_job/partitions")
    dismiss_welcome_dialog(page)
    page.get_by_text("globex").first.wait_for()
    page.screenshot(path=str(SCREENSHOTS / "partitions.png"), full_page=True)
    text = page.locator("body").inner_text()
    assert "acme" in text and "globex" in text


# -- health on its own, today's totals, failed files, backlog (issue 18) ------------------------

def latest_check(live, key_path, name):
    with live.instance() as instance:
        record = instance.get_latest_asset_check_evaluation_record(dg.AssetCheckKey(dg.AssetKey(key_path), name))
    return record.evaluation if record else None


def sensor_cli(live, action, sensor="inbound_file_sensor"):
    """`dagster sensor start|stop`, as an operator types it, against the live instance."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MONGO_", "DATA_", "DAGSTER_"))}
    env.update(DAGSTER_HOME=str(live.home), MONGO_URI=live.mongo_uri,
               DATA_INBOUND_DIR=str(live.inbound), DATA_OUTBOUND_DIR=str(live.outbound))
    subprocess.run([DAGSTER, "sensor", action, sensor, "-w", "workspace.yaml"], cwd=ROOT, env=env,
                   check=True, capture_output=True, timeout=300)
    if action == "stop":  # a tick the daemon began before the stop still ends: wait for it
        wait_for(lambda: not tick_in_flight(live, sensor), 120, f"{sensor}'s last tick to end")


def tick_in_flight(live, sensor) -> bool:
    from dagster._core.definitions.run_request import InstigatorType
    from dagster._core.scheduler.instigation import TickStatus

    with live.instance() as instance:
        for state in instance.all_instigator_state(instigator_type=InstigatorType.SENSOR):
            if state.instigator_name == sensor:
                ticks = instance.get_ticks(state.instigator_origin_id, state.selector_id, limit=1)
                return bool(ticks) and ticks[0].status == TickStatus.STARTED
    return False


def open_check(page, url, asset_path, check):
    page.goto(f"{url}/assets/{asset_path}?view=checks")
    dismiss_welcome_dialog(page)
    page.get_by_text(check).first.click()  # the one click
    page.get_by_text("Latest execution").first.wait_for()


def test_a_failing_run_turns_its_asset_red_until_a_run_succeeds(live_dagster, page):
    live = live_dagster
    hidden = live.outbound.with_name("outbound.moved")
    live.outbound.rename(hidden)
    try:  # the folder stays missing while the page is read: a succeeding run would turn it green again
        MongoResource(uri=live.mongo_uri).get_collection().insert_one(tracos_document(961))
        wait_for(lambda: (c := latest_check(live, ["client", "outbound_folder"], "last_run_succeeded")) and not c.passed,
                 180, "last_run_succeeded failing on client/outbound_folder")
        page.goto(f"{live.url}/asset-groups/tracos_sync")
        dismiss_welcome_dialog(page)
        page.get_by_text("outbound_folder").first.wait_for()
        time.sleep(3)  # let the graph draw
        page.screenshot(path=str(SCREENSHOTS / "asset_red_lineage.png"))
        open_check(page, live.url, "client/outbound_folder", "last_run_succeeded")
        page.screenshot(path=str(SCREENSHOTS / "asset_red_failed_run.png"), full_page=True)
        text = page.locator("body").inner_text()
        assert "Failed" in text and "does not exist" in text and "Red until a run succeeds" in text
    finally:
        hidden.rename(live.outbound)
    # The folder is back: the next run succeeds, and the check passes again.
    wait_for(lambda: latest_check(live, ["client", "outbound_folder"], "last_run_succeeded").passed, 400,
             "last_run_succeeded passing again")


def test_a_stopped_inbound_sensor_with_a_file_waiting_turns_inbound_red(live_dagster, page):
    live = live_dagster
    sensor_cli(live, "stop")
    try:
        path = drop(live.inbound, "waited_two_hours.json", [client_order(971)])
        os.utime(path, (time.time() - 7200,) * 2)  # over the default 1 h window
        wait_for(lambda: (c := latest_check(live, ["client", "inbound_folder"], "inbound_fresh")) and not c.passed,
                 120, "inbound_fresh failing while inbound_file_sensor is stopped")
        open_check(page, live.url, "client/inbound_folder", "inbound_fresh")
        page.screenshot(path=str(SCREENSHOTS / "inbound_fresh_sensor_stopped.png"), full_page=True)
        text = page.locator("body").inner_text()
        assert "Failed" in text and "120 min in the inbound folder" in text and "valid_until" in text
    finally:
        sensor_cli(live, "start")
    wait_for(lambda: not path.exists(), 180, "the waiting file archived once the sensor runs again")


def test_the_failed_files_and_their_reasons_are_one_click_from_the_asset(live_dagster, page):
    live = live_dagster
    path = drop(live.inbound, "two_bad_records.json",
                [client_order(981, isDone=True, isActive=True), client_order(982, orderNo="x")])
    os.utime(path, (time.time() - 10,) * 2)
    wait_for(lambda: not path.exists(), 180, "the rejecting file archived")
    open_check(page, live.url, "tracos/work_orders", "no_rejected_records")
    page.get_by_text("failed/two_bad_records.json").first.wait_for()
    page.screenshot(path=str(SCREENSHOTS / "failed_files.png"), full_page=True)
    text = page.locator("body").inner_text()
    assert "first_reason" in text and "contradictory status" in text and "run_id" in text
    page.goto(f"{live.url}/runs")  # and in the Runs list, each run's result in words
    page.get_by_text("tracos/result").first.wait_for()
    page.screenshot(path=str(SCREENSHOTS / "runs_result.png"))
    assert "rejected 2" in page.locator("body").inner_text()


def test_todays_totals_and_the_backlog_are_plotted(live_dagster, page):
    live = live_dagster
    page.goto(f"{live.url}/assets/tracos/work_orders?view=overview")
    dismiss_welcome_dialog(page)
    page.get_by_text("Plots", exact=True).first.click()
    for name in ("backlog", "today_in", "today_out", "today_rejected"):
        page.get_by_text(name, exact=True).first.wait_for()
    time.sleep(2)  # let the plots draw
    page.get_by_text("today_in", exact=True).first.scroll_into_view_if_needed()
    page.screenshot(path=str(SCREENSHOTS / "todays_totals.png"))
    page.get_by_text("backlog", exact=True).first.scroll_into_view_if_needed()
    page.screenshot(path=str(SCREENSHOTS / "backlog_plot.png"))
    page.goto(f"{live.url}/assets/client/inbound_folder?view=overview")
    page.get_by_text("Plots", exact=True).first.click()
    page.get_by_text("files_waiting", exact=True).first.wait_for()
    page.get_by_text("oldest_wait_seconds", exact=True).first.wait_for()
