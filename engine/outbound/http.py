"""HTTP for connectors: one request, its status and body, and every network problem said in words.

Redirects are not followed (a POST must not silently become a GET elsewhere); an HTTP error status
is an answer like any other; a network problem is `Unreachable` with a sentence that names the host
and never the secrets of the request.
"""

from __future__ import annotations

import http.client
import json
import socket
import ssl
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from email.message import Message
from typing import IO, Any

#: The most of an answer's body that is read (an answer is a few hundred bytes).
MAX_BODY = 1 << 20
#: The longest message kept from the other side.
MAX_MESSAGE = 300


class Unreachable(Exception):
    """No HTTP answer came: the call is to be tried again later."""


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is answered as what it is (a 3xx), not followed."""

    def redirect_request(
        self, req: urllib.request.Request, fp: IO[bytes], code: int, msg: str, headers: Message, newurl: str
    ) -> urllib.request.Request | None:
        return None


def opener() -> urllib.request.OpenerDirector:
    """An opener that follows no redirect."""
    return urllib.request.build_opener(_NoRedirect)


def send(
    opener: urllib.request.OpenerDirector, url: str, data: bytes | None, headers: dict[str, str], timeout: float, who: str
) -> Reply:
    """A POST of `data` (a GET when there is none) to `url`; `who` names the other side in problems."""
    headers = {"Accept": "application/json", "User-Agent": "cardflow", **headers}
    request = urllib.request.Request(url, data=data, headers=headers, method="GET" if data is None else "POST")
    try:
        try:
            response = opener.open(request, timeout=timeout)
        except urllib.error.HTTPError as error:  # an HTTP answer with an error status is still an answer
            if error.fp is None:
                return Reply(error.code, b"")
            response = error
        with response:
            return Reply(response.getcode(), response.read(MAX_BODY))
    except (OSError, http.client.HTTPException) as error:
        raise Unreachable(network_problem(error, who, url, timeout)) from None


def network_problem(error: BaseException, who: str, url: str, timeout: float) -> str:
    """Why `who` at `url` gave no answer, in words."""
    reason: object = error.reason if isinstance(error, urllib.error.URLError) else error
    where = urllib.parse.urlsplit(url).netloc
    if isinstance(reason, TimeoutError):
        return f"no answer from {who} ({where}) within {timeout:g} s"
    if isinstance(reason, ConnectionRefusedError):
        return f"{who} ({where}) refused the connection"
    if isinstance(reason, ConnectionResetError | ConnectionAbortedError | http.client.RemoteDisconnected):
        return f"{who} ({where}) closed the connection without an answer"
    if isinstance(reason, socket.gaierror):
        return f"cannot resolve the host of {who} ({where})"
    if isinstance(reason, ssl.SSLError):
        return f"TLS with {who} ({where}) failed: {getattr(reason, 'reason', None) or reason}"
    return f"cannot reach {who} ({where}): {one_line(str(reason)) or type(reason).__name__}"


def message_of(body: bytes) -> str:
    """What an answer says: "message" or "error" of a JSON body, else the text; one line."""
    data = json_of(body)
    if isinstance(data, dict):
        for field in ("message", "error_description", "error"):
            value = data.get(field)
            if isinstance(value, dict):
                value = value.get("message")
            if isinstance(value, str) and value.strip():
                return one_line(value)
    return one_line(body.decode("utf-8", errors="replace"))


def json_of(body: bytes) -> Any:
    """The JSON of a body, or None when it is none (or nested deeper than Python's parser goes)."""
    try:
        return json.loads(body)
    except (ValueError, RecursionError):  # ValueError includes UnicodeDecodeError
        return None


def one_line(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"
