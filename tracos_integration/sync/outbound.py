"""Outbound: unsynced TracOS documents become client files (CONTRACT section 6)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from tracos_integration.core.rules import unchanged_since_read
from tracos_integration.core.tracos import DocumentUntranslatable, parse_tracos_document
from tracos_integration.core.translation import to_client_record


@dataclass(frozen=True)
class Skipped:
    number: Any
    document_id: str
    reason: str


@dataclass
class ExportBatch:
    """Client files to write, and the conditions that mark their documents synced."""

    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    mark_conditions: list[dict[str, Any]] = field(default_factory=list)


def outbound_file_name(number: int) -> str:
    return f"{number}.json"


def translate_batch(documents: Iterable[Mapping[str, Any]]) -> tuple[ExportBatch, list[Skipped]]:
    batch, skipped = ExportBatch(), []
    for raw in documents:
        try:
            document = parse_tracos_document(dict(raw))
        except DocumentUntranslatable as error:
            skipped.append(Skipped(raw.get("number"), str(raw.get("_id")), str(error)))
            continue
        batch.files[outbound_file_name(document.number)] = to_client_record(document)
        batch.mark_conditions.append(unchanged_since_read(raw))
    return batch, skipped
