"""Where a client folder lives, as a value: a local path, `sftp://user@host[:port]/path` or
`s3://bucket/prefix`. Light on purpose (no paramiko, no s3fs): the settings, the customers
file and every run parse folders; only a run that uses a remote one opens it (transports.py).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Optional
from urllib.parse import unquote, urlsplit

SCHEMES = ("sftp", "s3")


class RemoteFolderError(RuntimeError):
    """A remote folder cannot be used: unreachable, refused, badly named. One line, no secrets."""


@dataclass(frozen=True)
class FolderURL:
    """A remote folder. `path` is absolute for SFTP (as given, "/" when empty); for S3 it is
    the key prefix without slashes at either end ("" for the bucket's top)."""

    scheme: str
    host: str  # the SFTP host, or the S3 bucket
    path: str
    user: Optional[str] = None
    port: Optional[int] = None

    @property
    def shown(self) -> str:
        """The URL as messages show it: never the user name (CONTRACT 8)."""
        port = f":{self.port}" if self.port else ""
        path = self.path if self.scheme == "sftp" else (f"/{self.path}" if self.path else "")
        host = f"[{self.host}]" if ":" in self.host else self.host  # IPv6, as a URL writes it
        return printable(f"{self.scheme}://{host}{port}{path}")


def is_remote(location: object) -> bool:
    # Stripped as parse_folder_url strips it: " sftp://..." is that URL, never a local folder.
    return isinstance(location, str) and location.strip().split("://", 1)[0].lower() in SCHEMES and "://" in location


def parse_folder_url(text: str, setting: str = "the folder") -> FolderURL:
    """Parse a remote folder URL; RemoteFolderError saying what to fix, without the userinfo."""
    text = text.strip()
    try:
        parts = urlsplit(text)
    except ValueError:  # "Invalid IPv6 URL": a '[' without its ']', or no IP address inside them
        scheme = text.split("://", 1)[0].lower()
        raise RemoteFolderError(f"{setting} {scheme if scheme in SCHEMES else 'URL'}://...: a host in [ ] must be "
                                "an IPv6 address and close its brackets, e.g. sftp://user@[2001:db8::1]/path") from None
    scheme = parts.scheme.lower()
    host = parts.hostname or ""
    # A user name or password holding an unescaped '/', '?' or '#' ends the host early: the rest
    # of it lands in the path, so a URL with an '@' after its host is never echoed.
    spilled = "@" in parts.path + parts.query + parts.fragment
    safe = printable(f"{scheme}://{host}{parts.path}" if not spilled else f"{scheme}://...")  # no userinfo
    if scheme not in SCHEMES:
        raise RemoteFolderError(
            f"{setting} {safe!r}: use a local path, sftp://user@host[:port]/path or s3://bucket/prefix")
    if spilled:
        raise RemoteFolderError(
            f"{setting} {safe}: an '@' after the host; %-escape '/', '?', '#' and '@' in a user name or password "
            "(%2F, %3F, %23, %40), and an '@' in the folder's path (%40)")
    if parts.password is not None:
        raise RemoteFolderError(
            f"{setting} {safe}: a password in the URL is not accepted; use a key file (SFTP_KEY_FILE)")
    if parts.query or parts.fragment:
        raise RemoteFolderError(f"{setting} {safe}: remove the '?' or '#' part of the URL")
    try:
        port = parts.port
    except ValueError:
        port = 0
    if port == 0:
        raise RemoteFolderError(f"{setting} {safe}: the port is not a number from 1 to 65535")
    if not host:
        what = "bucket" if scheme == "s3" else "host"
        raise RemoteFolderError(f"{setting} {scheme}://...: name the {what}")
    if not parts.netloc.isprintable() or " " in parts.netloc:
        raise RemoteFolderError(f"{setting} {safe}: the {'bucket' if scheme == 's3' else 'host'} holds a space or "
                                "a control character; write its name alone")
    path = unquote(parts.path)
    if "\x00" in path or any(part in (".", "..") for part in path.split("/")):
        # The server resolves `..` (SFTP) or keeps it as a key (S3): either way not the folder the
        # customers file compares, so two customers could meet in one folder.
        raise RemoteFolderError(f"{setting} {safe}: write the folder's own path, without '.', '..' or NUL parts")
    if scheme == "s3":
        if port or parts.username or ":" in parts.netloc:
            raise RemoteFolderError(
                f"{setting} {safe}: an s3:// URL is s3://bucket/prefix (the endpoint is AWS_ENDPOINT_URL)")
        # The bucket as written: urlsplit lowercases a host, and a (legacy) bucket name may hold capitals.
        return FolderURL("s3", parts.netloc, path.strip("/"))
    if not parts.username:
        raise RemoteFolderError(f"{setting} {safe}: name the user, sftp://user@{host}/path")
    host = host.rstrip(".") or host  # files.plant. and files.plant are one host (the dot is DNS's root)
    try:  # one IPv6 address, however written ([::1], [0:0::1]): one server to the isolation check
        host = ipaddress.ip_address(host).compressed if ":" in host else host
    except ValueError:
        pass
    return FolderURL("sftp", host, "/" + path.strip("/"), user=unquote(parts.username), port=port)


def printable(text: str) -> str:
    """`text` for a one-line message: a control or line-breaking character escaped (\\x0b)."""
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else char.encode("unicode_escape").decode("ascii") for char in text)
