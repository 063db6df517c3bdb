"""The hostile pass over issue 16's surfaces (CONTRACT 3, 8, 9, 10): each test is a case a
hostile customer, a careless operator or an attacker tried, that broke a rule before its fix
(or, marked xfail, still does), plus guards that a fix is not stricter than the rule."""

from __future__ import annotations

import json
import os
import shutil

import pytest
import yaml

from tracos_integration.alerts import AlertNotSent, alert_settings, post_alert, webhook_display
from tracos_integration.settings import SettingError
from tracos_integration.tracos.stores.embedded import file_name
from tracos_integration.tracos.resource import MongoResource
from tracos_integration_tests.factories import client_order, drop
from tracos_integration_tests.test_alert_safety import RawServer, answer_ok
from tracos_integration_tests.test_customer_runs import deployment, entry, failure_messages, run_config  # noqa: F401

# Customers: a run's config is a snapshot of its own customer's entry, never a way in


def test_a_forged_run_config_pointing_at_another_customers_folders_and_collection_is_refused(deployment):
    """Set from the launchpad (or kept by a re-execution after the file changed): slug acme, globex's
    folders and collection. Before: the run read globex's files into globex's collection as 'acme'."""
    defs, root, _, collections, _ = deployment
    drop(root / "globex" / "inbound", "theirs.json", [client_order(7)])
    result = defs.get_job_def("inbound_job").execute_in_process(
        partition_key="acme", run_config=run_config(entry(root, "globex")), raise_on_error=False)
    assert not result.success
    assert "globex" in failure_messages(result) and "Nothing was read or written." in failure_messages(result)
    assert os.listdir(root / "globex" / "inbound") == ["theirs.json"]
    assert collections["globex"].count_documents({}) == 0 and collections["acme"].count_documents({}) == 0


def test_a_forged_run_config_sharing_only_another_customers_collection_is_refused(deployment):
    defs, root, _, collections, _ = deployment
    drop(root / "acme" / "inbound", "a.json", [client_order(1)])
    forged = run_config(entry(root, "acme", collection="workorders_globex"))
    result = defs.get_job_def("inbound_job").execute_in_process(
        partition_key="acme", run_config=forged, raise_on_error=False)
    assert not result.success and "globex" in failure_messages(result)
    assert collections["globex"].count_documents({}) == 0
    assert os.listdir(root / "acme" / "inbound") == ["a.json"]


def test_a_customers_folder_swapped_for_a_link_into_anothers_after_load_stops_the_run(deployment):
    """The file was checked at load; then globex's inbound folder became a link to acme's. A run
    for globex (its snapshot taken before) would have read acme's files into globex's collection."""
    defs, root, _, collections, _ = deployment
    drop(root / "acme" / "inbound", "ours.json", [client_order(3)])
    (root / "globex" / "inbound").rmdir()
    (root / "globex" / "inbound").symlink_to(root / "acme" / "inbound")
    result = defs.get_job_def("inbound_job").execute_in_process(partition_key="globex", raise_on_error=False)
    assert not result.success and "acme" in failure_messages(result)
    assert os.listdir(root / "acme" / "inbound") == ["ours.json"]
    assert collections["globex"].count_documents({}) == 0


def test_a_crossing_between_two_other_customers_never_stops_this_customers_run(deployment):
    defs, root, customers_file, collections, _ = deployment
    entries = {slug: entry(root, slug) for slug in ("acme", "globex")}
    entries["initech"] = entry(root, "initech", collection="workorders_hooli")
    entries["hooli"] = entry(root, "hooli")
    customers_file.write_text(yaml.safe_dump({"customers": entries}), encoding="utf-8")
    drop(root / "acme" / "inbound", "a.json", [client_order(1)])
    result = defs.get_job_def("inbound_job").execute_in_process(partition_key="acme", raise_on_error=False)
    assert result.success and collections["acme"].count_documents({}) == 1


def inbound_tick(defs):
    import dagster as dg

    from tracos_integration.client.folder import ClientFolder
    from tracos_integration.sensors import inbound_file_sensor

    with dg.instance_for_test() as instance:
        with dg.build_sensor_context(instance=instance, repository_def=defs.get_repository_def(),
                                     resources={"client_folder": ClientFolder()}) as context:
            return inbound_file_sensor.evaluate_tick(context)


def test_a_customers_missing_folder_names_the_customers_file_not_data_inbound_dir(deployment):
    """The red tick said "create it or set DATA_INBOUND_DIR", a setting a customers deployment never reads."""
    defs, root, _, _, _ = deployment
    shutil.rmtree(root / "globex" / "inbound")
    with pytest.raises(Exception) as raised:
        inbound_tick(defs)
    assert str(root / "globex" / "inbound") in str(raised.value)
    assert "inbound_dir in the customers file" in str(raised.value) and "DATA_INBOUND_DIR" not in str(raised.value)


def test_one_customers_missing_folder_never_stops_another_customers_run(deployment):
    defs, root, _, _, _ = deployment
    drop(root / "acme" / "inbound", "a.json", [client_order(1)])
    shutil.rmtree(root / "globex" / "inbound")
    assert [request.partition_key for request in inbound_tick(defs).run_requests] == ["acme"]
    (root / "acme" / "inbound" / "a.json").unlink()  # nothing else to launch: the tick fails, naming globex
    with pytest.raises(Exception, match="globex"):
        inbound_tick(defs)


# CSV: a file cut at a row's end looks complete


def test_a_young_csv_file_written_row_by_row_is_left_in_place_until_it_settles(workspace, monkeypatch):
    """An ERP writing and flushing one row at a time: every moment of the file is a complete
    CSV. Read while young, its first row was applied and the file moved to processed/; the
    writer's next rows went on into processed/export.csv and never reached TracOS."""
    from tracos_integration.client.folder import ClientFolder
    from tracos_integration_tests.test_csv_safety import HEADER, ROW

    monkeypatch.setenv("INBOUND_SETTLE_SECONDS", "3600")
    with open(workspace.inbound / "export.csv", "w", encoding="utf-8", newline="") as writer:
        writer.write(f"{HEADER}\r\n{ROW.format(1, 'first')}\r\n")
        writer.flush()
        result = workspace.run("inbound_job", client_folder=ClientFolder(file_format="csv"))
        writer.write(f"{ROW.format(2, 'second')}\r\n")
    assert result.success
    assert (workspace.inbound / "export.csv").exists() and workspace.processed() == []
    assert workspace.collection.count_documents({}) == 0  # nothing applied from a file still growing
    monkeypatch.setenv("INBOUND_SETTLE_SECONDS", "0")
    assert workspace.run("inbound_job", client_folder=ClientFolder(file_format="csv")).success
    assert sorted(d["number"] for d in workspace.collection.find({})) == [1, 2]


@pytest.mark.parametrize("file_format,name", [("csv", "EXPORT.CSV"), ("json", "orders.JSON"), ("csv", "a.Json")])
def test_a_client_file_whose_suffix_differs_only_in_case_is_reported_not_left_silently(workspace, file_format, name):
    """A Windows ERP writes EXPORT.CSV: never read (suffixes are case-sensitive), and before, never
    mentioned either: the sensor said "no settled *.csv files" while it sat there."""
    import dagster as dg

    from tracos_integration.client.folder import ClientFolder
    from tracos_integration.sensors import inbound_file_sensor
    from tracos_integration_tests.conftest import inbound_metadata

    (workspace.inbound / name).write_text("anything", encoding="utf-8")
    folder = ClientFolder(file_format=file_format)
    with dg.instance_for_test() as instance:
        with dg.build_sensor_context(instance=instance, resources={"client_folder": folder}) as context:
            result = inbound_file_sensor.evaluate_tick(context)
    assert not result.run_requests and "1 file(s)" in result.skip_message and f"*{os.path.splitext(name)[1]}" in result.skip_message
    result = workspace.run("inbound_job", client_folder=folder)
    assert inbound_metadata(result)["other_format_files"] == [name] and (workspace.inbound / name).exists()
    assert any(name in line and "rename" in line for line in workspace.logged(result))


# Alerts: Basic auth goes to the webhook's host only, and a redirect never passes for a sent alert


def test_a_webhook_redirecting_elsewhere_gets_no_credentials_forwarded_and_the_alert_is_not_sent():
    """urllib follows a 302 for a POST as a GET without the body, copying the Authorization
    header to whatever host the Location names: the password leaked and the alert was lost
    while post_alert said it was sent."""
    elsewhere = RawServer(answer_ok)

    def redirect(connection):
        connection.sendall(f"HTTP/1.1 302 Found\r\nLocation: http://localhost:{elsewhere.port}/steal\r\n"
                           "Content-Length: 0\r\nConnection: close\r\n\r\n".encode())

    webhook = RawServer(redirect)
    try:
        with pytest.raises(AlertNotSent, match="302") as raised:
            post_alert("run failed", webhook_url=f"http://alerts:s3cret@127.0.0.1:{webhook.port}/hook")
        assert "s3cret" not in str(raised.value)
        assert webhook.header("Authorization") is not None  # the webhook's own host got it
        assert elsewhere.heads == []  # the other host got nothing: no request, no password
    finally:
        webhook.close()
        elsewhere.close()


@pytest.mark.parametrize("token", ["T0KEN SECRET", "T0KEN\x7fSECRET", "T0KEN\nHost: evil.example"])
def test_a_webhook_url_with_a_space_or_control_character_is_refused_without_echoing_its_path(token):
    """http.client refused it with "URL can't contain control characters. '/hook/T0KEN SECRET'":
    the token, shown on the red tick."""
    with pytest.raises(AlertNotSent) as raised:
        post_alert("run failed", webhook_url=f"https://hooks.example.com/hook/{token}")
    assert "SECRET" not in str(raised.value) and "evil" not in str(raised.value)
    assert "space or a control character" in str(raised.value)


def test_a_webhook_url_with_an_unclosed_ipv6_bracket_is_refused_as_a_setting_without_echoing_it(monkeypatch):
    monkeypatch.setenv("ALERT_WEBHOOK_URL", "https://alerts:s3cret@[::1/hook")
    with pytest.raises(SettingError, match="not a valid URL") as raised:
        alert_settings()
    assert "s3cret" not in str(raised.value)
    assert webhook_display("https://alerts:s3cret@[::1/hook") == "(webhook URL not shown)"


def test_a_webhook_user_name_holding_a_colon_is_refused_without_echoing_it():
    """`us%3Aer:pw@` went out as Basic `us:er:pw`: the server reads user `us`, password `er:pw`."""
    with pytest.raises(AlertNotSent, match="user name holding ':'") as raised:
        post_alert("run failed", webhook_url="https://us%3Aer:s3cret@hooks.example.com/hook")
    assert "s3cret" not in str(raised.value) and "us%3Aer" not in str(raised.value)


def test_an_ipv6_webhook_is_shown_with_its_brackets_and_no_credentials():
    assert webhook_display("https://alerts:s3cret@[2001:db8::1]:8443/hook/T0KEN") == "https://[2001:db8::1]:8443/…"


# The embedded store: two names MongoDB tells apart never share a file; every valid name opens


def test_a_collection_named_like_another_names_hashed_file_gets_its_own_file(tmp_path):
    long_name = "c" * 200
    lookalike = file_name(long_name)  # a valid collection name of 120 characters
    uri = f"embedded://{tmp_path}/store.json"
    MongoResource(uri=uri, collection=long_name).get_collection().insert_one({"number": 1})
    other = MongoResource(uri=uri, collection=lookalike).get_collection()
    assert other.count_documents({}) == 0


def test_the_longest_valid_names_open_on_the_embedded_store(tmp_path):
    """A 62-byte database name and a 140-character collection (203 bytes of namespace, within
    MongoDB's 255): the lock file's name was over 255 bytes (OSError: File name too long)."""
    database, collection = "é" * 31, "x" * 140
    mongo = MongoResource(uri=f"embedded://{tmp_path}/store.json", database=database, collection=collection)
    mongo.get_collection().insert_one({"number": 1})
    assert mongo.get_collection().count_documents({}) == 1


@pytest.mark.parametrize("content", ["{not json", "[1, 2]", '{"format": "something-else"}'])
def test_a_damaged_store_file_of_the_earlier_format_is_named_with_what_to_do(workspace, tmp_path, monkeypatch, content):
    """The one-file store of the earlier format, damaged: a raw JSONDecodeError (or
    AttributeError) with no path failed the run."""
    from tracos_integration.tracos.stores import embedded
    from tracos_integration_tests.test_embedded_store_damage import failure_description

    legacy = tmp_path / "tracos.json"
    legacy.write_text(content, encoding="utf-8")
    monkeypatch.setenv("MONGO_URI", f"embedded://{legacy}")
    embedded._STORES.clear()
    drop(workspace.inbound, "a.json", [client_order(2)])
    try:
        result = workspace.run("inbound_job")
    finally:
        embedded._STORES.clear()
    assert not result.success
    description = failure_description(result)
    assert str(legacy) in description and "move it aside" in description.lower()
    assert (workspace.inbound / "a.json").exists() and legacy.read_text(encoding="utf-8") == content


def test_a_collection_file_replaced_by_a_folder_is_named(workspace, tmp_path, monkeypatch):
    from tracos_integration.tracos.stores import embedded
    from tracos_integration_tests.test_embedded_store_damage import failure_description

    (tmp_path / "tracos" / "tractian" / "workorders").mkdir(parents=True)
    monkeypatch.setenv("MONGO_URI", f"embedded://{tmp_path / 'tracos.json'}")
    embedded._STORES.clear()
    try:
        result = workspace.run("outbound_job")
    finally:
        embedded._STORES.clear()
    assert not result.success
    assert str(tmp_path / "tracos" / "tractian" / "workorders") in failure_description(result)
