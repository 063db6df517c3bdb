"""The customers file (TRACOS_CUSTOMERS_FILE): what a valid file is, and the one readable
line that refuses a bad one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tracos_integration.customers import (
    Customer,
    CustomersFileError,
    load_customers,
)
from tracos_integration.scope import TickScope

REPOSITORY = Path(__file__).resolve().parent.parent


def customer(slug: str, **overrides: Any) -> dict[str, Any]:
    settings = {
        "inbound_dir": f"customers/{slug}/inbound",
        "outbound_dir": f"customers/{slug}/outbound",
        "timezone": "Europe/Berlin",
        "format": "json",
        "database": "tractian",
        "collection": f"workorders_{slug}",
    }
    settings.update(overrides)
    return {key: value for key, value in settings.items() if value is not None}


def write(tmp_path: Path, content: Any) -> Path:
    path = tmp_path / "customers.yaml"
    path.write_text(content if isinstance(content, str) else yaml.safe_dump(content, sort_keys=False), encoding="utf-8")
    return path


def refusal(path: Path) -> str:
    with pytest.raises(CustomersFileError) as caught:
        load_customers(path)
    message = str(caught.value)
    assert "\n" not in message and str(path) in message  # one line, naming the file
    return message


def test_customers_load_by_slug_with_their_settings(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = write(tmp_path, {"customers": {"acme": customer("acme"), "globex": customer("globex", format="csv", timezone="America/Sao_Paulo")}})
    customers = load_customers(path)
    assert list(customers) == ["acme", "globex"]
    assert customers["globex"] == Customer(
        inbound_dir=tmp_path / "customers/globex/inbound",
        outbound_dir=tmp_path / "customers/globex/outbound",
        timezone="America/Sao_Paulo",
        format="csv",
        database="tractian",
        collection="workorders_globex",
    )


def test_relative_folders_resolve_against_the_current_directory_at_load(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    customers = load_customers(write(tmp_path, {"customers": {"acme": customer("acme")}}))
    monkeypatch.chdir(REPOSITORY)
    assert customers["acme"].inbound_dir == tmp_path / "customers/acme/inbound"
    assert customers["acme"].inbound_dir.is_absolute()


def test_customer_settings_are_frozen(tmp_path):
    acme = load_customers(write(tmp_path, {"customers": {"acme": customer("acme")}}))["acme"]
    with pytest.raises(Exception):
        acme.timezone = "UTC"


def test_shipped_demo_file_has_a_json_and_a_csv_customer(monkeypatch):
    monkeypatch.chdir(REPOSITORY)
    customers = load_customers(REPOSITORY / "data/customers.demo.yaml")
    assert {slug: c.format for slug, c in customers.items()} == {"acme": "json", "globex": "csv"}
    assert customers["globex"].file_format.suffix == ".csv"
    for slug, settings in customers.items():
        assert settings.inbound_dir == REPOSITORY / f"data/customers/{slug}/inbound"
        assert settings.inbound_dir.is_dir() and settings.outbound_dir.is_dir()
        assert settings.collection == f"workorders_{slug}"


def test_the_remote_example_file_has_an_sftp_and_an_s3_customer():
    """The documented example for `make dev CUSTOMERS=data/customers.remote.example.yaml`."""
    customers = load_customers(REPOSITORY / "data/customers.remote.example.yaml")
    acme, globex = customers["acme"], customers["globex"]
    assert acme.inbound_dir == "sftp://tracos@sftp.acme.example:2222/exports/workorders"
    assert acme.sftp_key_file == "~/.ssh/tracos_acme_ed25519"
    assert (globex.inbound_dir, globex.outbound_dir) == ("s3://globex-erp-exchange/to-tracos",
                                                         "s3://globex-erp-exchange/from-tracos")


def test_remote_folders_of_two_customers_never_nest_on_one_server_or_bucket(tmp_path):
    entries = {
        "acme": customer("acme", inbound_dir="sftp://a@h.example/srv/in", outbound_dir="s3://b/acme/out"),
        "globex": customer("globex", inbound_dir="sftp://g@h.example/srv/in/processed", outbound_dir="s3://b/g"),
    }
    with pytest.raises(CustomersFileError, match="overlap: 'globex''s inbound_dir sftp://h.example:22/srv/in/processed is inside"):
        load_customers(write(tmp_path, {"customers": entries}))
    entries["globex"]["inbound_dir"] = "sftp://g@other.example/srv/in/processed"  # another server: fine
    assert list(load_customers(write(tmp_path, {"customers": entries}))) == ["acme", "globex"]


def test_a_remote_folder_url_that_cannot_be_used_is_refused_naming_the_customer_without_its_user(tmp_path):
    entries = {"acme": customer("acme", inbound_dir="sftp://secretuser:pw@h.example/in")}
    with pytest.raises(CustomersFileError) as refused:
        load_customers(write(tmp_path, {"customers": entries}))
    assert "customer 'acme'" in str(refused.value) and "password" in str(refused.value)
    assert "secretuser" not in str(refused.value) and "pw@" not in str(refused.value)


def test_without_the_variable_there_are_no_customers(monkeypatch):
    monkeypatch.delenv("TRACOS_CUSTOMERS_FILE", raising=False)
    assert TickScope.read().customers is None
    monkeypatch.setenv("TRACOS_CUSTOMERS_FILE", "")
    assert TickScope.read().customers is None


def test_the_variable_names_the_file_loaded(tmp_path, monkeypatch):
    monkeypatch.setenv("TRACOS_CUSTOMERS_FILE", str(write(tmp_path, {"customers": {"acme": customer("acme")}})))
    assert list(TickScope.read().customers) == ["acme"]


def test_missing_file_is_refused_naming_the_variable(tmp_path):
    assert "does not exist; create it or unset TRACOS_CUSTOMERS_FILE" in refusal(tmp_path / "nowhere.yaml")


def test_empty_file_is_refused(tmp_path):
    assert "the file is empty" in refusal(write(tmp_path, ""))


def test_yaml_syntax_error_is_refused_with_its_line(tmp_path):
    message = refusal(write(tmp_path, "customers:\n  acme:\n    timezone: [UTC\n    format: json\n"))
    assert "not valid YAML" in message and "line 4" in message


def test_customer_written_twice_is_refused_not_silently_dropped(tmp_path):
    text = "customers:\n  acme: {}\n  acme: {}\n"
    message = refusal(write(tmp_path, text))
    assert "the key 'acme' is written twice" in message and "line 3" in message


def test_unknown_key_is_refused_naming_it_and_the_customer(tmp_path):
    message = refusal(write(tmp_path, {"customers": {"acme": customer("acme", inbound_folder="x")}}))
    assert "customer 'acme': inbound_folder: unknown key; the keys are inbound_dir, outbound_dir" in message


def test_unknown_top_level_key_is_refused(tmp_path):
    assert "unknown top-level key 'customer'" in refusal(write(tmp_path, {"customer": {"acme": customer("acme")}}))


def test_missing_key_is_refused_naming_it_and_the_customer(tmp_path):
    message = refusal(write(tmp_path, {"customers": {"acme": customer("acme", collection=None)}}))
    assert "customer 'acme': collection: required key is missing; the keys are" in message


def test_no_customers_is_refused(tmp_path):
    assert "lists no customers" in refusal(write(tmp_path, {"customers": {}}))


# "America" and a name past the file system's limit failed the load with IsADirectoryError / OSError before.
@pytest.mark.parametrize("zone", ["Mars/Olympus_Mons", "../etc/passwd", "/etc/localtime", "America", "x" * 300])
def test_unknown_time_zone_is_refused(tmp_path, zone):
    message = refusal(write(tmp_path, {"customers": {"acme": customer("acme", timezone=zone)}}))
    assert "customer 'acme': timezone:" in message and "is not an IANA time zone" in message


def test_unknown_format_is_refused_naming_the_known_ones(tmp_path):
    message = refusal(write(tmp_path, {"customers": {"acme": customer("acme", format="xml")}}))
    assert "customer 'acme': format: 'xml' is not a file format; use one of csv, json" in message


@pytest.mark.parametrize("slug", ["Acme", "acme corp", "a" * 41, "acme.eu", "ä"])
def test_slug_must_be_lowercase_letters_digits_dash_or_underscore(tmp_path, slug):
    message = refusal(write(tmp_path, {"customers": {slug: customer("x")}}))
    assert "is not 1-40 lowercase letters, digits, '-' or '_'" in message


def test_slug_yaml_reads_as_a_number_must_be_quoted(tmp_path):
    assert "write it in quotes" in refusal(write(tmp_path, "customers:\n  123:\n    format: json\n"))


def test_value_of_the_wrong_type_is_refused(tmp_path):
    message = refusal(write(tmp_path, {"customers": {"acme": customer("acme", database=5)}}))
    assert "customer 'acme': database: input should be a valid string (got 5)" in message


@pytest.mark.parametrize("key", ["inbound_dir", "outbound_dir"])
def test_two_customers_sharing_a_folder_are_refused_naming_both(tmp_path, key):
    other = "outbound_dir" if key == "inbound_dir" else "inbound_dir"
    path = write(tmp_path, {"customers": {
        "acme": customer("acme"),
        "globex": customer("globex", **{key: str(tmp_path / "shared"), other: "elsewhere"}),
        "initech": customer("initech", **{other: str(tmp_path / "shared")}),
    }})
    message = refusal(path)
    assert "customers 'globex'" in message and "'initech'" in message and "share the folder" in message


def test_folders_are_compared_resolved(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    path = write(tmp_path, {"customers": {
        "acme": customer("acme", inbound_dir=str(tmp_path / "real")),
        "globex": customer("globex", outbound_dir=str(tmp_path / "x/../link")),
    }})
    assert "customers 'acme' (inbound_dir) and 'globex' (outbound_dir) share the folder" in refusal(path)


def test_one_customer_with_one_folder_for_both_directions_is_refused(tmp_path):
    path = write(tmp_path, {"customers": {"acme": customer("acme", outbound_dir="customers/acme/inbound")}})
    assert "customer 'acme': inbound_dir and outbound_dir are the same folder" in refusal(path)


def test_two_customers_sharing_a_collection_are_refused_naming_both(tmp_path):
    path = write(tmp_path, {"customers": {
        "acme": customer("acme", collection="workorders"),
        "globex": customer("globex", collection="workorders"),
    }})
    assert "customers 'acme' and 'globex' share the collection tractian.workorders" in refusal(path)


def test_same_collection_name_in_different_databases_is_allowed(tmp_path):
    path = write(tmp_path, {"customers": {
        "acme": customer("acme", collection="workorders", database="acme"),
        "globex": customer("globex", collection="workorders", database="globex"),
    }})
    assert len(load_customers(path)) == 2


@pytest.mark.parametrize("key,value", [("database", "trac.os"), ("database", ""), ("collection", "work$orders"),
                                       ("collection", "system.users")])
def test_names_mongodb_cannot_hold_are_refused(tmp_path, key, value):
    message = refusal(write(tmp_path, {"customers": {"acme": customer("acme", **{key: value})}}))
    assert f"customer 'acme': {key}:" in message


def test_not_utf8_file_is_refused(tmp_path):
    path = tmp_path / "customers.yaml"
    path.write_bytes(b"customers:\n  caf\xe9: {}\n")
    assert "not UTF-8" in refusal(path)


def test_customers_as_a_list_is_refused_saying_what_is_expected(tmp_path):
    assert "must map each customer's slug to its settings, found a list" in refusal(write(tmp_path, "customers:\n  - acme\n"))


# Isolation (CONTRACT 9): nested folders would let one customer's run read, archive or
# overwrite another's files; the sync makes processed/ and failed/ inside inbound_dir.
@pytest.mark.parametrize("globex_inbound", [
    "customers/acme/inbound/processed",  # inside acme's archive
    "customers/acme/inbound/failed/x",
    "customers/acme/outbound/in",  # inside acme's outbound folder
    "customers/acme",  # around both of acme's folders
    "customers/acme/inbound/../outbound/deeper",
])
def test_customers_with_nested_folders_are_refused_naming_both(tmp_path, monkeypatch, globex_inbound):
    monkeypatch.chdir(tmp_path)
    message = refusal(write(tmp_path, {"customers": {
        "acme": customer("acme"), "globex": customer("globex", inbound_dir=globex_inbound),
    }}))
    assert "customers 'acme' and 'globex' overlap" in message or "customers 'globex' and 'acme' overlap" in message
    assert "give each customer its own folders" in message


def test_folders_nested_through_a_symbolic_link_are_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "customers/acme/inbound/processed").mkdir(parents=True)
    (tmp_path / "elsewhere").symlink_to(tmp_path / "customers/acme/inbound/processed")
    message = refusal(write(tmp_path, {"customers": {
        "acme": customer("acme"), "globex": customer("globex", inbound_dir="elsewhere/in"),
    }}))
    assert "overlap" in message and "'acme'" in message and "'globex'" in message


def test_one_customers_outbound_folder_inside_its_inbound_folder_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = write(tmp_path, {"customers": {"acme": customer("acme", outbound_dir="customers/acme/inbound/out")}})
    assert "customer 'acme': inbound_dir and outbound_dir are nested" in refusal(path)


def test_side_by_side_folders_with_a_common_prefix_are_accepted(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = write(tmp_path, {"customers": {
        "acme": customer("acme", inbound_dir="in/acme", outbound_dir="out/acme"),
        "acme2": customer("acme2", inbound_dir="in/acme2", outbound_dir="out/acme-2"),
    }})
    assert list(load_customers(path)) == ["acme", "acme2"]


def test_a_symbolic_link_loop_as_a_folder_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    message = refusal(write(tmp_path, {"customers": {"acme": customer("acme", inbound_dir="loop/in")}}))
    assert "customer 'acme': inbound_dir" in message and "cannot be resolved" in message


def test_databases_differing_only_in_case_are_refused(tmp_path):
    path = write(tmp_path, {"customers": {
        "acme": customer("acme", database="Tracos"), "globex": customer("globex", database="tracos"),
    }})
    assert "differ only in case" in refusal(path)


# Names as MongoDB and pymongo check them (the manual's naming restrictions), refused at load
# with the customer, the key and the rule, not at the first sensor tick under another name.
@pytest.mark.parametrize("key,value,rule", [
    ("database", "", "must not be empty"),
    ("database", "a/b", "must not contain /"),
    ("database", "a\\b", "must not contain \\"),
    ("database", "a b", "must not contain space"),
    ("database", 'a"b', 'must not contain "'),
    ("database", "a$b", "must not contain $"),
    ("database", "a*b", "must not contain *"),
    ("database", "a<b", "must not contain <"),
    ("database", "a:b", "must not contain :"),
    ("database", "a|b", "must not contain |"),
    ("database", "a?b", "must not contain ?"),
    ("database", "a\x00b", "must not contain NUL"),
    ("database", "d" * 64, "at most 63"),
    ("collection", "", "must not be empty"),
    ("collection", "work$orders", "must not contain $"),
    ("collection", "work\x00orders", "must not contain NUL"),
    ("collection", ".orders", "must not start or end with ."),
    ("collection", "orders.", "must not start or end with ."),
    ("collection", "a..b", "must not contain .."),
    ("collection", "system.users", "must not start with system."),
    ("collection", "c" * 300, "at most 255"),
])
def test_names_mongodb_refuses_are_refused_naming_customer_key_and_rule(tmp_path, key, value, rule):
    message = refusal(write(tmp_path, {"customers": {"acme": customer("acme", **{key: value})}}))
    assert f"customer 'acme': {key}:" in message and rule in message


def test_a_namespace_over_255_bytes_is_refused(tmp_path):
    path = write(tmp_path, {"customers": {"acme": customer("acme", database="d" * 60, collection="é" * 100)}})
    assert "customer 'acme': collection:" in refusal(path) and "at most 255" in refusal(path)


@pytest.mark.parametrize("variable,value", [("MONGO_DATABASE", "tra.cos"), ("MONGO_COLLECTION", "system.x"),
                                            ("MONGO_COLLECTION", "a$b")])
def test_environment_names_mongodb_refuses_fail_naming_the_variable(monkeypatch, variable, value):
    from tracos_integration.settings import SettingError, Settings
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingError, match=f"^{variable}="):
        Settings.from_env()


def test_deeply_nested_yaml_is_refused_in_one_line(tmp_path):
    assert "nested too deeply" in refusal(write(tmp_path, "customers: " + "[" * 5000))


def test_a_refusal_stays_one_line_whatever_the_folder_and_names_hold(tmp_path):
    """Found by the customers file property: names and folders are quoted, never written raw."""
    assert "overlap" in refusal(write(tmp_path, {"customers": {
        "acme": customer("acme", inbound_dir=str(tmp_path / "in\nbox")),
        "globex": customer("globex", inbound_dir=str(tmp_path / "in\nbox" / "x")),
    }}))
    long_names = customer("acme", database="d\n" * 30, collection="c" * 200)
    assert "at most 255" in refusal(write(tmp_path, {"customers": {"acme": long_names}}))
