"""TracOS store URIs: which store a URI names, and how to show it without credentials.

Credentials are removed in two ways (CONTRACT section 8):
- by structure: a URI is split the way pymongo's parser splits it, and what stands before
  the `@` that introduces the hosts is replaced by `***`, whatever characters it holds; the
  hosts and ports stay, so the server is still named;
- by value, for text that is not a URI: the secrets of every URI the project was configured
  with (passwords and secret options, raw and %-decoded) are removed wherever they stand as
  a whole, and so are its user names, except inside URIs (a host may share the user's
  name). Nothing is ever removed inside another word or name: user `mongo` leaves
  `mongodb://` and `appName=mongo-prod` alone.
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
# One or two characters are left to the structural redaction alone: removing every "a"
# that stands alone would garble messages.
_TOO_SHORT_TO_SCRUB = 3
# A value is removed only where it stands as a whole: letters, digits, `_` and `-` join a
# word, and so does a `.` followed by a word character (a host name: `mongo.plant`).
_NOT_JOINED_BEFORE = r"(?<![\w-])(?<!\w\.)"
_NOT_JOINED_AFTER = r"(?![\w-])(?!\.\w)"
_JOINING = re.compile(r"[\w.-]")


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
    """The secrets of `uri`: its password as the URI holds it, %-decoded both ways, and as
    pymongo's own parser reads it; and the values of secret options."""
    return _values(_credential_pairs(uri, passwords=True) + _secret_options(uri))


def user_names_in(uri: str) -> set[str]:
    """The user name of `uri`, as written, %-decoded both ways and as pymongo reads it."""
    return _values(_credential_pairs(uri, passwords=False))


def userinfo_in(uri: str) -> set[str]:
    """What stands between `://` and the hosts' `@`, as written and %-decoded: an echo of
    the whole URI loses it by structure even when a space splits it."""
    _, credentials, _ = split_credentials(uri)
    return _values([credentials] if credentials is not None else [])


def _credential_pairs(uri: str, passwords: bool) -> list[str]:
    _, credentials, _ = split_credentials(uri)
    if credentials is None:
        return []
    pairs = [_user_and_password(credentials)]
    try:  # what pymongo will send, if it accepts these credentials at all
        pairs.append(parse_userinfo(credentials))
    except Exception:  # noqa: BLE001  (an invalid URI: pymongo reports it, without them)
        pass
    return [pair[1] if passwords else pair[0] for pair in pairs]


def _secret_options(uri: str) -> list[str]:
    _, _, rest = split_credentials(uri)
    query = rest.partition("?")[2]
    found: list[str] = []
    for option in _OPTION.finditer("?" + query if query else ""):
        if _SECRET_OPTION.search(option["key"]):
            value = option["value"]
            found.append(value)
            found.extend(part.partition(":")[2] for part in value.split(","))
    return found


def _values(texts: list[str]) -> set[str]:
    return {variant for text in texts for variant in (text, unquote(text), unquote_plus(text)) if variant.strip()}


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
    """Every secret, user name and userinfo of every URI this process was configured with."""

    def __init__(self) -> None:
        self._values: dict[str, set[str]] = {"secrets": set(), "names": set(), "userinfo": set()}
        self._patterns: dict[str, re.Pattern[str]] = {}
        self._lock = threading.Lock()

    def add(self, uri: str) -> None:
        found = {
            "secrets": {value for value in secrets_in(uri) if len(value) >= _TOO_SHORT_TO_SCRUB},
            "names": {value for value in user_names_in(uri) if len(value) >= _TOO_SHORT_TO_SCRUB},
            "userinfo": userinfo_in(uri),
        }
        if all(values <= self._values[kind] for kind, values in found.items()):
            return
        with self._lock:
            for kind, values in found.items():
                self._values[kind] |= values
                if self._values[kind]:
                    self._patterns[kind] = _pattern(kind, self._values[kind])
        install_log_scrubber()

    def clear(self) -> None:
        with self._lock:
            self._values = {kind: set() for kind in self._values}
            self._patterns = {}

    def scrub(self, text: str, names: bool = True) -> str:
        """`text` without the known secrets (and user names, unless `names` is false)."""
        patterns = self._patterns
        for kind in ("secrets", "names") if names else ("secrets",):
            if kind in patterns:
                text = patterns[kind].sub(MASK, text)
        return text

    def scrub_userinfo(self, text: str) -> str:
        pattern = self._patterns.get("userinfo")
        return pattern.sub(f"://{MASK}@", text) if pattern is not None else text

    def __bool__(self) -> bool:
        return bool(self._patterns)


def _pattern(kind: str, values: set[str]) -> re.Pattern[str]:
    ordered = sorted(values, key=len, reverse=True)  # longest first: no partial hits
    if kind == "userinfo":
        return re.compile("://(?:" + "|".join(re.escape(value) for value in ordered) + ")@")
    return re.compile("|".join(_whole(value) for value in ordered))


def _whole(value: str) -> str:
    """`value` where it stands as a whole, never inside another word or name."""
    pattern = re.escape(value)
    if _JOINING.match(value[0]):
        pattern = _NOT_JOINED_BEFORE + pattern
    if _JOINING.match(value[-1]):
        pattern += _NOT_JOINED_AFTER
    return pattern


KNOWN_SECRETS = _KnownSecrets()


def remember_credentials(uri: str) -> None:
    """Register the secrets of a configured URI: from now on `redact()` and every log record
    of this process are scrubbed of them."""
    KNOWN_SECRETS.add(uri)


def display_uri(uri: str) -> str:
    """A configured URI as it may be shown: the server named, its credentials gone."""
    return KNOWN_SECRETS.scrub(redact_uri(uri), names=False)


def redact(text: str) -> str:
    """`text` without credentials: every URI in it loses its credentials and secret options
    (by structure), then the remembered secrets are removed wherever they stand as a whole,
    and the remembered user names too, outside URIs."""
    text = KNOWN_SECRETS.scrub_userinfo(str(text))
    text = _URI_IN_TEXT.sub(lambda match: redact_uri(match.group(0)), text)
    pieces, last = [], 0
    for match in _URI_IN_TEXT.finditer(text):
        pieces.append(KNOWN_SECRETS.scrub(text[last:match.start()]))
        pieces.append(KNOWN_SECRETS.scrub(match.group(0), names=False))
        last = match.end()
    pieces.append(KNOWN_SECRETS.scrub(text[last:]))
    return "".join(pieces)


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
