"""2,000 inbound files, 10% of them corrupt in every way: every valid record is applied,
every bad file is failed with a reason, nothing is lost."""

import json
import random

from tracos_integration_tests.conftest import inbound_metadata
from tracos_integration_tests.factories import client_order, read_json
from tracos_integration_tests.reliability.harness import tally

CORRUPTIONS = [
    ("truncated", lambda n: json.dumps(client_order(n))[:-7].encode()),
    ("empty", lambda n: b""),
    ("not UTF-8", lambda n: json.dumps(client_order(n, summary="caf\u00e9"), ensure_ascii=False).encode("latin-1")),
    ("wrong types", lambda n: json.dumps(client_order(n, orderNo=str(n), isDone="yes")).encode()),
    ("missing fields", lambda n: json.dumps({"orderNo": n}).encode()),
    ("contradictory flags", lambda n: json.dumps(client_order(n, isDone=True, isCanceled=True)).encode()),
    ("deep nesting", lambda n: ("[" * 50_000 + "]" * 50_000).encode()),
    ("5,000-digit number", lambda n: ('{"orderNo": ' + "7" * 5000 + "}").encode()),
    ("NaN", lambda n: ('{"orderNo": %d, "summary": "x", "creationDate": NaN}' % n).encode()),
    ("duplicate keys", lambda n: ('{"orderNo": %d, "orderNo": %d}' % (n, n + 1)).encode()),
    ("operator as orderNo", lambda n: json.dumps(client_order(n, orderNo={"$gt": ""})).encode()),
]


def test_two_thousand_files_ten_percent_corrupt(workspace, figures):
    rng = random.Random(7)
    expected: dict[int, str] = {}
    bad_files: set[str] = set()
    mixed_bad_records = 0
    number = 0
    for index in range(2000):
        name = f"f{index:05d}.json"
        number += 1
        if index % 10 == 3:  # 10%: corrupt, every kind in turn
            kind, make = CORRUPTIONS[(index // 10) % len(CORRUPTIONS)]
            (workspace.inbound / name).write_bytes(make(number))
            bad_files.add(name)
        elif index % 10 == 7 and index % 20 == 7:  # arrays mixing good and bad records
            good = client_order(number, summary=f"order {number}")
            expected[number] = f"order {number}"
            number += 1
            bad = client_order(number, lastUpdateDate="not a date")
            (workspace.inbound / name).write_text(json.dumps([good, bad]))
            bad_files.add(name)
            mixed_bad_records += 1
        else:
            expected[number] = f"order {number}"
            record = client_order(number, summary=f"order {number}")
            if rng.random() < 0.3:
                record[rng.choice(["isPending", "isActive", "isDone", "isOnHold", "isCanceled"])] = True
            (workspace.inbound / name).write_text(json.dumps(record if rng.random() < 0.5 else [record]))

    result = workspace.run("inbound_job")
    assert result.success
    processed = [n for n in workspace.processed()]
    failed_files = [n for n in workspace.failed() if not n.endswith(".error.json")]
    assert len(processed) + len(failed_files) == 2000  # processed + failed = input
    assert set(failed_files) == bad_files
    for name in failed_files:
        report = read_json(workspace.inbound / "failed" / f"{name}.error.json")
        assert report["file"] == name and report["errors"] and all(e["reason"] for e in report["errors"])
    counts = tally(workspace.collection, expected)
    assert counts["lost"] == 0 and counts["duplicated"] == 0  # every valid record applied
    metadata = inbound_metadata(result)
    assert metadata["inserted"] == len(expected)
    assert list(workspace.inbound.glob("*.json")) == []
    figures(records_in=len(expected) + len(bad_files), applied=counts["applied"], rejected=metadata["rejected"],
            lost=counts["lost"], duplicated=counts["duplicated"])
