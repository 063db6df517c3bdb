"""Remote folder URLs as a setting or the customers file holds them (CONTRACT 2, 8, 9): the
cases the properties in properties/test_folder_url_properties.py found, one test each."""

from __future__ import annotations

import pytest

from tracos_integration.client.locations import RemoteFolderError, parse_folder_url
from tracos_integration.customers import Customer, CustomersFileError, check_isolation, load_customers
from tracos_integration.settings import SettingError, Settings


def customer(inbound: str, collection: str) -> Customer:
    return Customer(inbound_dir=inbound, outbound_dir=f"s3://elsewhere/{collection}", timezone="UTC", format="json",
                    database="tractian", collection=collection)


@pytest.mark.parametrize("url", ["sftp://u@[::1/in", "sftp://u@[files.plant]/in", "s3://[bucket/in"])
def test_a_host_in_unclosed_or_wrong_brackets_fails_naming_the_setting(url):
    with pytest.raises(SettingError, match="DATA_INBOUND_DIR .*a host in \\[ \\] must be an IPv6 address"):
        Settings.from_env("inbound_dir", environ={"DATA_INBOUND_DIR": url})


@pytest.mark.parametrize("url", ["sftp://alice:hunter/2secret@files.plant/in", "sftp://alice:22/2secret@files.plant/in",
                                 "sftp://alice:hunter#2secret@files.plant/in", "s3://AKIA:/2secret@bucket/in",
                                 "s3://AKIA:99/2secret@bucket/in", "ftp://alice:x/2secret@files.plant/in"])
def test_a_password_holding_a_slash_is_never_shown(url):
    with pytest.raises(RemoteFolderError) as refused:
        parse_folder_url(url, "DATA_INBOUND_DIR")
    assert "2secret" not in str(refused.value) and "alice" not in str(refused.value)


def test_a_remote_folder_written_with_a_leading_space_is_compared_as_remote(tmp_path):
    (tmp_path / "customers.yaml").write_text(
        "customers:\n"
        "  acme: {inbound_dir: ' sftp://u@files.plant/srv/acme', outbound_dir: s3://b/acme, timezone: UTC, "
        "format: json, database: tractian, collection: acme}\n"
        "  globex: {inbound_dir: 'sftp://v@files.plant/srv/acme/in', outbound_dir: s3://b/globex, timezone: UTC, "
        "format: json, database: tractian, collection: globex}\n", encoding="utf-8")
    with pytest.raises(CustomersFileError, match="overlap"):
        load_customers(tmp_path / "customers.yaml")


@pytest.mark.parametrize("other", ["sftp://v@[0:0::1]/srv/acme", "sftp://v@[0000:0::0001]:22/srv/acme/in",
                                   "sftp://v@[2001:DB8::1]/srv/acme"])
def test_one_ipv6_server_written_two_ways_is_one_server_to_the_isolation_check(other):
    first = "sftp://u@[2001:db8::1]/srv/acme" if "2001" in other else "sftp://u@[::1]/srv/acme"
    with pytest.raises(CustomersFileError, match="share the folder|overlap"):
        check_isolation({"acme": customer(first, "acme"), "globex": customer(other, "globex")}, "customers.yaml")


@pytest.mark.parametrize("url", ["sftp://files\x0bplant/in", "sftp://u@files.plant/srv/a\u2028b/..",
                                 "sftp://u@files\x00plant/in", "sf\x0btp://u@/in"])
def test_a_control_character_in_a_folder_url_never_breaks_its_message_into_lines(url):
    with pytest.raises(RemoteFolderError) as refused:
        parse_folder_url(url, "DATA_INBOUND_DIR")
    assert len(str(refused.value).splitlines()) == 1


def test_two_customers_in_one_folder_with_a_control_character_are_named_on_one_line():
    with pytest.raises(CustomersFileError) as refused:
        check_isolation({"acme": customer("sftp://u@files.plant/srv/a\x0bb", "acme"),
                         "globex": customer("sftp://v@files.plant/srv/a\x0bb", "globex")}, "customers.yaml")
    assert len(str(refused.value).splitlines()) == 1 and "share the folder" in str(refused.value)


def test_a_remote_folder_holding_nul_is_refused_without_its_user_name(tmp_path):
    (tmp_path / "customers.yaml").write_text(
        'customers:\n  acme: {inbound_dir: "sftp://secret-user@files.plant/srv/\\0", outbound_dir: s3://b/acme, '
        "timezone: UTC, format: json, database: tractian, collection: acme}\n", encoding="utf-8")
    with pytest.raises(CustomersFileError, match="NUL") as refused:
        load_customers(tmp_path / "customers.yaml")
    assert "secret-user" not in str(refused.value)
