"""TracOS store URIs: which store a URI names, and how to show it without credentials."""

from __future__ import annotations

import re
from pathlib import Path

MEMORY_SCHEME = "mongomock://"
EMBEDDED_SCHEME = "embedded://"
MONGODB_SCHEMES = ("mongodb://", "mongodb+srv://")

_CREDENTIALS = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)[^@/\s]*@", re.IGNORECASE)
_SECRET_OPTIONS = re.compile(r"(?P<key>(password|authMechanismProperties|tlsCertificateKeyFilePassword)=)[^&\s]*", re.IGNORECASE)


def redact(text: str) -> str:
    """Remove user:password@ from every URI in `text`, and password-like query options."""
    text = _CREDENTIALS.sub(lambda match: f"{match['scheme']}***@", text)
    return _SECRET_OPTIONS.sub(lambda match: f"{match['key']}***", text)


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
