"""Property-based, over TracOS documents of any BSON type (CONTRACT 6.1, 6.3, 6.5): after one
outbound run, exactly the documents that are not synced, translatable and the latest of their
number have their content in their file and are marked; a second run exports nothing new and
never changes a file."""

import json
import tempfile
import uuid
from datetime import datetime, timezone
from pathlib import Path

import dagster as dg
from bson import Decimal128, Int64, MaxKey, MinKey, ObjectId, Timestamp
from bson.datetime_ms import DatetimeMS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracos_integration_tests.properties import examples
from tracos_integration.core.tracos import DocumentUntranslatable, parse_tracos_document
from tracos_integration.core.translation import to_client_record
from tracos_integration.definitions import defs
from tracos_integration.sync.outbound import latest_first_key
from tracos_integration.core.bson_order import number_key, sort_key
from tracos_integration.tracos.resource import MongoResource
from tracos_integration_tests.conftest import outbound_metadata
from tracos_integration_tests.factories import ABSENT, tracos_document

UTC = timezone.utc
OUT_OF_RANGE = DatetimeMS(253402300800000 + 86_400_000)  # year 10000
MOMENTS = [datetime(2024, 3, d, tzinfo=UTC) for d in (1, 2, 3)]

# Any `_id` mongomock can hold (it keys documents by Python hash: no NaN, decimal or javascript `_id`s).
ids = st.one_of(
    st.integers(-3, 3), st.integers(-3, 3).map(Int64), st.floats(allow_nan=False, min_value=-3, max_value=3),
    st.text(max_size=2), st.builds(ObjectId), st.sampled_from(MOMENTS + [OUT_OF_RANGE]), st.booleans(), st.none(),
    # Timestamp(0, 0) is replaced by the insert time, on a server too
    st.builds(Timestamp, st.integers(1, 3), st.integers(0, 3)), st.just(MinKey()), st.just(MaxKey()),
)
numbers = st.sampled_from([1, 2, Int64(1), Int64(2), 1.0, 2.5, Decimal128("1"), True, "1", None, ABSENT])
is_synced = st.sampled_from([True, False, None, ABSENT, 1, 0, 1.0, "true", Int64(1), Decimal128("1")])
dates = st.sampled_from(MOMENTS + [OUT_OF_RANGE, "2024-03-09T00:00:00Z", None, ABSENT])


@st.composite
def tracos_documents(draw):
    _ids = draw(st.lists(ids, min_size=1, max_size=5, unique_by=lambda value: value))
    return [
        {**tracos_document(
            draw(numbers), title=draw(st.sampled_from(["a", "b"])), isSynced=draw(is_synced),
            updatedAt=draw(dates), createdAt=draw(st.sampled_from([MOMENTS[0], OUT_OF_RANGE])),
            status=draw(st.sampled_from(["pending", "completed", "exploded"])),
        ), "_id": _id}
        for _id in _ids
    ]


def content(document):
    try:
        if any(isinstance(document.get(name), DatetimeMS) for name in ("createdAt", "updatedAt")):
            return None  # outside years 1-9999: the client format cannot carry it
        return to_client_record(parse_tracos_document(dict(document)))
    except DocumentUntranslatable:
        return None


def should_go_out(document, documents):
    """Not the boolean true, translatable, and the latest of every document with its number."""
    key = number_key(document.get("number"))
    same = [d for d in documents if key is not None and number_key(d.get("number")) == key]
    return (document.get("isSynced") is not True and content(document) is not None
            and max(same, key=latest_first_key) is document)


@settings(max_examples=examples(10), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(documents=tracos_documents())
def test_one_run_exports_and_marks_exactly_the_latest_unsynced_of_each_number(documents, monkeypatch):
    uri = f"mongomock://property-{uuid.uuid4().hex}"
    folder = tempfile.TemporaryDirectory(prefix="outbound-")  # removed when the example ends
    outbound = Path(folder.name)
    monkeypatch.setenv("MONGO_URI", uri)
    monkeypatch.setenv("DATA_OUTBOUND_DIR", str(outbound))
    collection = MongoResource(uri=uri).get_collection()
    collection.insert_many([dict(d) for d in documents])

    def run():
        result = defs.get_job_def("outbound_job").execute_in_process(instance=dg.DagsterInstance.ephemeral())
        assert result.success
        return result

    run()
    after = {sort_key(d["_id"]): d for d in collection.find({})}
    for document in documents:
        stored = after[sort_key(document["_id"])]
        if should_go_out(document, documents):
            file = outbound / f"{document['number']}.json"
            assert json.loads(file.read_text()) == content(document), document
            assert stored["isSynced"] is True, document
        else:
            assert stored.get("isSynced", ABSENT) == document.get("isSynced", ABSENT) and \
                type(stored.get("isSynced")) is type(document.get("isSynced")), document  # never marked
    files = {path.name: path.read_bytes() for path in outbound.iterdir()}
    assert len(files) == sum(1 for d in documents if should_go_out(d, documents))

    again = run()
    assert outbound_metadata(again)["exported"] == 0
    assert {path.name: path.read_bytes() for path in outbound.iterdir()} == files
