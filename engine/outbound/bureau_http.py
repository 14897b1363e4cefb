"""The card bureau's REST API (a Nexus GO Cards-style API) as a connector: `--connector http`.

Settings, from the environment (`HttpBureau.from_env`); a missing or bad one is a usage error:

    CARDFLOW_BUREAU_URL            the API's base URL, http:// or https:// (required)
    CARDFLOW_BUREAU_CLIENT_ID      OAuth2 client id (required)
    CARDFLOW_BUREAU_CLIENT_SECRET  OAuth2 client secret (required; never printed)
    CARDFLOW_BUREAU_ORG_ID         the organisation the cards are ordered for (required)
    CARDFLOW_BUREAU_TIMEOUT        seconds to wait for each network operation (default 10)

The vendor's names from smartid.env are accepted too: IDM_CAAS_CLIENT_ID, IDM_CAAS_CLIENT_SECRET,
IDM_CAAS_ORGANISATION_ID and IDM_CAAS_HOSTNAME (a host name: https://HOST); ours win when both are set.

The protocol, two calls:

    POST {base}/oauth/token
        Content-Type: application/x-www-form-urlencoded
        grant_type=client_credentials&client_id=...&client_secret=...
      -> 200 {"access_token": "...", "expires_in": 3600}
      The token is kept until shortly before it expires (60 s when `expires_in` is missing).

    POST {base}/organisations/{org_id}/orders
        Authorization: Bearer <token>
        Idempotency-Key: <the order's key>
        Content-Type: application/json
        {"layout": "<production type>", "reference": "<card id>", "batch": "<batch id>",
         "process": "<process>", "cardholder": {"id": ..., "name": ..., "email": ..., <other attributes>}}
      -> 200/201 {"orderId": "..."}
    GET {base}/organisations/{org_id}/orders/{order_id}        (the order-status sync)
        Authorization: Bearer <token>
      -> 200 {"orderId": "...", "status": "ORDERED" | "IN_PRODUCTION" | "PRODUCED" | "FAILED",
              "reason": "<why it failed>"}
      Any other answer, or a status not among those, is transient: the card stays where it is.

The idempotency key is the same for every attempt at one order (a new order, after a refusal or a
failed production, has a new one), so a bureau that deduplicates by key answers a repeated attempt
with the first order's id: an attempt whose answer was lost (a time-out after the bureau accepted)
never orders a second card.
A key that is not printable ASCII is sent percent-encoded (the same key always the same way).

How answers become `OrderAnswer`s:

    200/201 with an "orderId"             accepted, with that order id
    401                                   the token is dropped and the order sent once more
                                          with a fresh one; a second 401 is transient
    408, 409, 429, 5xx                    transient: the card stays where it is for a later attempt
                                          (409 is how idempotent APIs say "an attempt with this key
                                          is still being processed": refusing would order twice)
    other 4xx                             refused, with the bureau's message ("message" or "error"
                                          of a JSON body, else the body text), on one line
    other 2xx, a 2xx without a JSON       transient (the bureau may have taken the order: the next
    "orderId", 1xx, 3xx                   attempt, under the same key, gets its id)
    time-out, refused or reset            transient
    connection, TLS or DNS failure
    the token endpoint refusing the       transient for every order of this connector (the
    client credentials                    credentials are asked for once, not once per card)

Redirects are not followed (a POST must not silently become a GET elsewhere). No secret (client
secret, access token) appears in a message; nothing is logged.
"""

from __future__ import annotations

import json
import math
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from typing import Any

from engine.errors import UsageError
from engine.outbound.bureau import OrderAnswer, OrderRequest, StatusAnswer, StatusRequest, status_name
from engine.outbound.http import Reply, Unreachable, json_of, message_of, opener, send

URL, CLIENT_ID, CLIENT_SECRET, ORG_ID, TIMEOUT = (
    "CARDFLOW_BUREAU_URL",
    "CARDFLOW_BUREAU_CLIENT_ID",
    "CARDFLOW_BUREAU_CLIENT_SECRET",
    "CARDFLOW_BUREAU_ORG_ID",
    "CARDFLOW_BUREAU_TIMEOUT",
)
#: The vendor's names for the same settings (Identity Manager's smartid.env), accepted beside ours;
#: ours win when both are set. IDM_CAAS_HOSTNAME is a host name: the API is https://HOST then.
VENDOR_NAMES = {
    URL: "IDM_CAAS_HOSTNAME",
    CLIENT_ID: "IDM_CAAS_CLIENT_ID",
    CLIENT_SECRET: "IDM_CAAS_CLIENT_SECRET",
    ORG_ID: "IDM_CAAS_ORGANISATION_ID",
}
DEFAULT_TIMEOUT = 10.0
#: How long a token without `expires_in` is kept, in seconds.
DEFAULT_TOKEN_LIFETIME = 60.0
TRANSIENT_STATUS = frozenset({408, 409, 429})
_PRINTABLE_ASCII = re.compile(r"[!-~]+")


class HttpBureau:
    """Orders cards through the bureau's REST API; see the module docstring for the protocol."""

    name = "http"

    def __init__(
        self,
        base_url: str,
        client_id: str,
        client_secret: str,
        org_id: str,
        timeout: float = DEFAULT_TIMEOUT,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.client_id = client_id
        self._secret = client_secret
        self.org_id = org_id
        self.timeout = timeout
        self._clock = clock
        self._opener = opener()
        self._token: tuple[str, float] | None = None  # (token, when to stop using it)
        self._credentials_refused: str | None = None

    def __repr__(self) -> str:
        return f"HttpBureau({self.base_url!r}, client_id={self.client_id!r}, org_id={self.org_id!r}, timeout={self.timeout})"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> HttpBureau:
        """The connector configured by the CARDFLOW_BUREAU_* variables; a usage error names what is wrong."""
        env = os.environ if environ is None else environ
        values = {name: _setting(env, name) for name in (URL, CLIENT_ID, CLIENT_SECRET, ORG_ID)}
        missing = [f"{name} (or {VENDOR_NAMES[name]})" for name, value in values.items() if not value]
        if missing:
            raise UsageError(
                f"the card bureau's GO Cards API (connectors.yaml kind go_cards, or --connector http) needs {', '.join(missing)}"
            )
        parts = urllib.parse.urlsplit(values[URL])
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UsageError(f"{URL} must be an http:// or https:// URL with a host, e.g. https://bureau.example.com/api")
        return cls(values[URL], values[CLIENT_ID], values[CLIENT_SECRET], values[ORG_ID], _timeout(env.get(TIMEOUT)))

    def order(self, request: OrderRequest) -> OrderAnswer:
        """Place one order; network and server problems are transient answers, never exceptions."""
        try:
            reply = self._send(request)
        except Unreachable as problem:
            return _later(str(problem))
        return self._answer(reply)

    def status(self, request: StatusRequest) -> StatusAnswer:
        """The status of one order; problems are transient answers, never exceptions."""
        org = urllib.parse.quote(self.org_id, safe="")
        url = f"{self.base_url}/organisations/{org}/orders/{urllib.parse.quote(request.order_id, safe='')}"
        try:
            reply = self._post(url, None, {"Authorization": f"Bearer {self._access_token()}"})
            if reply.status == 401:
                self._token = None
                reply = self._post(url, None, {"Authorization": f"Bearer {self._access_token()}"})
        except Unreachable as problem:
            return StatusAnswer(None, str(problem), transient=True)
        data = json_of(reply.body) if reply.status == 200 else None
        status = status_name(data.get("status")) if isinstance(data, dict) else None
        if status is None:
            said = bureau_message(reply.body)
            return StatusAnswer(None, f"no order status from the bureau (HTTP {reply.status}{': ' + said if said else ''})", True)
        reason = data.get("reason") if isinstance(data, dict) else None
        return StatusAnswer(status, self._scrub(str(reason)) if reason else None)

    def _send(self, request: OrderRequest) -> Reply:
        body = json.dumps(order_body(request), ensure_ascii=False, default=str).encode("utf-8")
        url = f"{self.base_url}/organisations/{urllib.parse.quote(self.org_id, safe='')}/orders"
        headers = {"Content-Type": "application/json", "Idempotency-Key": header_key(request.key)}
        reply = self._post(url, body, {**headers, "Authorization": f"Bearer {self._access_token()}"})
        if reply.status == 401:
            self._token = None
            reply = self._post(url, body, {**headers, "Authorization": f"Bearer {self._access_token()}"})
        return reply

    def _answer(self, reply: Reply) -> OrderAnswer:
        status, message = reply.status, bureau_message(reply.body)
        said = f": {self._scrub(message)}" if message else ""
        if status in (200, 201):
            order_id = _order_id(reply.body)
            if order_id is not None:
                return OrderAnswer(True, order_id=order_id)
            return _later(f"the bureau answered HTTP {status} without an order id{said}")
        if status == 401:
            return _later(f"the bureau refused a fresh access token (HTTP 401){said}")
        if status in TRANSIENT_STATUS or status >= 500:
            return _later(f"the bureau answered HTTP {status}{said}")
        if 400 <= status < 500:
            return OrderAnswer(False, message=self._scrub(message) if message else f"refused by the bureau (HTTP {status})")
        if 300 <= status < 400:
            return _later(f"the bureau answered HTTP {status}, a redirect (not followed): check {URL}")
        return _later(f"unexpected answer from the bureau: HTTP {status}{said}")

    def _access_token(self) -> str:
        if self._token is not None and self._clock() < self._token[1]:
            return self._token[0]
        if self._credentials_refused is not None:
            raise Unreachable(self._credentials_refused)
        form = {"grant_type": "client_credentials", "client_id": self.client_id, "client_secret": self._secret}
        started = self._clock()
        reply = self._post(
            f"{self.base_url}/oauth/token",
            urllib.parse.urlencode(form).encode("ascii"),
            {"Content-Type": "application/x-www-form-urlencoded"},
        )
        message = bureau_message(reply.body)
        said = f": {self._scrub(message)}" if message else ""
        if reply.status in (400, 401, 403):
            self._credentials_refused = (
                f"the bureau refused the client credentials (HTTP {reply.status}{said}); check {CLIENT_ID} and {CLIENT_SECRET}"
            )
            raise Unreachable(self._credentials_refused)
        if not 200 <= reply.status < 300:
            raise Unreachable(f"the bureau's token endpoint answered HTTP {reply.status}{said}")
        data = json_of(reply.body)
        token = data.get("access_token") if isinstance(data, dict) else None
        if not isinstance(token, str) or not token:
            raise Unreachable("the bureau's token endpoint answered without an access_token")
        lifetime = data.get("expires_in", DEFAULT_TOKEN_LIFETIME)
        if isinstance(lifetime, bool) or not isinstance(lifetime, int | float) or not lifetime > 0:
            lifetime = DEFAULT_TOKEN_LIFETIME
        self._token = (token, started + lifetime - min(30.0, lifetime / 10))
        return token

    def _post(self, url: str, data: bytes | None, headers: dict[str, str]) -> Reply:
        """A POST of `data`, or a GET when there is none."""
        return send(self._opener, url, data, headers, self.timeout, "the bureau")

    def _scrub(self, text: str) -> str:
        """The bureau's text without the client secret or the access token, should it echo them."""
        for secret in (self._secret, self._token[0] if self._token else ""):
            if secret:
                text = text.replace(secret, "***")
        return text


def order_body(request: OrderRequest) -> dict[str, Any]:
    """The JSON body of an order: the layout, the card as reference, and the card holder."""
    holder = request.holder
    return {
        "layout": request.production_type,
        "reference": str(request.card),
        "batch": request.batch,
        "process": request.process,
        "cardholder": {"id": holder.get("id"), "name": holder.get("name"), "email": holder.get("email"), **holder},
    }


def header_key(key: str) -> str:
    """The idempotency key as a header value: as is when printable ASCII, else percent-encoded."""
    return key if _PRINTABLE_ASCII.fullmatch(key) else urllib.parse.quote(key, safe="")


#: What the bureau says in an answer (its message, one line).
bureau_message = message_of


def _order_id(body: bytes) -> str | None:
    data = json_of(body)
    value = data.get("orderId") if isinstance(data, dict) else None
    if isinstance(value, bool) or not isinstance(value, str | int) or str(value).strip() == "":
        return None
    return str(value)


def _later(message: str) -> OrderAnswer:
    return OrderAnswer(False, message=message, transient=True)


def _timeout(value: str | None) -> float:
    if value is None or not value.strip():
        return DEFAULT_TIMEOUT
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or seconds <= 0:
        raise UsageError(f"{TIMEOUT} must be a number of seconds greater than 0, not {value.strip()!r}")
    return seconds


def _setting(env: Mapping[str, str], name: str) -> str:
    """A setting by our name, else by the vendor's (a vendor host name becomes an https:// URL)."""
    value = env.get(name, "").strip()
    if value:
        return value
    vendor = env.get(VENDOR_NAMES[name], "").strip()
    if name == URL and vendor and "://" not in vendor:
        return f"https://{vendor}"
    return vendor
