"""Hostile inbound files among good ones: files replaced while a run works, names that are
not UTF-8 or at the 255-byte limit, stale reports, lone surrogates, millions of bad records,
a sub-folder that cannot be created. Every valid record is applied, nothing is lost."""

import json
import os

from tracos_integration_tests.conftest import inbound_metadata
from tracos_integration_tests.factories import client_order, drop, read_json
from tracos_integration_tests.reliability.harness import FailingCollection, tally, use_collection


def expected_titles(numbers, prefix="order") -> dict[int, str]:
    return {number: f"{prefix} {number}" for number in numbers}


def every_file_settled(workspace) -> bool:
    return not [name for name in os.listdir(workspace.inbound) if name.endswith(".json")]


def test_files_replaced_while_a_run_works_are_read_again_next_run(workspace, monkeypatch, figures):
    for number in range(1, 101):
        drop(workspace.inbound, f"f{number:03d}.json", [client_order(number, summary=f"first {number}")])
    replaced = range(1, 101, 10)  # a writer renames a newer version over every tenth file mid-run
    collection = FailingCollection(workspace.collection)

    def replace_some(*args, **kwargs):
        if collection.calls["bulk_write"] == 1:
            for number in replaced:
                temp = workspace.inbound / f".f{number:03d}.tmp"
                temp.write_text(json.dumps([client_order(number, summary=f"order {number}",
                                                         lastUpdateDate="2024-06-01T00:00:00Z")]))
                os.replace(temp, workspace.inbound / f"f{number:03d}.json")

    collection.before("bulk_write", replace_some)
    with monkeypatch.context() as patch:
        use_collection(patch, collection)
        first = workspace.run("inbound_job")
    assert first.success
    assert inbound_metadata(first)["files_left_not_moved"] == len(replaced)
    assert workspace.run("inbound_job").success
    assert every_file_settled(workspace) and len(workspace.processed()) == 100
    expected = {n: (f"order {n}" if n in replaced else f"first {n}") for n in range(1, 101)}
    counts = tally(workspace.collection, expected)
    assert counts["lost"] == 0 and counts["duplicated"] == 0
    figures(records_in=100 + len(replaced), applied=counts["applied"], rejected=0, lost=counts["lost"],
            duplicated=counts["duplicated"])


def test_hostile_names_and_stale_reports_all_end_in_processed_or_failed(workspace, figures):
    inbound = os.fsencode(workspace.inbound)
    good = {
        b"caf\xe9.json": 1,  # Latin-1, not UTF-8
        b"\xff\xfe.json": 2,
        ("b" * 250 + ".json").encode(): 3,  # 255 bytes
        "ação-ü.json".encode(): 4,
    }
    for name, number in good.items():
        with open(os.path.join(inbound, name), "w") as handle:
            json.dump([client_order(number, summary=f"order {number}")], handle)
    bad_names = [b"r\xe9jected.json", ("c" * 250 + ".json").encode(), b"stale.json"]
    for name in bad_names:
        with open(os.path.join(inbound, name), "w") as handle:
            json.dump([{"orderNo": 0}], handle)
    (workspace.inbound / "failed").mkdir()
    drop(workspace.inbound / "failed", "stale.json.error.json", {"file": "stale.json", "errors": []})
    result = workspace.run("inbound_job")
    assert result.success
    moved = inbound_metadata(result)
    assert moved["files_left_not_moved"] == 0 and moved["files_failed"] == len(bad_names)
    assert every_file_settled(workspace)
    reports = [name for name in os.listdir(os.fsencode(workspace.inbound / "failed")) if name.endswith(b".error.json")]
    assert len(reports) == len(bad_names) + 1  # each failed file's own report, and the stale one kept
    fresh = [os.fsdecode(r) for r in reports if r != b"stale.json.error.json"]
    assert all(read_json(workspace.inbound / "failed" / name)["errors"] for name in fresh)
    counts = tally(workspace.collection, expected_titles(good.values()))
    assert counts["lost"] == 0
    figures(records_in=len(good) + len(bad_names), applied=counts["applied"], rejected=moved["files_failed"],
            lost=counts["lost"], duplicated=counts["duplicated"])


def test_lone_surrogates_and_millions_of_bad_records_never_block_the_folder(workspace, figures):
    drop(workspace.inbound, "a.json", [client_order(n, summary=f"order {n}") for n in range(1, 51)]
         + [client_order(51, summary="\ud800 broken")])
    drop(workspace.inbound, "b.json", b'[{"orderNo": 52, "summary": "\\udfff", "creationDate": "2024-03-01T10:00:00Z",'
                                      b' "lastUpdateDate": "2024-03-02T10:00:00Z"}]')
    drop(workspace.inbound, "empties.json", "[" + ",".join(["{}"] * 200_000) + "]")
    drop(workspace.inbound, "c.json", [client_order(n, summary=f"order {n}") for n in range(53, 101)])
    result = workspace.run("inbound_job")
    assert result.success and every_file_settled(workspace)
    report = read_json(workspace.inbound / "failed" / "empties.json.error.json")
    assert report["errors_total"] == 200_000 and len(report["errors"]) == 1000
    expected = expected_titles([*range(1, 51), *range(53, 101)])
    counts = tally(workspace.collection, expected)
    assert counts["lost"] == 0 and workspace.collection.count_documents({}) == len(expected)
    rejected = inbound_metadata(result)["rejected"]
    assert rejected == 200_002
    figures(records_in=len(expected) + rejected, applied=counts["applied"], rejected=rejected,
            lost=counts["lost"], duplicated=counts["duplicated"])


def test_a_file_in_the_way_of_processed_fails_clearly_and_loses_nothing(workspace, figures):
    drop(workspace.inbound, "processed", "someone's notes")
    for number in range(1, 21):
        drop(workspace.inbound, f"f{number:02d}.json", [client_order(number, summary=f"order {number}")])
    first = workspace.run("inbound_job")
    assert not first.success
    assert len(list(workspace.inbound.glob("f*.json"))) == 20  # nothing moved
    os.rename(workspace.inbound / "processed", workspace.inbound / "notes.txt")
    second = workspace.run("inbound_job")
    assert second.success and every_file_settled(workspace) and len(workspace.processed()) == 20
    assert inbound_metadata(second)["unchanged"] == 20  # applied by the first run
    counts = tally(workspace.collection, expected_titles(range(1, 21)))
    assert counts["lost"] == 0
    figures(records_in=20, applied=counts["applied"], rejected=0, lost=counts["lost"], duplicated=counts["duplicated"])
