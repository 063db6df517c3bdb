"""Posting to a webhook: one deadline for the whole post, Basic auth from the URL, no
redirects followed, and the URL shown by its scheme and host only (its path is its secret)."""

from __future__ import annotations

import base64
import contextlib
import http.client
import socket
import threading
import urllib.request
from typing import Any, Optional
from urllib.parse import unquote, urlsplit, urlunsplit

from tracos_integration.settings import ambiguous_credentials
from tracos_integration.tracos.uris import redact


def webhook_display(url: str) -> str:
    """The webhook as it may be shown: scheme and host, never its user, password or the path
    that holds its token."""
    try:
        parts = urlsplit(url)
    except ValueError:  # an unclosed [ ]: nothing here is safe to show
        return "(webhook URL not shown)"
    if ambiguous_credentials(url):  # its "host" may be part of a password
        return f"{parts.scheme}://(host not shown)/…"
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:  # not a number: perhaps part of a password; never shown
        port = ""
    host = parts.hostname or ""
    return f"{parts.scheme}://{f'[{host}]' if ':' in host else host}{port}/…"  # an IPv6 host in its brackets


def split_credentials(url: str) -> tuple[str, Optional[str]]:
    """The URL without `user:password@`, and the HTTP Basic `Authorization` value they make
    (None without them). urllib would look `user:password@host` up as one host name."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url, None
    host = parts.netloc.rpartition("@")[2]
    pair = f"{unquote(parts.username or '')}:{unquote(parts.password or '')}"
    return urlunsplit(parts._replace(netloc=host)), "Basic " + base64.b64encode(pair.encode("utf-8")).decode("ascii")


class Sockets:
    """The sockets one post opens, so its deadline can cut them from the caller's thread.
    Each is kept as a duplicate descriptor: TLS wraps (and detaches) the original, and a
    shutdown of the duplicate ends the one connection both name."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: list[socket.socket] = []
        self._closed = False

    def opened(self, sock: socket.socket) -> socket.socket:
        with self._lock:
            held = sock.dup()
            if self._closed:  # opened after the deadline (a slow DNS answer): cut at once
                _cut(held)
            else:
                self._held.append(held)
        return sock

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for held in self._held:
                _cut(held)
            self._held.clear()


def _cut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


def _tracked(base: type, sockets: Sockets) -> type:
    class Tracked(base):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            create = self._create_connection
            self._create_connection = lambda *a, **k: sockets.opened(create(*a, **k))

    return Tracked


class HttpHandler(urllib.request.HTTPHandler):
    def __init__(self, sockets: Sockets) -> None:
        super().__init__()
        self.connection = _tracked(http.client.HTTPConnection, sockets)

    def http_open(self, req: urllib.request.Request) -> Any:
        return self.do_open(self.connection, req)


class HttpsHandler(urllib.request.HTTPSHandler):
    def __init__(self, sockets: Sockets) -> None:
        super().__init__()
        self.connection = _tracked(http.client.HTTPSConnection, sockets)

    def https_open(self, req: urllib.request.Request) -> Any:
        return self.do_open(self.connection, req, context=self._context)


class NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer, not followed: urllib would resend a POST as a GET without its
    body (the alert lost, reported sent) and copy the Basic auth to whatever host it names."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # urllib then raises the 3xx as an HTTPError


def reason(error: Any, timeout: float) -> str:
    if isinstance(error, TimeoutError) or "timed out" in str(error):
        return f"no answer within {timeout:g} s"
    return redact(str(error))
