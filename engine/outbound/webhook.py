"""A webhook as a connector: each call is one POST of JSON to a URL the site declares.

    POST {url}
        Content-Type: application/json
        Idempotency-Key: <the call's key>          (the same for every attempt at one call)
        X-Cardflow-Operation: <operation>
        X-Cardflow-Signature: sha256=<hex>         (with a secret: HMAC-SHA256 of the body)
        <the call's data, as JSON>

How answers become outcomes:

    2xx                                   accepted; the reference is "id" or "reference" of a
                                          JSON body, if any
    408, 409, 425, 429, 5xx, 1xx, 3xx     unavailable: tried again later under the same key
    other 4xx                             refused, with the receiver's message
    time-out, refused, reset, DNS, TLS    unavailable

A receiver that deduplicates by Idempotency-Key acts once however often a call is tried. No secret
appears in a message; redirects are not followed.
"""

from __future__ import annotations

import hashlib
import hmac
import json

from engine.outbound.calls import Call, CallAnswer
from engine.outbound.http import Unreachable, json_of, message_of, opener, send

DEFAULT_TIMEOUT = 10.0
TRY_AGAIN = frozenset({408, 409, 425, 429})


class Webhook:
    """POSTs each call to `url`; `secret` signs the body, `timeout` bounds each attempt (seconds)."""

    def __init__(self, name: str, url: str, *, secret: str | None = None, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.name, self.url, self.timeout = name, url, timeout
        self._secret = secret
        self._opener = opener()

    def __repr__(self) -> str:
        return f"Webhook({self.name!r}, {self.url!r}, timeout={self.timeout:g})"

    def call(self, call: Call) -> CallAnswer:
        """Send one call; what the receiver does, or fails to do, is the answer, never an exception."""
        body = json.dumps(call.payload, ensure_ascii=False, sort_keys=True, default=str).encode("utf-8")
        headers = {"Content-Type": "application/json", "Idempotency-Key": call.key, "X-Cardflow-Operation": call.operation}
        if self._secret:
            digest = hmac.new(self._secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
            headers["X-Cardflow-Signature"] = f"sha256={digest}"
        try:
            reply = send(self._opener, self.url, body, headers, self.timeout, f"the webhook {self.name}")
        except Unreachable as problem:
            return CallAnswer("unavailable", message=self._scrub(str(problem)))
        said = self._scrub(message_of(reply.body))
        if 200 <= reply.status < 300:
            return CallAnswer("accepted", reference=_reference(reply.body))
        if 400 <= reply.status < 500 and reply.status not in TRY_AGAIN:
            return CallAnswer("refused", message=said or f"refused by the webhook {self.name} (HTTP {reply.status})")
        return CallAnswer(
            "unavailable", message=f"the webhook {self.name} answered HTTP {reply.status}" + (f": {said}" if said else "")
        )

    def _scrub(self, text: str) -> str:
        return text.replace(self._secret, "***") if self._secret else text


def _reference(body: bytes) -> str | None:
    data = json_of(body)
    if not isinstance(data, dict):
        return None
    value = data.get("id", data.get("reference"))
    return None if isinstance(value, bool) or not isinstance(value, str | int) or str(value) == "" else str(value)
