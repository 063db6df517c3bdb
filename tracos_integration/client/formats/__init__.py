"""Client file formats: how one customer's ERP writes work orders, and how it wants them back.

Every format turns a file into raw client records of ONE shape, the JSON format's
(the 1:1 fields of `core/fields.py`, today `orderNo`, `summary`, `creationDate`,
`lastUpdateDate`; the five status flags, `isDeleted`, `deletedDate`), so validation and
translation (`core/`) never change; and it turns one outbound client record
(`core.translation.to_client_record`) into file bytes.

Formats register themselves: each module in this package that defines `FORMAT` (an
instance of a `ClientFormat` subclass) is found at import, under `FORMAT.name`. A third
format is one new module here; nothing is edited (README, "Customers file and file formats").
"""

from __future__ import annotations

import codecs
import importlib
import pkgutil
import sys
from abc import ABC, abstractmethod
from types import ModuleType
from typing import Any, Iterable, Optional


class ClientFormat(ABC):
    """One file format. Instances are stateless and shared by every customer using it."""

    name: str  # the value of `format:` in the customers file
    suffix: str  # ".json"; inbound candidates and outbound files carry it

    def is_candidate(self, name: str) -> bool:
        """Top-level files with the suffix that are not hidden (temporary files start with '.')."""
        return name.endswith(self.suffix) and not name.startswith(".")

    @abstractmethod
    def parse(self, data: bytes) -> list[Any]:
        """The file's raw client records, in the JSON format's dict shape. ValueError, with a
        reason a person can act on, when the whole file cannot be read."""

    def records(self, data: bytes, *, may_be_cut_off: bool = False) -> Iterable[Any]:
        """The file's raw client records as the inbound run reads them: the whole file is
        checked now (ValueError as `parse`), records may be made as they are iterated. With
        `may_be_cut_off` (younger than INBOUND_SETTLE_SECONDS: maybe still being written), a
        file whose end looks like its writer stopped mid-record is a ValueError too, so the
        caller leaves it for the next run (CONTRACT 5.6). A JSON file cut off does not parse anyway."""
        return self.parse(data)

    def record_problem(self, raw: Any) -> Optional[str]:
        """Why a parsed record is rejected before validation (a duplicate key, a CSV row
        that does not fit its columns), or None. The caller rejects the record with this
        reason instead of validating it."""
        return None

    def where(self, index: int) -> str:
        """A record's position as the customer finds it in the file."""
        return f"record {index}"

    def locate(self, index: int, reason: str) -> str:
        """A rejected record's reason as its report shows it. A JSON report's `index` already
        says where; a format whose positions read differently (a CSV row) says so first."""
        return reason

    @abstractmethod
    def render(self, record: dict[str, Any], timezone: str) -> bytes:
        """The outbound file for one client record (as `core.translation.to_client_record`
        makes it); `timezone` is the customer's IANA zone, for formats without offsets."""

    def file_name(self, number: int) -> str:
        """The outbound file's name for work order `number`."""
        return f"{number}{self.suffix}"


def decode_text(data: bytes) -> str:
    """A client file's bytes as text: UTF-8, with or without a BOM; ValueError saying where not."""
    # Not the "utf-8-sig" codec: it is written in Python, costs more than the JSON parse, and
    # counts its error offsets from after the BOM.
    start = 3 if data.startswith(codecs.BOM_UTF8) else 0
    try:
        return str(memoryview(data)[start:], "utf-8") if start else data.decode("utf-8")
    except UnicodeDecodeError as error:
        offset = start + error.start
        raise ValueError(
            f"not UTF-8 text (byte 0x{data[offset]:02x} at offset {offset}); save the file as UTF-8"
        ) from None


def discover(package: ModuleType) -> dict[str, ClientFormat]:
    """Every `FORMAT` defined by a module of `package`, by its name."""
    found: dict[str, ClientFormat] = {}
    for module_info in sorted(pkgutil.iter_modules(package.__path__), key=lambda info: info.name):
        module = importlib.import_module(f"{package.__name__}.{module_info.name}")
        client_format = getattr(module, "FORMAT", None)
        if not isinstance(client_format, ClientFormat):
            continue
        if client_format.name in found:
            raise RuntimeError(
                f"two client formats are named {client_format.name!r} "
                f"({module.__name__} and another module of {package.__name__}); rename one"
            )
        found[client_format.name] = client_format
    return found


# The modules import ClientFormat from this one, which is defined by now.
FORMATS: dict[str, ClientFormat] = discover(sys.modules[__name__])


def format_for(name: str) -> ClientFormat:
    """The format named `name`; ValueError naming the known ones otherwise."""
    try:
        return FORMATS[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown file format {name!r}; use one of {', '.join(sorted(FORMATS))}"
        ) from None
