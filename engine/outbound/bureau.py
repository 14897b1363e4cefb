"""The card bureau (Nexus GO Cards) behind one interface: `order(request) -> answer`.

Connectors: a drop folder (the default: one JSON file per order, no network) and a simulated
bureau (plans, dry runs and scenarios: writes nothing). Each order carries an idempotency key,
the same for every attempt at the same order, so a retry after a time-out can never order twice;
a card ordered again (after a refusal or a failed production) is a new order with a new key.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from engine.outbound.calls import Call, CallAnswer


@dataclass(frozen=True)
class OrderRequest:
    """What the bureau needs to produce a card: the holder's data and the layout."""

    key: str
    card: int
    process: str
    batch: str
    production_type: str | None
    holder: dict[str, Any]


class OrderAnswer(NamedTuple):
    """The bureau's answer. `transient` means "try again later": the card stays where it is; `pending`
    (transient too) that the order is not sent yet: it is sent once the card's state change commits.
    A tuple: one is made a card, and a frozen dataclass sets each field through `object.__setattr__`."""

    accepted: bool
    order_id: str | None = None
    message: str | None = None
    transient: bool = False
    pending: bool = False


@dataclass(frozen=True)
class StatusRequest:
    """Which order's status is asked for: the bureau's order id, and the card and holder it is for."""

    order_id: str
    card: int
    holder: str


#: The order statuses the bureau reports, as cardflow names them ("ordered": nothing new yet).
ORDER_STATUSES = ("ordered", "in_production", "produced", "failed")


@dataclass(frozen=True)
class StatusAnswer:
    """The bureau's order status (one of ORDER_STATUSES; None when it has nothing to say yet), with
    its reason for a failure. `transient` means it could not be asked now: try again later."""

    status: str | None
    reason: str | None = None
    transient: bool = False


def status_name(text: object) -> str | None:
    """A status as the bureau writes it ("IN_PRODUCTION", "in production") as cardflow names it, or None."""
    if not isinstance(text, str):
        return None
    name = text.strip().lower().replace(" ", "_").replace("-", "_")
    return name if name in ORDER_STATUSES else None


class Connector(Protocol):
    """Anything that can place an order at the bureau, and tell the status of an order placed."""

    name: str

    def order(self, request: OrderRequest) -> OrderAnswer: ...

    def status(self, request: StatusRequest) -> StatusAnswer: ...


class BureauUnavailable(Exception):
    """The bureau could not answer now; the card keeps its state for a later attempt."""

    def __init__(self, answer: OrderAnswer) -> None:
        super().__init__(answer.message or "the bureau did not answer")
        self.answer = answer

    @property
    def pending(self) -> bool:
        """The order is not sent yet (engine.batch.calls): it goes out once the card's state commits."""
        return self.answer.pending


class DropFolder:
    """Writes each order once as `<folder>/<key>.json` (written whole, then renamed into place): an
    attempt under a key whose file exists (a run resumed after a crash) leaves the file as it is.
    The bureau must still deduplicate by key, as it may have taken the file before the crash.

    If the folder holds `layouts.txt` (the layouts the bureau produces, one a line), an order for
    another production type is refused, as the bureau would refuse it. The bureau writes the status
    of an order back as `<folder>/status/<order id>.json`: `{"status": "in_production"}`,
    `{"status": "produced"}` or `{"status": "failed", "reason": "..."}` (no file: nothing new).
    """

    name = "dropfolder"

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def order(self, request: OrderRequest) -> OrderAnswer:
        layouts = self.folder / "layouts.txt"
        if layouts.is_file():
            known = {line.strip() for line in layouts.read_text(encoding="utf-8").splitlines() if line.strip()}
            if request.production_type not in known:
                return OrderAnswer(False, message=f"the bureau does not produce layout '{request.production_type}'")
        try:
            name = write_once(self.folder, request.key, asdict(request))
        except OSError as error:
            return OrderAnswer(False, message=f"cannot write the order: {error.strerror}", transient=True)
        return OrderAnswer(True, order_id=name)

    def status(self, request: StatusRequest) -> StatusAnswer:
        path = self.folder / "status" / f"{_status_name(request.order_id)}.json"
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return StatusAnswer(None)
        except (OSError, ValueError) as error:
            return StatusAnswer(None, f"cannot read the status file {path}: {error}", transient=True)
        status = status_name(data.get("status")) if isinstance(data, dict) else None
        if status is None:
            return StatusAnswer(None, f"the status file {path} has no known status ({', '.join(ORDER_STATUSES)})", transient=True)
        reason = data.get("reason")
        return StatusAnswer(status, str(reason) if reason else None)


#: The characters an order file's name keeps as they are; every other one is written as `%XX` of its UTF-8 bytes.
_KEPT = re.compile(r"[^A-Za-z0-9_.-]")
_PLAIN = re.compile(r"[A-Za-z0-9_.%-]*")
#: A name this long or longer keeps its start and ends in a digest of the key (file names end at 255 bytes).
_LONGEST_NAME = 200


def write_once(folder: Path, key: str, data: Mapping[str, Any]) -> str:
    """Write `data` as `<folder>/<name>.json` for the key (whole, then renamed into place) unless an
    earlier attempt under the key wrote it (a crash before its commit); the name. OSError when the
    folder cannot be written."""
    name = _file_name(key)
    final = folder / f"{name}.json"
    if not final.is_file():
        folder.mkdir(parents=True, exist_ok=True)
        partial = folder / f".{name}.partial"
        partial.write_text(json.dumps(data, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
        os.replace(partial, final)
    return name


def _file_name(key: str) -> str:
    """The file name of an order key: one name per key (`%` itself is encoded, so no two keys share
    a name); a key too long for a file name keeps its start and a digest of the whole key after `~`,
    a character no encoded name holds."""
    if _PLAIN.fullmatch(key):  # the common key (`printer%print%card7.1`): only `%` to encode
        name = key.replace("%", "%25")
    else:
        name = _KEPT.sub(lambda found: "".join(f"%{byte:02X}" for byte in found.group().encode("utf-8", "surrogatepass")), key)
    if len(name) < _LONGEST_NAME:
        return name
    return f"{name[:100]}~{hashlib.sha256(key.encode('utf-8', 'surrogatepass')).hexdigest()}"


def _status_name(order_id: str) -> str:
    """The name of an order's status file: the order id when it is a name this folder gave, else encoded."""
    return order_id if _GIVEN.fullmatch(order_id) and not order_id.startswith(".") else _file_name(order_id)


_GIVEN = re.compile(r"[A-Za-z0-9_.%~-]{1,255}")


@dataclass
class Simulated:
    """A bureau that accepts every order except those of users in `refuse`, and writes and keeps
    nothing; it reports the order statuses of `statuses` (by holder: a status, or (status, reason)).
    Where it is the bureau, the calls of every other connector are simulated too: accepted, except
    those for the cards of users in `refuse`."""

    refuse: frozenset[str] = frozenset()
    name: str = "simulated"
    statuses: Mapping[str, tuple[str, str | None]] = field(default_factory=dict)

    def status(self, request: StatusRequest) -> StatusAnswer:
        status, reason = self.statuses.get(request.holder, (None, None))
        return StatusAnswer(status, reason)

    def order(self, request: OrderRequest) -> OrderAnswer:
        if request.holder.get("id") in self.refuse:
            return OrderAnswer(False, message="refused by the simulated bureau")
        return OrderAnswer(True, order_id=f"sim-{request.key}")

    def call(self, call: Call) -> CallAnswer:
        """A call of any other connector: accepted unless its holder is in `refuse`, nothing sent (a scenario
        or a dry run reaches no other system)."""
        holder = call.payload.get("holder")
        if isinstance(holder, Mapping) and holder.get("id") in self.refuse:
            return CallAnswer("refused", message=f"refused by the simulated {call.connector}")
        return CallAnswer("accepted", reference=f"sim-{call.key}")


class LazyAnswer(Mapping[str, Any]):
    """The root of a call's answer for the guards of a transition that declares it (`bureau` of
    `invoke: bureau.order`): the call is made once, when a guard reads the answer or the transition is
    taken, and the answer kept."""

    def __init__(self, place: Callable[[], OrderAnswer]) -> None:
        self._place = place
        self.answer: OrderAnswer | None = None
        self.made: Call | None = None  # a call of another connector than the bureau's order (its key, its data)
        self._shown: tuple[OrderAnswer, dict[str, Any]] | None = None  # the answer, as the guards read it

    @property
    def pending(self) -> bool:
        """True until the order has been placed (recording a guard must not place it)."""
        return self.answer is None

    def place(self) -> OrderAnswer:
        """Place the order unless a guard has placed it; BureauUnavailable when the bureau did not answer."""
        self._fields()
        assert self.answer is not None
        return self.answer

    def _fields(self) -> dict[str, Any]:
        if self.answer is None:
            self.answer = self._place()
        answer = self.answer
        if answer.transient:
            raise BureauUnavailable(answer)
        if self._shown is None or self._shown[0] is not answer:  # worked out once for each answer
            self._shown = answer, answer_fields(answer)
        return self._shown[1]

    def __getitem__(self, key: str) -> Any:
        return self._fields()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._fields())

    def __len__(self) -> int:
        return 5


def answer_fields(answer: OrderAnswer) -> dict[str, Any]:
    """An answer as the guards read it under the connector's name (`bureau.accepted`, ...)."""
    outcome = "accepted" if answer.accepted else "refused"
    fields = {"accepted": answer.accepted, "outcome": outcome, "reference": answer.order_id}
    return {**fields, "order_id": answer.order_id, "reason": answer.message}
