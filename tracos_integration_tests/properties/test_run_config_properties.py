"""Properties of the customers file as run config (CONTRACT 9, README "One snapshot per run"):

- an entry the customers file accepts, given to a run as its config (customer_run_config),
  is the run's Scope: the same folders, collection, zone and format, through the run's
  resources (ClientFolder.bind, MongoResource.bind), and no two customers' scopes overlap;
- a run config that reaches another customer's folders or collection, or is not a valid
  entry (nan, inf, a negative or zero number, an unknown zone or format, an empty folder, a
  name MongoDB refuses), is refused with one line naming the run's config; never used;
- a run config that keeps to its own folders is the run's snapshot, whole: every value the
  run uses is the config's (or, for a key the config leaves out, the file's), never a mix
  with another customer's."""

from __future__ import annotations

import itertools
import math
import uuid
from pathlib import Path

import dagster as dg
import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tracos_integration.client.folder import ClientFolder
from tracos_integration.customers import CustomersFileError, check_isolation, load_customers
from tracos_integration.scope import (
    NOTHING_DONE, PARTITION_TAG, Scope, ScopeRefused, customer_run_config, customer_scope, run_scope,
)
from tracos_integration.settings import Settings
from tracos_integration.tracos.resource import MongoResource
from tracos_integration_tests.properties import examples

PROPERTIES = settings(max_examples=examples(150), deadline=None,
                      suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
FILE = "customers.yaml"
fresh = itertools.count()


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    """Three customers (two on local folders, one on SFTP and S3), a link to one's folder, and
    TRACOS_CUSTOMERS_FILE naming their file while the module runs."""
    base = tmp_path_factory.mktemp("run-config")
    for slug in ("acme", "globex"):
        (base / slug / "in").mkdir(parents=True)
        (base / slug / "out").mkdir()
    (base / "link").symlink_to(base / "globex" / "in")
    write(base, FIXED(base))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TRACOS_CUSTOMERS_FILE", str(base / FILE))
        for variable in ("DATA_INBOUND_DIR", "DATA_OUTBOUND_DIR", "MONGO_DATABASE", "MONGO_COLLECTION", "CLIENT_TIMEZONE"):
            patch.delenv(variable, raising=False)
        yield base


def FIXED(base: Path) -> dict:
    entry = {"timezone": "UTC", "format": "json", "database": "tractian"}
    return {
        "acme": {**entry, "inbound_dir": str(base / "acme" / "in"), "outbound_dir": str(base / "acme" / "out"),
                 "collection": "acme"},
        "globex": {**entry, "inbound_dir": str(base / "globex" / "in"), "outbound_dir": str(base / "globex" / "out"),
                   "collection": "globex", "format": "csv", "timezone": "America/Sao_Paulo"},
        "initech": {**entry, "inbound_dir": "sftp://u@files.plant/srv/initech/in", "outbound_dir": "s3://bucket/initech/out",
                    "collection": "initech"},
    }


def write(base: Path, entries) -> Path:
    path = base / FILE
    path.write_text(yaml.safe_dump({"customers": entries}, allow_unicode=True), encoding="utf-8")
    return path


def launch(slug: str, run_config: dict) -> Scope:
    """What every step of a run for `slug` with `run_config` works with: the run's Scope bound
    to the resources as Dagster builds them from that config (ScopeRefused if it cannot be)."""
    run = dg.DagsterRun(job_name="sync_job", run_id=str(uuid.uuid4()), run_config=run_config, tags={PARTITION_TAG: slug})
    scope = run_scope(run)
    resources = run_config.get("resources", {})
    folder = ClientFolder(**resources.get("client_folder", {}).get("config", {})).bind(scope)
    mongo = MongoResource(**resources.get("mongo", {}).get("config", {})).bind(scope)
    assert folder.scope.settings == mongo.scope.settings.model_copy(update={"mongo_uri": folder.scope.settings.mongo_uri})
    return folder.scope


# -- a customers file's entries, round trip -------------------------------------------------

def mostly(usual: st.SearchStrategy, unusual: st.SearchStrategy) -> st.SearchStrategy:
    return st.integers(0, 5).flatmap(lambda pick: usual if pick else unusual)


HOSTILE = st.sampled_from([math.nan, math.inf, -math.inf, -1, 0, 10**30, 1e400, "", " ", None, True, [], {}, "x" * 300])


def folder(base: Path, slug: str, which: str) -> st.SearchStrategy:
    own = st.sampled_from([str(base / "gen" / slug / which), f"sftp://u@files.plant/srv/{slug}/{which}",
                           f"s3://bucket/{slug}/{which}", str(base / "gen" / f"{slug}-{which}")])
    shared = st.sampled_from([str(base / "gen" / tail) for tail in ["acme/in", "globex", slug, f"{slug}/in/x", "link",
                                                                     f"{slug}/../{slug}2"]]
                             + [f"sftp://v@FILES.plant:22/srv/{slug}", "s3://bucket/initech", "sftp://u@files.plant/srv"])
    return mostly(own, shared)  # shared: may be another's folder, or nest in one


@st.composite
def entries(draw, base: Path) -> dict:
    """Mostly valid entries; some share or nest folders, share a collection, or hold one
    hostile value (or an unknown key)."""
    slugs = draw(st.lists(st.sampled_from(["acme", "globex", "initech", "a-1", "b_2"]), min_size=1, max_size=4, unique=True))
    out = {}
    for slug in slugs:
        entry = {
            "inbound_dir": draw(folder(base, slug, "in")), "outbound_dir": draw(folder(base, slug, "out")),
            "timezone": draw(st.sampled_from(["UTC", "Asia/Kathmandu"])), "format": draw(st.sampled_from(["json", "csv"])),
            "database": draw(mostly(st.just("tractian"), st.sampled_from(["plant", "Tractian"]))),
            "collection": draw(mostly(st.just(f"w_{slug}"), st.just("shared"))),
        }
        if draw(st.integers(0, 3)) == 0:
            key = draw(st.sampled_from([*entry, "sftp_key_file", "settle_seconds", "unknown"]))
            entry[key] = draw(st.one_of(HOSTILE, st.sampled_from(["Mars/Base", "America", "xml", "a.b", "system.x"])))
        out[slug] = entry
    return out


@PROPERTIES
@given(data=st.data())
def test_an_entry_the_file_accepts_is_the_runs_scope_through_its_run_config(root, data):
    path = write(root, data.draw(entries(root)))
    try:
        try:
            customers = load_customers(path)
        except CustomersFileError as error:
            assert "\n" not in str(error) and str(path) in str(error)
            event("the file is refused")
            return
        event(f"the file is accepted: {len(customers)} customers")
        scopes = {}
        for slug, entry in customers.items():
            config = customer_run_config(entry)
            scope = launch(slug, yaml.safe_load(yaml.safe_dump(config)))  # as Dagster stores a run's config
            others = {name: value for name, value in customers.items() if name != slug}
            assert scope.customer == slug and scope.settings == customer_scope(Settings.from_env(), slug, entry, others).settings
            # A blank sftp_key_file is no key file (SFTP_KEY_FILE's), in the file as in the run.
            assert scope.entry() == entry.model_copy(update={"sftp_key_file": entry.sftp_key_file or None})
            assert (scope.file_format, scope.settings.client_timezone) == (entry.format, entry.timezone)
            assert (scope.settings.mongo_database, scope.settings.mongo_collection) == (entry.database, entry.collection)
            assert (scope.inbound_dir, scope.outbound_dir) == (str(entry.inbound_dir), str(entry.outbound_dir))
            scopes[slug] = scope.entry()
        check_isolation(scopes, "the runs' scopes")  # no two customers' runs meet
    finally:
        write(root, FIXED(root))


# -- a forged run config -----------------------------------------------------------------------

def crossing(base: Path, other: str) -> st.SearchStrategy:
    """Values for one run's config that reach customer `other`'s folders or collection."""
    theirs = FIXED(base)[other]
    if other == "initech":
        folders = ["sftp://v@FILES.plant.:22/srv/initech/in/", "sftp://u@files.plant/srv//initech/in/sub",
                   "sftp://u@files.plant/srv", "s3://bucket/initech", "s3://bucket/initech%2Fout",
                   " sftp://w@files.plant/srv/initech/in", "SFTP://w@files.plant/srv/initech/in/x"]
    else:
        own = theirs["inbound_dir"]
        folders = [own, own + "/", own + "/sub", str(Path(own).parent), f"{own}/../in", f"{own}/./",
                   str(base / "acme" / ".." / other / "out"), str(base / "link") if other == "globex" else own]
    return st.one_of(
        st.builds(lambda key, where: {key: where}, st.sampled_from(["inbound_dir", "outbound_dir"]), st.sampled_from(folders)),
        st.just({"database": theirs["database"], "collection": theirs["collection"]}),
        st.just({"database": theirs["database"].upper()}),  # MongoDB refuses two databases differing only in case
    )


INVALID = st.one_of(
    st.builds(lambda number: {"settle_seconds": number}, st.sampled_from([math.nan, math.inf, -math.inf, -1.0, 1e400])),
    st.builds(lambda number: {"max_file_bytes": number}, st.sampled_from([0, -5])),
    st.builds(lambda value: {"client_timezone": value}, st.sampled_from(["Mars/Base", "../etc/passwd", "utc ", "America", "x" * 300])),
    st.builds(lambda value: {"file_format": value}, st.sampled_from(["xml", "JSON", ""])),
    st.builds(lambda key, value: {key: value}, st.sampled_from(["inbound_dir", "outbound_dir"]),
              st.sampled_from(["", " ", "/tmp/x\x00y", "sftp://u@files.plant/srv/../etc", "sftp://files.plant/in",
                               "s3://b:1/x", "sftp://u@[::1/in", "sftp://u:p/w@files.plant/in"])),
    st.builds(lambda value: {"collection": value}, st.sampled_from(["system.x", "a$b", ".x", "x" * 300])),
    st.builds(lambda value: {"database": value}, st.sampled_from(["a.b", "a b", "x" * 64])),
)


@st.composite
def own(draw, base: Path) -> dict:
    """Values that keep to folders and a collection no customer has: the run's own."""
    n = next(fresh)
    where = draw(st.sampled_from(["local", "remote"]))
    folders = ({"inbound_dir": str(base / f"fresh{n}" / "in"), "outbound_dir": str(base / f"fresh{n}" / "out")}
               if where == "local" else
               {"inbound_dir": f"sftp://u@files.plant/srv/fresh{n}/in", "outbound_dir": f"s3://bucket/fresh{n}/out"})
    return draw(st.fixed_dictionaries({}, optional={
        **{key: st.just(value) for key, value in folders.items()},
        "client_timezone": st.sampled_from(["UTC", "Europe/Berlin"]), "file_format": st.sampled_from(["json", "csv"]),
        "collection": st.just(f"fresh_{n}"), "settle_seconds": st.floats(0, 1e6), "max_file_bytes": st.integers(1, 2**40),
    }))


MONGO_KEYS = {"database": "mongo_database", "collection": "mongo_collection"}
SETTING = {"settle_seconds": "inbound_settle_seconds", "max_file_bytes": "inbound_max_file_bytes", **MONGO_KEYS}


def forged_config(slug: str, base: Path, values: dict, whole: bool) -> dict:
    """The run config the launchpad (or a hand) would give: the file's entry for `slug`, or
    only `values`, with `values` on top."""
    config = customer_run_config(load_customers(base / FILE)[slug]) if whole and slug != "newco" else \
        {"resources": {"client_folder": {"config": {}}, "mongo": {"config": {}}}}
    if slug == "newco" and whole:  # a partition the file lacks runs only from a whole entry
        config = customer_run_config(load_customers(base / FILE)["acme"])
        config["resources"]["client_folder"]["config"].update(
            inbound_dir=str(base / "newco" / "in"), outbound_dir=str(base / "newco" / "out"))
        config["resources"]["mongo"]["config"]["collection"] = "newco"
    for key, value in values.items():
        resource = "mongo" if key in MONGO_KEYS else "client_folder"
        config["resources"][resource]["config"][key] = value
    return config


@PROPERTIES
@given(data=st.data(), slug=st.sampled_from(["acme", "globex", "initech", "newco"]), whole=st.booleans(),
       kind=st.sampled_from(["crossing", "invalid", "own"]))
def test_a_forged_run_config_is_refused_when_it_reaches_another_customer_and_else_used_whole(root, data, slug, whole, kind):
    other = data.draw(st.sampled_from([name for name in ("acme", "globex", "initech") if name != slug]))
    values = {"crossing": crossing(root, other), "invalid": INVALID, "own": own(root)}[kind]
    values = data.draw(values)
    config = forged_config(slug, root, values, whole)
    try:
        scope = launch(slug, config)
    except ScopeRefused as refused:
        event(f"{kind}: refused")
        message = str(refused)
        assert "\n" not in message and NOTHING_DONE in message, message
        assert kind != "own" or (slug == "newco" and not whole), message
        return
    assert kind == "own" and not (slug == "newco" and not whole), f"{values} for {slug} was used"
    event(f"{kind}: used")
    given_values = {**config["resources"]["client_folder"]["config"], **config["resources"]["mongo"]["config"]}
    entry = load_customers(root / FILE).get(slug)
    for key in ("inbound_dir", "outbound_dir", "client_timezone", "file_format", "settle_seconds", "max_file_bytes",
                "database", "collection"):
        used = scope.file_format if key == "file_format" else getattr(scope.settings, SETTING.get(key, key))
        if key in given_values:
            assert used == given_values[key], key
        elif key in ("inbound_dir", "outbound_dir", "database", "collection") and entry is not None:
            assert str(used) == str(getattr(entry, key)), key  # left out: the file's, never another's
    others = {name: customer for name, customer in load_customers(root / FILE).items() if name != slug}
    check_isolation({**others, slug: scope.entry()}, "the run and the file")
