"""TracOS store URIs: which store a URI names, and how to show it without credentials.

Credentials are removed twice (CONTRACT section 8):
- structurally: a URI is split the way pymongo's parser splits it, and what stands before
  the `@` that introduces the hosts is replaced by `***`, whatever characters it holds;
- by value: every user name, password and secret option of a URI the project was configured
  with (raw and %-decoded) is remembered, and `redact()` and the log scrubber remove those
  exact strings from any text, so a password that pymongo, Dagster or a traceback echoes in
  pieces never reaches a log, an event or a file.
"""

from __future__ import annotations

import logging
import re
import threading
from pathlib import Path
from urllib.parse import unquote, unquote_plus

from pymongo.uri_parser import parse_userinfo, split_options

MEMORY_SCHEME = "mongomock://"
EMBEDDED_SCHEME = "embedded://"
MONGODB_SCHEMES = ("mongodb://", "mongodb+srv://")
MASK = "***"

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")
_URI_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://\S+")
# What may follow the credentials: hosts (names, IPv4, [IPv6], %-escaped socket paths, ports),
# then an optional /database (no `@`) and ?options.
_AFTER_CREDENTIALS = re.compile(r"[\w.~%:\[\],-]+(?:/[^?@]*)?(?:\?.*)?", re.DOTALL)
# Options whose value is a secret: `password=`-like names, proxyUsername/proxyPassword,
# tlsCertificateKeyFilePassword, and authMechanismProperties (AWS_SESSION_TOKEN:...).
_SECRET_OPTION = re.compile(r"pass|secret|token|proxyuser|authmechanismproperties", re.IGNORECASE)
_OPTION = re.compile(r"(?P<lead>[?&;])(?P<key>[^=&;]+)=(?P<value>[^&;]*)")
# A secret this short would also match inside ordinary words: it is removed only where it
# stands on its own (not between letters or digits). One or two characters are left to the
# structural redaction alone: removing every "a" from every message would garble them all.
_SHORT_SECRET = 4
_TOO_SHORT_TO_SCRUB = 3


def split_credentials(uri: str) -> tuple[str, str | None, str]:
    """(scheme, credentials or None, rest). The credentials end at the first `@` after which
    only hosts, a database and options follow, so `@`, `/`, `?`, `:` or spaces that a user
    forgot to %-escape stay inside them; a URI without credentials is split as pymongo's
    parser splits it (`?` options, `/` database, `@` credentials in the host part)."""
    match = _SCHEME.match(uri)
    scheme = match.group(0) if match else ""
    rest = uri[len(scheme):]
    if "@" not in rest or scheme in (MEMORY_SCHEME, EMBEDDED_SCHEME):  # a store name or a path: no credentials
        return scheme, None, rest
    for position in (index for index, char in enumerate(rest) if char == "@"):
        if _AFTER_CREDENTIALS.fullmatch(rest, position + 1):
            return scheme, rest[:position], rest[position + 1:]
    position = rest.rfind("@")  # nothing after any `@` looks like hosts: hide all before the last
    return scheme, rest[:position], rest[position + 1:]


def redact_uri(uri: str) -> str:
    """One URI without credentials: `mongodb://***@db:27017/tractian?password=***&w=1`."""
    scheme, credentials, rest = split_credentials(uri)
    rest = _OPTION.sub(
        lambda m: f"{m['lead']}{m['key']}={MASK}" if _SECRET_OPTION.search(m["key"]) else m.group(0), rest
    )
    return f"{scheme}{MASK}@{rest}" if credentials is not None else f"{scheme}{rest}"


def secrets_in(uri: str) -> set[str]:
    """The exact strings of `uri` that must never be printed: user name and password as the
    URI holds them, %-decoded both ways, and as pymongo's own parser reads them; and the
    values of secret options."""
    found: set[str] = set()
    _, credentials, rest = split_credentials(uri)
    pairs: list[tuple[str, str]] = []
    if credentials is not None:
        pairs.append(_user_and_password(credentials))
        try:  # what pymongo will send, if it accepts these credentials at all
            pairs.append(parse_userinfo(credentials))
        except Exception:  # noqa: BLE001  (an invalid URI: pymongo reports it, without them)
            pass
    query = rest.partition("?")[2]
    for option in _OPTION.finditer("?" + query if query else ""):
        if _SECRET_OPTION.search(option["key"]):
            value = option["value"]
            pairs.append(("", value))
            pairs.extend(("", part.partition(":")[2]) for part in value.split(","))
    for pair in pairs:
        for text in pair:
            found.update(variant for variant in (text, unquote(text), unquote_plus(text)) if variant.strip())
    return found


def _user_and_password(credentials: str) -> tuple[str, str]:
    user, _, password = credentials.partition(":")
    return user, password


def uri_option_names(uri: str) -> set[str]:
    """The option names written in a MongoDB URI, lower-cased (options are case-insensitive),
    read with pymongo's own option parser. Empty when the options do not parse: pymongo
    then reports the URI as invalid itself."""
    _, _, rest = split_credentials(uri)
    query = rest.partition("?")[2]
    if not query:
        return set()
    try:
        return {name.lower() for name in split_options(query, validate=False, normalize=False)}
    except Exception:  # noqa: BLE001
        return set()


class _KnownSecrets:
    """Every secret of every URI this process was configured with, as one pattern."""

    def __init__(self) -> None:
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._lock = threading.Lock()

    def add(self, uri: str) -> None:
        new = {secret for secret in secrets_in(uri) if len(secret) >= _TOO_SHORT_TO_SCRUB} - self._secrets
        if not new:
            return
        with self._lock:
            self._secrets |= new
            ordered = sorted(self._secrets, key=len, reverse=True)  # longest first: no partial hits
            self._pattern = re.compile("|".join(
                re.escape(secret) if len(secret) >= _SHORT_SECRET
                else rf"(?<![A-Za-z0-9]){re.escape(secret)}(?![A-Za-z0-9])"
                for secret in ordered
            ))
        install_log_scrubber()

    def clear(self) -> None:
        with self._lock:
            self._secrets, self._pattern = set(), None

    def scrub(self, text: str) -> str:
        pattern = self._pattern
        return pattern.sub(MASK, text) if pattern is not None else text

    def __bool__(self) -> bool:
        return self._pattern is not None


KNOWN_SECRETS = _KnownSecrets()


def remember_credentials(uri: str) -> None:
    """Register the secrets of a configured URI: from now on `redact()` and every log record
    of this process are scrubbed of them."""
    KNOWN_SECRETS.add(uri)


def display_uri(uri: str) -> str:
    """A configured URI as it may be shown: the server named, its credentials gone."""
    return KNOWN_SECRETS.scrub(redact_uri(uri))


def redact(text: str) -> str:
    """`text` without credentials: the remembered secrets are removed wherever they stand,
    and every URI in it loses its credentials and secret options."""
    text = KNOWN_SECRETS.scrub(str(text))
    return _URI_IN_TEXT.sub(lambda match: redact_uri(match.group(0)), text)


_scrubber_installed = False
_install_lock = threading.Lock()


def install_log_scrubber() -> None:
    """Scrub the remembered secrets from every `logging` record this process creates
    (pymongo's, ours, Dagster's): the message, its arguments and the formatted exception.
    A record factory, not a logging.Filter on the `pymongo` logger: a logger's filters never
    see the records of its children (`pymongo.command`, `pymongo.topology`, ...)."""
    global _scrubber_installed
    with _install_lock:
        if _scrubber_installed:
            return
        previous = logging.getLogRecordFactory()

        def scrubbed_record(*args, **kwargs) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            if KNOWN_SECRETS:
                scrub_record(record)
            return record

        logging.setLogRecordFactory(scrubbed_record)
        _scrubber_installed = True


def scrub_record(record: logging.LogRecord) -> None:
    try:
        message = record.getMessage()
    except Exception:  # noqa: BLE001  (a broken format string: logging reports it later)
        return
    clean = redact(message)
    if clean != message:
        record.msg, record.args = clean, ()
    if record.exc_info and record.exc_info[1] is not None:
        formatted = logging.Formatter().formatException(record.exc_info)
        if redact(formatted) != formatted:
            record.exc_text = redact(formatted)


def embedded_path(uri: str) -> Path:
    """`embedded://.tracos/tracos.json` -> a path relative to the working directory."""
    raw = uri[len(EMBEDDED_SCHEME):]
    if not raw:
        raise ValueError("embedded:// needs a file path, e.g. embedded://.tracos/tracos.json")
    return Path(raw).expanduser().resolve()


def describe_scheme_error(uri: str) -> str:
    return (
        f"unsupported MONGO_URI {redact(uri)!r}: use mongodb://host:port/db (a MongoDB server), "
        f"{MEMORY_SCHEME}<name> (in-memory) or {EMBEDDED_SCHEME}<path> (file-backed, for demos and tests)"
    )
