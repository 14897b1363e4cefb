"""The webhook connector against a real HTTP receiver on 127.0.0.1: what it sends, and how every
answer, or the lack of one, becomes an outcome (accepted, refused, unavailable)."""

from __future__ import annotations

import hashlib
import hmac
import socket
from collections.abc import Iterator

import pytest
from webhook_server import FakeReceiver, accept, respond

from engine.outbound.calls import Call
from engine.outbound.webhook import Webhook

CALL = Call("hr", "notify", "batch-1.u1.1", {"card": {"id": 7, "state": "active"}, "holder": {"id": "u1", "name": "Åsa"}})


@pytest.fixture
def receiver() -> Iterator[FakeReceiver]:
    with FakeReceiver() as running:
        yield running


def test_a_call_is_posted_as_json_with_its_key_operation_and_signature(receiver: FakeReceiver) -> None:
    """The body is the call's data; the key, the operation and an HMAC of the body ride in headers."""
    answer = Webhook("hr", receiver.url, secret="s3cret").call(CALL)
    assert (answer.outcome, answer.reference) == ("accepted", "R-00001")
    [delivery] = receiver.deliveries
    assert delivery.body == {"card": {"id": 7, "state": "active"}, "holder": {"id": "u1", "name": "Åsa"}}
    assert (delivery.key, delivery.operation) == ("batch-1.u1.1", "notify")
    assert delivery.signature == "sha256=" + hmac.new(b"s3cret", delivery.raw, hashlib.sha256).hexdigest()


def test_without_a_secret_nothing_is_signed(receiver: FakeReceiver) -> None:
    Webhook("hr", receiver.url).call(CALL)
    assert receiver.deliveries[0].signature is None


def test_a_refusal_carries_the_receivers_message(receiver: FakeReceiver) -> None:
    """A 4xx other than the busy ones is a refusal: trying again would not help."""
    receiver.then(respond(422, {"message": "no such employee"}), respond(403, ""))
    first, second = Webhook("hr", receiver.url).call(CALL), Webhook("hr", receiver.url).call(CALL)
    assert (first.outcome, first.message) == ("refused", "no such employee")
    assert (second.outcome, second.message) == ("refused", "refused by the webhook hr (HTTP 403)")


@pytest.mark.parametrize("status", [500, 503, 429, 409, 408])
def test_a_server_error_or_a_busy_answer_is_unavailable(receiver: FakeReceiver, status: int) -> None:
    receiver.then(respond(status, {"message": "try later"}))
    answer = Webhook("hr", receiver.url).call(CALL)
    assert (answer.outcome, answer.message) == ("unavailable", f"the webhook hr answered HTTP {status}: try later")


def test_a_receiver_slower_than_the_time_out_is_unavailable(receiver: FakeReceiver) -> None:
    receiver.then(accept(delay=3))
    answer = Webhook("hr", receiver.url, timeout=0.3).call(CALL)
    assert answer.outcome == "unavailable"
    assert answer.message is not None and answer.message.startswith("no answer from the webhook hr (127.0.0.1:")
    assert answer.message.endswith("within 0.3 s")


def test_a_receiver_that_is_down_is_unavailable() -> None:
    with socket.socket() as unused:  # a port nobody listens on
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    answer = Webhook("hr", f"http://127.0.0.1:{port}/hook", timeout=2).call(CALL)
    assert (answer.outcome, answer.message) == ("unavailable", f"the webhook hr (127.0.0.1:{port}) refused the connection")


def test_a_redirect_is_not_followed(receiver: FakeReceiver) -> None:
    receiver.then(respond(307, {"message": "moved"}))
    assert Webhook("hr", receiver.url).call(CALL).outcome == "unavailable"
    assert len(receiver.deliveries) == 1


def test_the_secret_never_appears_in_a_message(receiver: FakeReceiver) -> None:
    receiver.then(respond(400, {"message": "bad signature for secret s3cret"}), respond(500, "s3cret"))
    hook = Webhook("hr", receiver.url, secret="s3cret")
    assert hook.call(CALL).message == "bad signature for secret ***"
    assert "s3cret" not in (hook.call(CALL).message or "")
    assert "s3cret" not in repr(hook)


def test_a_call_tried_again_under_its_key_is_taken_once(receiver: FakeReceiver) -> None:
    """An attempt whose answer was lost is sent again under the same key; the receiver acts once."""
    receiver.then(respond(502))
    hook = Webhook("hr", receiver.url)
    assert [hook.call(CALL).outcome, hook.call(CALL).outcome] == ["unavailable", "accepted"]
    assert hook.call(CALL).reference == "R-00001"
    assert [d.key for d in receiver.deliveries] == ["batch-1.u1.1"] * 3
    assert list(receiver.taken) == ["batch-1.u1.1"]
