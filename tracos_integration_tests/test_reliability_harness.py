"""The outbound check the reliability suite runs after every scenario (harness.outbound_problems)
finds a file that does not hold what TracOS marked synced."""

import json
from datetime import datetime, timezone

from tracos_integration.core.tracos import parse_tracos_document
from tracos_integration.core.translation import to_client_record
from tracos_integration_tests.factories import drop, tracos_document
from tracos_integration_tests.reliability.harness import outbound_problems

UTC = timezone.utc
OLDER, NEWER, MARKED = datetime(2024, 3, 1, tzinfo=UTC), datetime(2024, 3, 5, tzinfo=UTC), datetime(2024, 4, 1, tzinfo=UTC)


def exported(folder, document):
    (folder / f"{document['number']}.json").write_text(json.dumps(to_client_record(parse_tracos_document(dict(document)))))


def test_a_file_holding_an_older_duplicate_of_a_synced_document_is_a_problem(workspace):
    older = tracos_document(7, title="older", updatedAt=OLDER, isSynced=True, syncedAt=MARKED)
    newer = tracos_document(7, title="newer", updatedAt=NEWER, isSynced=True, syncedAt=MARKED)
    workspace.collection.insert_many([older, newer])
    exported(workspace.outbound, older)
    [problem] = outbound_problems(workspace.collection, workspace.outbound, workspace.inbound)
    assert "marked synced" in problem and "'older'" in problem
    exported(workspace.outbound, newer)
    assert outbound_problems(workspace.collection, workspace.outbound, workspace.inbound) == []


def test_a_document_marked_synced_without_its_file_is_a_problem(workspace):
    workspace.collection.insert_one(tracos_document(3, isSynced=True, syncedAt=MARKED))
    [problem] = outbound_problems(workspace.collection, workspace.outbound, workspace.inbound)
    assert "3.json holds None" in problem


def test_what_the_client_sent_set_synced_by_hand_or_a_newer_unsynced_content_is_no_problem(workspace):
    collection = workspace.collection
    collection.insert_one(tracos_document(1, isSynced=True, syncedAt=MARKED))  # applied from the client's file
    drop(workspace.inbound, "a.json", [{"orderNo": 1}])
    collection.insert_one(tracos_document(2, isSynced=True))  # synced by hand: no syncedAt
    marked = tracos_document(5, title="marked", updatedAt=OLDER, isSynced=True, syncedAt=MARKED)
    written = tracos_document(5, title="written, not marked yet", updatedAt=NEWER)
    collection.insert_many([marked, written])
    exported(workspace.outbound, written)  # a crash between the write and the mark
    assert outbound_problems(collection, workspace.outbound, workspace.inbound) == []
