"""The ports (tracos_integration/ports.py): the sync loops need only them and core/, so the
local folder and the MongoDB repository are each one implementation, and a fake in memory
runs both loops just as well."""

from __future__ import annotations

import ast
import inspect
import json
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping, Optional, Sequence

import pytest

from tracos_integration.client.folder import ClientFolder
from tracos_integration.client.formats import FORMATS
from tracos_integration.core.files import Archived, FileErrors, FileIdentity, Page, ReadFile
from tracos_integration.core.timestamps import UTC
from tracos_integration.core.writes import IndexReport, Update, WriteResult
from tracos_integration.ports import ClientSide, Format, TracOS
from tracos_integration.sync.inbound import apply_files
from tracos_integration.sync.outbound import export
from tracos_integration.tracos.resource import MongoResource
from tracos_integration_tests.factories import client_order, tracos_document

PACKAGE = Path(__file__).resolve().parent.parent / "tracos_integration"
SYNC, OPS = PACKAGE / "sync", PACKAGE / "ops"
MAX_OP_LINES = 40
NOW = datetime(2024, 6, 1, 12, tzinfo=UTC)


def _declared(protocol: type) -> list[str]:
    return [name for name, value in vars(protocol).items() if not name.startswith("_") and callable(value)]


@pytest.mark.parametrize("implementation, port", [
    (lambda workspace: ClientFolder(inbound_dir=str(workspace.inbound), outbound_dir=str(workspace.outbound)),
     ClientSide),
    (lambda workspace: MongoResource(uri=workspace.mongo_uri).repository(), TracOS),
    (lambda workspace: FORMATS["json"], Format),
    (lambda workspace: FORMATS["csv"], Format),
], ids=["ClientFolder", "WorkOrderRepository", "json", "csv"])
def test_the_folder_the_repository_and_each_format_implement_their_port(workspace, implementation, port):
    """isinstance checks the names; the parameters are checked too: every one the port
    declares is accepted by the implementation under the same name."""
    implementation = implementation(workspace)
    assert isinstance(implementation, port)
    for name in _declared(port):
        declared = list(inspect.signature(getattr(port, name)).parameters)[1:]
        accepted = inspect.signature(getattr(implementation, name)).parameters
        assert all(parameter in accepted for parameter in declared), (port.__name__, name, declared, list(accepted))


def test_the_sync_package_imports_only_core_and_the_ports():
    for module in sorted(SYNC.glob("*.py")):
        for node in ast.walk(ast.parse(module.read_text())):
            names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                if name.startswith("tracos_integration"):
                    assert name == "tracos_integration.ports" or name.startswith("tracos_integration.core."), (
                        f"{module.name} imports {name}")


def _is_op(decorator: ast.expr) -> bool:
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    return isinstance(target, ast.Attribute) and target.attr == "op"


def test_each_op_is_fetch_call_record_in_at_most_40_lines():
    """The loops live in sync/, the metadata in helpers: an op only wires them."""
    ops = {}
    for module in sorted(OPS.glob("*.py")):
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.FunctionDef) and any(_is_op(d) for d in node.decorator_list):
                ops[f"{module.name}:{node.name}"] = node.end_lineno - node.decorator_list[0].lineno + 1
    assert {"inbound.py:apply_inbound_files", "outbound.py:export_unsynced"} <= set(ops)
    assert {name: lines for name, lines in ops.items() if lines > MAX_OP_LINES} == {}


# -- fakes in memory: nothing here is a folder or a database --------------------------------
class FakeFormat:
    name = "fake"

    def record_problem(self, raw: Any) -> Optional[str]:
        return None

    def locate(self, index: int, reason: str) -> str:
        return f"record {index}: {reason}"

    def file_name(self, number: int) -> str:
        return f"order-{number}.fake"


class FakeClient:
    def __init__(self, inbound: dict[str, list[Any]]) -> None:
        self.inbound = inbound
        self.written: dict[str, bytes] = {}
        self.format = FakeFormat()

    def list_inbound(self) -> tuple[list[str], list[str]]:
        return sorted(self.inbound), []

    def list_other_formats(self) -> list[str]:
        return []

    def read(self, names: list[str], files_per_page: int) -> Iterator[Page]:
        for start in range(0, len(names), files_per_page):
            yield Page(files=[ReadFile(name, FileIdentity(index, 1, 1), records=list(self.inbound[name]))
                              for index, name in enumerate(names[start:start + files_per_page])])

    def archive(self, files: dict[str, int], failed: dict[str, FileErrors]) -> Archived:
        return Archived(processed=len(files) - len(failed), failed=list(failed))

    def require(self, which: str) -> None:
        return None

    def taken_names(self, which: str, names: Iterable[str]) -> dict[str, str]:
        return {}

    def export_file(self, record: dict[str, Any], timezone: Optional[str] = None) -> tuple[str, bytes]:
        return self.format.file_name(record["orderNo"]), json.dumps(record).encode()

    def write_files(self, which: str, files: Iterable[tuple[str, bytes]]) -> list[str]:
        self.written.update(files)
        return [name for name, _ in files]


class FakeTracOS:
    def __init__(self, documents: list[dict[str, Any]]) -> None:
        self.documents = {document["_id"]: document for document in documents}

    def ensure_indexes(self) -> IndexReport:
        return IndexReport()

    def find_by_numbers(self, numbers: Sequence[int]) -> dict[Any, list[dict[str, Any]]]:
        found: dict[Any, list[dict[str, Any]]] = {}
        for document in self.documents.values():
            if document.get("number") in numbers:
                found.setdefault(document["number"], []).append(dict(document))
        return found

    def apply_client_changes(self, inserts: Sequence[Mapping[str, Any]], updates: Sequence[Update],
                             synced_at: datetime) -> WriteResult:
        for fields in inserts:
            self.documents[f"new-{fields['number']}"] = {"_id": f"new-{fields['number']}", **fields,
                                                         "isSynced": True, "syncedAt": synced_at}
        for update in updates:
            self.documents[update.read["_id"]].update({**update.fields, "isSynced": True, "syncedAt": synced_at})
        return WriteResult(inserted={fields["number"] for fields in inserts}, matched=len(updates))

    def iter_unsynced(self, page_size: int) -> Iterator[list[dict[str, Any]]]:
        unsynced = [dict(document) for document in self.documents.values() if document.get("isSynced") is not True]
        for start in range(0, len(unsynced), page_size):
            yield unsynced[start:start + page_size]

    def find_same_numbers(self, documents: Iterable[Mapping[str, Any]]) -> dict[Any, list[dict[str, Any]]]:
        return self.find_by_numbers([document["number"] for document in documents])

    def mark_synced(self, conditions: Iterable[Mapping[str, Any]], synced_at: datetime) -> int:
        marked = 0
        for condition in conditions:
            document = self.documents[condition["_id"]]
            if all(document.get(name) == test["$eq"] for name, test in condition.items() if "$eq" in test):
                document.update(isSynced=True, syncedAt=synced_at)
                marked += 1
        return marked


def test_the_fakes_implement_the_ports():
    assert isinstance(FakeClient({}), ClientSide) and isinstance(FakeTracOS([]), TracOS)
    assert isinstance(FakeFormat(), Format)


def test_the_inbound_loop_runs_on_the_ports_alone():
    client = FakeClient({
        "a.fake": [client_order(1), client_order(2, lastUpdateDate="2024-04-01T00:00:00.000Z")],
        "b.fake": [client_order(3), {"orderNo": "x"}],
    })
    tracos = FakeTracOS([tracos_document(2, _id="two", isSynced=True)])
    run = apply_files(tracos, client, page_size=1, dry_run=False, now=NOW, client_timezone="UTC")
    counts = run.report.counts
    assert (counts["read"], counts["inserted"], counts["updated"], counts["rejected"]) == (4, 2, 1, 1)
    assert set(run.report.files) == {"a.fake", "b.fake"} and list(run.report.failed) == ["b.fake"]
    assert "record 1:" in run.report.rejections[0].reason  # the client's format locates it
    assert sorted(document["number"] for document in tracos.documents.values()) == [1, 2, 3]


def test_the_outbound_loop_runs_on_the_ports_alone():
    client = FakeClient({})
    tracos = FakeTracOS([tracos_document(number, _id=f"d{number}") for number in (1, 2, 3)]
                        + [tracos_document(4, _id="d4", isSynced=True)])
    report = export(tracos, client, page_size=2, dry_run=False, timezone="UTC", now=lambda: NOW)
    assert report.summary == {"exported": 3, "marked_synced": 3, "changed_meanwhile": 0, "skipped": 0}
    assert report.pages == 2 and sorted(client.written) == ["order-1.fake", "order-2.fake", "order-3.fake"]
    assert json.loads(client.written["order-2.fake"])["orderNo"] == 2
    assert all(document["isSynced"] is True for document in tracos.documents.values())
