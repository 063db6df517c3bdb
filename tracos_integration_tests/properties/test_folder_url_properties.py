"""Properties of remote folder URLs (CONTRACT 2, 8, 9): whatever `sftp://` or `s3://` text a
setting or the customers file holds (any user, password, host, port, path),

- parsing gives a folder or fails with the project's own error, one line naming the setting,
  never another exception;
- a password or a user name never appears in a message or in the folder as it is shown;
- two spellings of one folder (as the transports use it) are refused by the isolation check,
  and so are nested folders, while side-by-side folders are accepted;
- the folder as shown parses back to the same folder.

Pure parsing: no server is needed."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracos_integration.client.locations import SCHEMES, FolderURL, RemoteFolderError, is_remote, parse_folder_url
from tracos_integration.client.remote import _nested
from tracos_integration.customers import Customer, CustomersFileError, _path, _remote_key, check_isolation, load_customers
from tracos_integration.settings import SettingError, Settings
from tracos_integration_tests.properties import examples

PROPERTIES = settings(max_examples=examples(300), deadline=None,
                      suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])

# Marks a password and a user name: neither may ever be shown, whole or cut at a delimiter.
PASSWORD, USER = "Pw0rdT0ken", "Us3rT0ken"
DELIMITERS = ["", "/", "?", "#", "@", ":", "%2F", "%40", "[", "]", " "]

# -- what a setting or the customers file may hold --------------------------------------------

def secret(token: str) -> st.SearchStrategy[str]:
    """`token` with text around it, maybe with a delimiter before it (a '/' in a password)."""
    bits = st.text(alphabet="ab1._-~%", max_size=3)
    return st.builds(lambda before, cut, after: f"{before}{cut}{token}{after}", bits, st.sampled_from(DELIMITERS), bits)


@st.composite
def userinfo(draw) -> str:
    kind = draw(st.sampled_from(["none", "user", "user", "user:password", "user:", ":password"]))
    if kind == "none":
        return ""
    user = draw(secret(USER)) if "user" in kind else ""
    password = draw(secret(PASSWORD)) if "password" in kind else ""
    escape = draw(st.booleans())  # written as RFC 3986 says, or raw as a person pastes it
    if escape:
        user, password = quote(user, safe=""), quote(password, safe="")
    return (f"{user}:{password}" if ":" in kind else user) + "@"


hosts = st.one_of(
    st.sampled_from(["files.plant", "FILES.Plant", "files.plant.", "files.plant..", ".", "localhost", "127.0.0.1",
                     "bucket", "LegacyBucket", "my.bucket", "", "[::1]", "[0:0::1]", "[::FFFF:7f00:1]", "[::1",
                     "::1]", "::1", "[zz]", "[v1.x]", "[fe80::1%25eth0]", "h\x00", "h\x0bi", "é.example", "xn--e-9ja"]),
    st.text(max_size=8),
)
ports = st.one_of(st.none(), st.sampled_from(["", "0", "22", "2222", "65535", "65536", "-1", "abc", " 22", "٢٢",
                                              "99999999999999999999", "22a"]),
                  st.integers(0, 70000).map(str))
segments = st.one_of(
    st.sampled_from(["a", "b", "acme", "..", ".", "%2E", "%2e%2E", "%2F", "", "é", "\x00", "%00", " ", "x@y", "%40",
                     "?q", "#f", "a%2Fb", "%25", "%2541", "\x0b", "\u2028", "\\", "~"]),
    st.text(max_size=6),
)
paths = st.lists(segments, max_size=4).map(lambda parts: "/".join(["", *parts]) if parts else "")


@st.composite
def folder_urls(draw) -> str:
    scheme = draw(st.sampled_from(["sftp", "SFTP", "Sftp", "s3", "S3", "s3", "sftp", "ftp", "http", "file", ""]))
    port = draw(ports)
    url = f"{scheme}://{draw(userinfo())}{draw(hosts)}{'' if port is None else ':' + port}{draw(paths)}"
    return draw(st.sampled_from(["", " ", "\t"])) + url + draw(st.sampled_from(["", " ", "/", "\n"]))


# -- the invariants ----------------------------------------------------------------------------

def never_shown(text: str) -> None:
    """Neither the password nor the user name, nor a piece of either."""
    assert PASSWORD not in text and USER not in text, text


def one_clear_line(message: str, setting: str) -> None:
    assert message and setting in message, message
    assert len(message.splitlines()) == 1, message  # a log line, a run's failure, the customers file's one line
    never_shown(message)


def parsed(url: str, setting: str = "DATA_INBOUND_DIR") -> FolderURL | None:
    """The folder, or None when refused; any exception but RemoteFolderError fails the test."""
    try:
        folder = parse_folder_url(url, setting)
    except RemoteFolderError as error:
        one_clear_line(str(error), setting)
        return None
    assert folder.scheme in SCHEMES and folder.host
    never_shown(folder.shown)
    parts = folder.path.split("/")
    assert "\x00" not in folder.path and "." not in parts and ".." not in parts
    if folder.scheme == "sftp":
        assert folder.path.startswith("/") and folder.user and (folder.port is None or 1 <= folder.port <= 65535)
    else:
        assert folder.user is None and folder.port is None and not folder.path.startswith("/")
    return folder


@PROPERTIES
@given(url=folder_urls())
def test_a_folder_url_parses_or_fails_in_one_line_without_its_credentials(url):
    folder = parsed(url)
    assert (folder is not None) <= is_remote(url)  # what parses is what the rest of the code takes for remote
    if folder is None:
        return
    never_shown(_path(_remote_key(url)))  # as the isolation check names it


@PROPERTIES
@given(url=folder_urls())
def test_a_folder_setting_is_accepted_or_refused_naming_its_variable(url):
    try:
        Settings.from_env("inbound_dir", environ={"DATA_INBOUND_DIR": url})
    except SettingError as error:
        one_clear_line(str(error), "DATA_INBOUND_DIR")


@pytest.fixture(scope="module")
def customers_file(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("folder-urls") / "customers.yaml"


@PROPERTIES
@given(url=folder_urls())
def test_a_folder_url_in_the_customers_file_loads_or_fails_in_one_line(customers_file, url):
    entry = {"outbound_dir": "sftp://u@other.example/out", "timezone": "UTC", "format": "json", "database": "d"}
    customers_file.write_text(yaml.safe_dump({"customers": {
        "acme": {**entry, "inbound_dir": url, "collection": "acme"},
        "globex": {**entry, "inbound_dir": str(customers_file.parent / "globex"), "outbound_dir": "s3://b/globex",
                   "collection": "globex"}}}, allow_unicode=True), encoding="utf-8")
    try:
        customers = load_customers(customers_file)
    except CustomersFileError as error:
        one_clear_line(str(error), str(customers_file))
        return
    assert is_remote(customers["acme"].inbound_dir) == ("://" in url)


# -- two customers: one folder, however spelled, is refused; side by side is fine ------------

SFTP_HOSTS = {"files.plant": ["files.plant", "FILES.plant", "Files.Plant.", "files.plant."],
              "::1": ["[::1]", "[0:0::1]", "[0:0:0:0:0:0:0:1]", "[0000::0001]"],
              "2001:db8::a": ["[2001:db8::a]", "[2001:DB8::A]", "[2001:0db8:0:0:0:0:0:a]"]}
names = st.sampled_from(["acme", "globex", "in", "out", "a", "b", "x.y", "é", "a b"])


@st.composite
def spelling(draw, scheme: str, server: str, parts: list[str]) -> str:
    """One folder (`server`, `parts`) written one of the ways its transport reads as that folder."""
    cuts = [draw(st.sampled_from(["/", "/", "%2F", "%2f"])) if scheme == "s3" else draw(st.sampled_from(["/", "//", "%2F"]))
            for _ in parts[1:]]
    path = "/" + "".join(quote(part, safe="") + cut for part, cut in zip(parts, [*cuts, ""]))
    path += draw(st.sampled_from(["", "/"]))
    if scheme == "s3":
        return f"s3://{server}{path}"
    host = draw(st.sampled_from(SFTP_HOSTS[server]))
    user = draw(st.sampled_from(["u", "v", "alice%40plant"]))
    port = draw(st.sampled_from(["", ":22"]))
    return f"sftp://{user}@{host}{port}{path}"


def customer(inbound: str, slug: str) -> Customer:
    return Customer(inbound_dir=inbound, outbound_dir=f"sftp://u@elsewhere.example/{slug}/out", timezone="UTC",
                    format="json", database="d", collection=slug)


@PROPERTIES
@given(data=st.data(), scheme=st.sampled_from(["sftp", "s3"]), relation=st.sampled_from(["same", "inside", "outside", "beside"]))
def test_two_customers_meet_in_one_remote_folder_only_when_the_check_refuses_them(data, scheme, relation):
    server = data.draw(st.sampled_from(sorted(SFTP_HOSTS) if scheme == "sftp" else ["bucket", "Bucket.x", "b-1"]))
    first = data.draw(st.lists(names, min_size=1, max_size=3))
    second = {"same": first, "inside": first + data.draw(st.lists(names, min_size=1, max_size=2)),
              "outside": first[:-1], "beside": [*first[:-1], first[-1] + "2"]}[relation]
    urls = [data.draw(spelling(scheme, server, parts)) for parts in (first, second)]
    acme, globex = (parsed(url) for url in urls)
    assert acme and globex  # every spelling here is a valid folder
    # One customer's inbound and outbound folders are compared by RemoteFolders the same way.
    assert _nested(acme, globex) == (relation != "beside"), urls
    try:
        check_isolation({"acme": customer(urls[0], "acme"), "globex": customer(urls[1], "globex")}, "customers.yaml")
    except CustomersFileError as error:
        one_clear_line(str(error), "customers.yaml")
        assert relation != "beside", error
        return
    assert relation == "beside", f"{urls} name {relation} folders and were accepted"


@PROPERTIES
@given(url=folder_urls())
def test_a_folder_as_shown_parses_back_to_the_same_folder(url):
    folder = parsed(url)
    if folder is None or any(char in folder.path for char in "%?#@\\ ") or not folder.path.isprintable():
        return  # shown for a person to read, not as a URL to paste back
    shown = folder.shown
    if folder.scheme == "sftp":  # shown without its user name: give it one back
        shown = shown.replace("://", f"://{quote(folder.user, safe='')}@", 1)
    again = parse_folder_url(shown)
    assert (again.scheme, again.host, again.port, again.path) == (folder.scheme, folder.host, folder.port, folder.path)
    named = _path(_remote_key(url))  # how the isolation check names it
    if folder.scheme == "sftp":
        named = named.replace("://", "://u@", 1)
    assert _remote_key(named) == _remote_key(url)
