"""Property: whatever the customers file holds, loading it either gives customers that are
isolated and named as MongoDB accepts, or fails with one CustomersFileError line naming
the file (CONTRACT 9). Never another exception, never a shared or nested folder."""

from __future__ import annotations

import os
from pathlib import Path

import pymongo
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracos_integration_tests.properties import examples
from tracos_integration.customers import SLUG, CustomersFileError, load_customers

COMPONENTS = ["a", "b", "inbound", "outbound", "processed", "failed", "..", ".", "link", "loop", "é"]
NAME_POOL = ["tractian", "workorders", "acme", "a.b", "system.x", "x$y", "", ".x", "x.", "a..b", "A", "a", "Tractian"]


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """A folder with real folders, a link into one of them and a link loop; the current
    directory while the module runs, so relative folders land here."""
    base = tmp_path_factory.mktemp("customers")
    (base / "a" / "inbound" / "processed").mkdir(parents=True)
    (base / "b").mkdir()
    (base / "link").symlink_to(base / "a" / "inbound")
    (base / "loop").symlink_to(base / "loop")
    before = os.getcwd()
    os.chdir(base)
    yield base
    os.chdir(before)


def mostly(usual: st.SearchStrategy, unusual: st.SearchStrategy) -> st.SearchStrategy:
    """`usual` about nine times in ten, so that many files get far enough to test isolation
    (Hypothesis leans to small integers: 0 is the usual)."""
    return st.integers(0, 9).flatmap(lambda pick: unusual if pick == 9 else usual)


def folder(root: Path, slug: str) -> st.SearchStrategy:
    parts = st.lists(st.sampled_from(COMPONENTS), min_size=0, max_size=3)
    own = parts.map(lambda tail: "/".join([slug, *tail]))  # under the customer's own folder: may still nest
    anywhere = parts.filter(bool).map("/".join)
    relative = st.one_of(own, own, anywhere)
    return mostly(
        st.one_of(relative, relative.map(lambda path: str(root / path))),
        st.one_of(st.text(max_size=20), st.sampled_from(["", " ", "~", "/", "\x00", "a\x00b", None, 5, ["a"]])),
    )


def name(usual: list[str]) -> st.SearchStrategy:
    return mostly(st.sampled_from(usual), st.one_of(
        st.sampled_from(NAME_POOL), st.text(max_size=30), st.text(min_size=60, max_size=300),
        st.sampled_from([None, 1, True]),
    ))


@st.composite
def entry(draw, root: Path, slug: str) -> dict:
    return {
        "inbound_dir": draw(folder(root, slug)), "outbound_dir": draw(folder(root, slug)),
        "timezone": draw(mostly(st.just("UTC"), st.sampled_from(["Mars/Base", "../etc", 3]))),
        "format": draw(mostly(st.sampled_from(["json", "csv"]), st.sampled_from(["xml", ""]))),
        "database": draw(name(["tractian", "acme", "Tractian"])),
        "collection": draw(name(["workorders", f"w_{slug}", f"w.{slug}", "w_" + "x" * 230])),
    }


@st.composite
def customers_files(draw, root: Path):
    slugs = draw(st.lists(mostly(st.from_regex(r"[a-z]{1,4}", fullmatch=True), st.text(max_size=8)),
                          min_size=1, max_size=5, unique=True))
    entries = {slug: draw(entry(root, slug if SLUG.fullmatch(slug) else "x")) for slug in slugs}
    return draw(mostly(st.just(entries), st.sampled_from([None, [], ["acme"], {}, "acme"])))


def write(root: Path, content) -> Path:
    path = root / "customers.yaml"
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8", errors="surrogatepass")
    else:
        path.write_text(yaml.safe_dump({"customers": content}, allow_unicode=True), encoding="utf-8")
    return path


def check(path: Path) -> None:
    try:
        customers = load_customers(path)
    except CustomersFileError as error:
        message = str(error)
        assert "\n" not in message and str(path) in message
        return
    assert customers and all(SLUG.fullmatch(slug) for slug in customers)
    placed = [(getattr(c, key).resolve(), slug)
              for slug, c in customers.items() for key in ("inbound_dir", "outbound_dir")]
    for index, (folder, slug) in enumerate(placed):
        for other, other_slug in placed[index + 1:]:
            assert folder != other and folder not in other.parents and other not in folder.parents, (slug, other_slug)
    namespaces = [(c.database, c.collection) for c in customers.values()]
    assert len(set(namespaces)) == len(namespaces)
    client = pymongo.MongoClient(connect=False)  # pymongo's own name checks, independent of ours
    for database, collection in namespaces:
        client[database][collection]
        assert not collection.startswith("system.") and len(f"{database}.{collection}".encode()) <= 255
        assert not set('/\\. "$*<>:|?\x00') & set(database) and len(database.encode()) < 64


@settings(max_examples=examples(100), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_a_customers_file_loads_isolated_and_valid_or_fails_with_one_line(root, data):
    check(write(root, data.draw(customers_files(root))))


@settings(max_examples=examples(100), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.one_of(st.text(), st.sampled_from(
    ["[" * 5000, "{a: " * 3000, "customers: &a [*a]", "customers: !!python/object:os.system {}"])))
def test_any_text_as_a_customers_file_loads_or_fails_with_one_line(root, text):
    check(write(root, text))
