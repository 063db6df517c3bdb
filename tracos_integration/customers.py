"""The customers file: which customers one deployment syncs, and each one's settings.

`TRACOS_CUSTOMERS_FILE` names a YAML file with one top-level key, `customers`, a mapping
from a slug (the partition key) to that customer's settings:

    customers:
      acme:
        inbound_dir: data/customers/acme/inbound    # relative folders resolve against the
        outbound_dir: data/customers/acme/outbound  # current directory when the file is loaded
        timezone: America/Sao_Paulo                 # IANA; naive client timestamps are read in it
        format: json                                # a name in client.formats.FORMATS
        database: tracos
        collection: workorders_acme

A file that cannot be used raises CustomersFileError: one line naming the file and what
to fix. Two customers never share or nest folders (after resolving links) and never share
a collection; database and collection names follow MongoDB's naming rules (core/names.py).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from pathlib import PurePosixPath
from typing import Any, Optional, Union
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml  # PyYAML: already installed, dagster depends on it
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from tracos_integration.client.formats import FORMATS, ClientFormat, format_for
from tracos_integration.client.locations import RemoteFolderError, is_remote, parse_folder_url, printable
from tracos_integration.core.client import describe_validation_error
from tracos_integration.core.names import collection_problem, database_problem, namespace_problem
from tracos_integration.core.text import short

CUSTOMERS_FILE_VARIABLE = "TRACOS_CUSTOMERS_FILE"
SLUG = re.compile(r"[a-z0-9_-]{1,40}")


class CustomersFileError(ValueError):
    """The customers file cannot be used; the message is one line naming the file and the fix."""


class Customer(BaseModel):
    """One customer's settings. Local folders are absolute (resolved at load); a remote one
    (sftp://user@host[:port]/path, s3://bucket/prefix) stays its URL. `sftp_key_file` is the
    private key for its sftp:// folders (default: SFTP_KEY_FILE)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    inbound_dir: Union[Path, str]
    outbound_dir: Union[Path, str]
    timezone: str = Field(strict=True)
    format: str = Field(strict=True)
    database: str = Field(strict=True)
    collection: str = Field(strict=True)
    sftp_key_file: Optional[str] = Field(default=None, strict=True)

    @property
    def file_format(self) -> ClientFormat:
        """The format this customer's files are read and written in."""
        return format_for(self.format)

    @field_validator("inbound_dir", "outbound_dir", mode="before")
    @classmethod
    def _folder_is_text(cls, value: Any) -> Any:
        if not isinstance(value, (str, os.PathLike)) or not str(value).strip():
            raise ValueError(f"must be a folder path, got {_show(value)}")
        if isinstance(value, str) and "://" in value:  # before the NUL check, which would echo its user name
            try:
                parse_folder_url(value, "the folder")
            except RemoteFolderError as error:
                raise ValueError(str(error)) from None
            return value
        if "\x00" in str(value):
            raise ValueError(f"must be a folder path without NUL characters, got {_show(value)}")
        return Path(os.path.abspath(os.path.expanduser(value)))

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a folder of zones ("America"), a name too long
            raise ValueError(f"{value!r} is not an IANA time zone (e.g. Europe/Berlin, America/Sao_Paulo, UTC)") from None
        return value

    @field_validator("format")
    @classmethod
    def _known_format(cls, value: str) -> str:
        if value not in FORMATS:
            raise ValueError(f"{value!r} is not a file format; use one of {', '.join(sorted(FORMATS))}")
        return value

    @field_validator("database")
    @classmethod
    def _database_name(cls, value: str) -> str:
        problem = database_problem(value)
        if problem:
            raise ValueError(f"{_show(value)} is not a MongoDB database name: it {problem}")
        return value

    @field_validator("collection")
    @classmethod
    def _collection_name(cls, value: str) -> str:
        problem = collection_problem(value)
        if problem:
            raise ValueError(f"{_show(value)} is not a MongoDB collection name: it {problem}")
        return value


def load_customers(path: str | os.PathLike[str], *, isolated: bool = True) -> dict[str, Customer]:
    """Every customer in the file, by slug, in the file's order. Raises CustomersFileError.
    `isolated=False` skips the check that no two share folders or a collection."""
    where = str(path)
    document = _read_yaml(where)

    def refuse(what: str) -> CustomersFileError:
        return CustomersFileError(f"customers file {where}: {what}")

    if document is None:
        raise refuse("the file is empty; write `customers:` with one entry per customer")
    if not isinstance(document, dict):
        raise refuse(f"expected a mapping with the key `customers` at the top, found {_kind(document)}")
    unknown = [key for key in document if key != "customers"]
    if unknown:
        raise refuse(f"unknown top-level key {_show(unknown[0])}; the only top-level key is `customers`")
    if "customers" not in document:
        raise refuse("missing the top-level key `customers`")
    entries = document["customers"]
    if entries is not None and not isinstance(entries, dict):
        raise refuse(f"`customers` must map each customer's slug to its settings, found {_kind(entries)}")
    if not entries:
        raise refuse("`customers` lists no customers; give it one entry per customer, slug: settings")

    customers: dict[str, Customer] = {}
    for slug, settings in entries.items():
        if not isinstance(slug, str) or not SLUG.fullmatch(slug):
            raise refuse(
                f"customer slug {_show(slug)} is not 1-40 lowercase letters, digits, '-' or '_'"
                + ("; write it in quotes" if not isinstance(slug, str) else "")
            )
        if not isinstance(settings, dict):
            raise refuse(f"customer {slug!r}: expected its settings ({', '.join(Customer.model_fields)}), found {_kind(settings)}")
        try:
            customers[slug] = Customer.model_validate(settings)
        except ValidationError as error:
            raise refuse(f"customer {slug!r}: {_first_problem(error)}") from None
        problem = namespace_problem(customers[slug].database, customers[slug].collection)
        if problem:
            raise refuse(f"customer {slug!r}: collection: {problem}; choose shorter names")
    if isolated:
        _refuse_sharing(customers, refuse)
    return customers


def check_isolation(customers: dict[str, Customer], where: str) -> None:
    """CustomersFileError unless no two of `customers` share or nest folders or share a
    collection; `where` names what holds them (the file, a run's snapshot)."""
    _refuse_sharing(customers, lambda what: CustomersFileError(f"{where}: {what}"))


def _refuse_sharing(customers: dict[str, Customer], refuse: Any) -> None:
    """No two folders equal or nested (the sync makes processed/ and failed/ inside the
    inbound folder, so nesting would let one folder's files reach another's run); no
    collection shared."""
    folders = []
    for slug, customer in customers.items():
        for key in ("inbound_dir", "outbound_dir"):
            folder = getattr(customer, key)
            if is_remote(folder):
                folders.append((_remote_key(folder), slug, key))
                continue
            try:
                folders.append((folder.resolve(), slug, key))  # links and `..` compared as the same folder
            except (OSError, RuntimeError) as error:  # a symbolic link loop, mostly
                raise refuse(f"customer {slug!r}: {key} {_path(folder)} cannot be resolved ({error}); "
                             "point it at a real folder")
    # Sorted by their parts, a folder comes right before the folders inside it: neighbours suffice.
    folders.sort(key=lambda item: item[0].parts)
    for (outer, slug, key), (inner, other, other_key) in zip(folders, folders[1:]):
        if outer != inner and outer not in inner.parents:
            continue
        if slug == other:
            how = "are the same folder" if outer == inner else "are nested"
            raise refuse(f"customer {slug!r}: inbound_dir and outbound_dir {how} ({_path(outer)}, {_path(inner)}); "
                         "give each its own folder, side by side")
        if outer == inner:
            raise refuse(f"customers {slug!r} ({key}) and {other!r} ({other_key}) share the folder {_path(outer)}; "
                         "give each customer its own folders")
        raise refuse(f"customers {slug!r} and {other!r} overlap: {other!r}'s {other_key} {_path(inner)} is inside "
                     f"{slug!r}'s {key} {_path(outer)}; give each customer its own folders, side by side")
    collections: dict[tuple[str, str], str] = {}
    databases: dict[str, tuple[str, str]] = {}
    for slug, customer in customers.items():
        pair = (customer.database, customer.collection)
        if pair in collections:
            raise refuse(
                f"customers {collections[pair]!r} and {slug!r} share the collection {pair[0]}.{pair[1]}; "
                "give each customer its own collection"
            )
        collections[pair] = slug
        # MongoDB refuses a second database whose name differs only in case.
        other, spelling = databases.setdefault(customer.database.casefold(), (slug, customer.database))
        if spelling != customer.database:
            raise refuse(f"customers {other!r} and {slug!r} name the databases {spelling!r} and {customer.database!r}, "
                         "which differ only in case (MongoDB refuses that); spell them the same")


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key written twice: PyYAML would keep the last silently, and a
    customer written twice would vanish."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            duplicate = key in seen
        except TypeError:  # an unhashable key: let PyYAML raise its own error
            break
        if duplicate:
            raise yaml.constructor.ConstructorError(
                None, None, f"the key {key!r} is written twice", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _read_yaml(where: str) -> Any:
    try:
        with open(where, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        raise CustomersFileError(
            f"customers file {where} does not exist; create it or unset {CUSTOMERS_FILE_VARIABLE}"
        ) from None
    except IsADirectoryError:
        raise CustomersFileError(f"customers file {where} is a folder; name the YAML file itself") from None
    except OSError as error:
        raise CustomersFileError(f"customers file {where} cannot be read: {error.strerror or error}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise CustomersFileError(
            f"customers file {where}: not UTF-8 text (byte 0x{data[error.start]:02x} at offset {error.start}); save it as UTF-8"
        ) from None
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        at = f" at line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
        raise CustomersFileError(f"customers file {where}: not valid YAML: {problem}{at}") from None
    except RecursionError:  # PyYAML recurses once per nesting level
        raise CustomersFileError(f"customers file {where}: not valid YAML: nested too deeply; "
                                 "write one level per customer and its settings") from None


def _first_problem(error: ValidationError) -> str:
    """The first problem only: the file is fixed one line at a time."""
    return describe_validation_error(error, noun="key", expected=tuple(Customer.model_fields), first_only=True)


def _remote_key(url: str) -> PurePosixPath:
    """A remote folder as a path that nests as its server sees it: its first part names the
    server (or bucket), with a NUL no local path can hold, so it never meets a local folder."""
    parsed = parse_folder_url(url)
    port = parsed.port or (22 if parsed.scheme == "sftp" else "")  # sftp://h/a is sftp://h:22/a
    server = f"\x00{parsed.scheme}\x00{parsed.host}\x00{port}"
    return PurePosixPath("/", server, *PurePosixPath("/" + parsed.path).parts[1:])


def _path(folder: Path) -> str:
    """A folder for a one-line message: as it is, or quoted when it holds a newline or another control character."""
    if len(folder.parts) > 1 and folder.parts[1].startswith("\x00"):  # a remote folder's key
        scheme, host, port = folder.parts[1][1:].split("\x00")
        host = f"[{host}]" if ":" in host else host  # IPv6, as a URL writes it
        return printable(f"{scheme}://{host}{':' + port if port else ''}/{'/'.join(folder.parts[2:])}")
    text = str(folder)
    return text if text.isprintable() else repr(text)


def _show(value: Any) -> str:
    return short(repr(value), 60)


def _kind(value: Any) -> str:
    return {list: "a list", str: "text", int: "a number", float: "a number", bool: "true/false"}.get(type(value), type(value).__name__)
