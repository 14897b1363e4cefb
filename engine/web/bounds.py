"""The bounds of what a request may say: numbers the store can hold, JSON as the standard has it,
and not too many ids in one call.

A number beyond the store's integers (`LARGEST`) names nothing: in a path it is answered 404, in a
query or a body 422, as any malformed request, never with an error of the database. A JSON body is
read as RFC 8259 has it: `NaN`, `Infinity` and numbers no float holds are malformed JSON (422).
One API call names at most `MAX_IDS` cards or users.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Path, Query, Request, Response
from fastapi.routing import APIRoute
from pydantic import Field

LARGEST = 2**31 - 1  # the largest integer of the store's Integer columns (PostgreSQL's `integer`)
MAX_IDS = 1000

CardInPath = Annotated[int, Path(ge=1, le=LARGEST, description="A card's id")]
Limit = Annotated[int, Query(ge=0, le=LARGEST)]
CardId = Annotated[int, Field(ge=1, le=LARGEST)]


class _NotJson(ValueError):
    """A number or constant of the body that JSON does not have."""


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise _NotJson(f"{text} is too large a number")
    return number


def _constant(name: str) -> Any:
    raise _NotJson(f"{name} is not JSON")


def strict_json(body: bytes) -> Any:
    """The body as JSON, refusing what json.loads would take beyond the standard (a JSONDecodeError)."""
    try:
        return json.loads(body, parse_constant=_constant, parse_float=_finite)
    except json.JSONDecodeError:
        raise
    except ValueError as error:  # _NotJson, an integer of too many digits, bytes that are not text
        raise json.JSONDecodeError(str(error), body.decode(errors="replace"), 0) from None


class _StrictRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = strict_json(await self.body())
        return self._json


class StrictJsonRoute(APIRoute):
    """A route whose JSON body is read by `strict_json` (FastAPI's custom route class)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict(request: Request) -> Response:
            return await handler(_StrictRequest(request.scope, request.receive))

        return strict
