"""Cards (search, a card's story and actions), Outbox, Batches, Options and the process graph."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from console_helpers import csrf_of, set_value, sign_in
from fastapi.testclient import TestClient

from engine.batch.request import RunRequest, Selection
from engine.batch.run import run_batch
from engine.outbound.bureau import DropFolder
from engine.store import db, queries
from engine.web.app import create_app
from engine.web.console import Console

ORDER = "CardsAddonExtProdBoProcOrderMultiple"
ABORT = "/cards/1/process/CardsAddonExtProdProcAbort"
RETRY = "/cards/1/process/CardsAddonExtProdProcRetryOrder"


@pytest.fixture
def console(make_console: Callable[[], Console]) -> Console:
    """Two queued cards (u01, u02) of one batch by op1."""
    built = make_console()
    request = RunRequest(ORDER, "op1", Selection(users=("u01", "u02")), batch_id="B-first")
    run_batch(built.workspace, built.engine, request, built.connector)
    return built


@pytest.fixture
def operator(console: Console) -> Iterator[TestClient]:
    with TestClient(create_app(console)) as client:
        sign_in(client, "op2")
        yield client


def state_of(console: Console, card: int) -> str:
    with db.reading(console.engine) as connection:
        return str(queries.get_cards(connection, [card])[card]["state"])


def test_cards_search_by_state_user_and_batch(operator: TestClient) -> None:
    """The Cards page filters by state, user and batch."""
    assert (
        operator.get("/cards", params={"state": "processing"}).text.count('<td class="state" translate="no">processing</td>') == 2
    )
    assert operator.get("/cards", params={"holder": "u02"}).text.count('href="/cards/') == 1
    assert operator.get("/cards", params={"batch": "nothing"}).text.count('href="/cards/') == 0


def test_a_card_page_tells_its_story_and_offers_abort(operator: TestClient) -> None:
    """A processing card shows its story in words and the "Abort card order" button, not Retry."""
    html = operator.get("/cards/1").text
    assert "Card 1 for Alice Andersson (u01)" in html
    assert "&#39;start&#39; by op1" in html
    assert ">Abort card order</button>" in html and ">Retry card order</button>" not in html


def test_abort_card_order(operator: TestClient, console: Console) -> None:
    """An operator aborts a processing card; it is aborted and offers no action any more."""
    response = operator.post(ABORT, data={"csrf": csrf_of(operator), "trigger": "abort"})
    assert response.status_code == 200
    assert state_of(console, 1) == "aborted"
    assert "</button>" not in response.text.split('<div class="actions">')[1].split("</div>")[0]


def test_retry_a_failed_card(make_console: Callable[[], Console], web_workspace: Path, tmp_path: Path) -> None:
    """A card the bureau refused offers Retry, which orders it again."""
    set_value(web_workspace, "CardsAddonExtProdQueue", "false")
    console = make_console()
    (tmp_path / "orders").mkdir()
    (tmp_path / "orders" / "layouts.txt").write_text("other\n")
    run_batch(console.workspace, console.engine, RunRequest(ORDER, "op1", Selection(users=("u01",))), console.connector)
    assert state_of(console, 1) == "failed"
    (tmp_path / "orders" / "layouts.txt").write_text("standard\n")
    console.connector = DropFolder(tmp_path / "orders")
    with TestClient(create_app(console)) as client:
        sign_in(client, "op1")
        assert ">Retry card order</button>" in client.get("/cards/1").text
        client.post(RETRY, data={"csrf": csrf_of(client), "trigger": "retry"})
    assert state_of(console, 1) == "ordered"


def test_a_refused_action_says_why(operator: TestClient, console: Console) -> None:
    """Retry on a processing card is refused with the engine's reason; nothing changes."""
    response = operator.post(RETRY, data={"csrf": csrf_of(operator), "trigger": "retry"})
    assert response.status_code == 403 and "refused" in response.text
    assert state_of(console, 1) == "processing"


def test_approvers_cannot_abort(console: Console) -> None:
    """Abort card order is for operators: an approver is refused."""
    with TestClient(create_app(console)) as client:
        sign_in(client, "ap1")
        assert client.post(ABORT, data={"csrf": csrf_of(client), "trigger": "abort"}).status_code == 403
    assert state_of(console, 1) == "processing"


def test_outbox_and_batches(operator: TestClient) -> None:
    """Batches lists the batch with its status; Outbox lists emails (none yet with the queue on)."""
    assert 'href="/batches/B-first">B-first</a>' in operator.get("/batches").text
    assert operator.get("/batches/B-first").text.count('<td class="state" translate="no">processing</td>') == 2
    assert operator.get("/outbox").status_code == 200


def test_outbox_and_batches_are_for_operators(console: Console) -> None:
    """An approver is refused the Outbox and Batches pages."""
    with TestClient(create_app(console)) as client:
        sign_in(client, "ap1")
        assert (client.get("/outbox").status_code, client.get("/batches").status_code) == (403, 403)


def test_options_show_values_and_where_they_were_set(make_console: Callable[[], Console], web_workspace: Path) -> None:
    """Options are read-only: each value with its source (the default, or the file and line)."""
    set_value(web_workspace, "CardsAddonExtProdQueue", "false")
    with TestClient(create_app(make_console())) as client:
        sign_in(client, "adm")
        html = client.get("/options").text
    assert "<code>CardsAddonExtProdQueue</code>" in html
    assert "CardsAddonExtProdScriptOptions.yaml:" in html and "<td>default</td>" in html
    assert "<form" not in html.split("</header>")[1].replace('<form method="post" action="/logout"', "")


def test_the_process_graph_is_mermaid_in_the_page(operator: TestClient) -> None:
    """The graph page holds the Mermaid text and loads the vendored mermaid script."""
    html = operator.get("/graph/CardsAddonExtProdBoProcOrderMultiple").text
    assert '<pre class="mermaid" id="diagram" translate="no">stateDiagram-v2' in html
    assert '<script src="/static/mermaid.min.js"' in html
    assert "registered --&gt; processing" in html


def test_an_unknown_card_is_a_clear_message(operator: TestClient) -> None:
    """A card that does not exist is a 400 page naming it."""
    response = operator.get("/cards/999")
    assert response.status_code == 400 and "unknown card 999" in response.text


def test_an_unfinished_batch_says_how_to_finish_it(operator: TestClient, console: Console) -> None:
    """A batch left running (say, the server was stopped) tells how to finish it."""
    with console.engine.begin() as connection:
        connection.execute(db.batches.update().where(db.batches.c.id == "B-first").values(status="running"))
    html = operator.get("/batches/B-first").text
    assert "This batch is running: it did not finish." in html and "--batch-id B-first" in html


def test_a_card_page_shows_its_card_fields(make_console: Callable[[], Console], web_workspace: Path) -> None:
    """A card whose process declares `pin_delivery` and sets it when the card is queued shows it among its facts."""
    path, lifecycle = web_workspace / "processes" / f"{ORDER}.yaml", web_workspace / "lifecycles" / "CardOrder.yaml"
    queued = (
        "    dest: processing\n    guard: not options.CardsAddonExtProdBatchOrderApproval and options.CardsAddonExtProdQueue\n"
    )
    declared = "\nfields:\n  pin_delivery: {type: string, description: How the PIN goes.}\n"
    lifecycle.write_text(lifecycle.read_text().replace("\nfields:\n", declared))  # beside the PIN's length
    text = path.read_text()
    assert text.count(queued) == 1
    path.write_text(text.replace(queued, queued + "    effects:\n      - set: {pin_delivery: \"'sms'\"}\n"))
    console = make_console()
    run_batch(console.workspace, console.engine, RunRequest(ORDER, "op1", Selection(users=("u01",))), console.connector)
    with TestClient(create_app(console)) as client:
        sign_in(client, "op2")
        html = client.get("/cards/1").text
    assert '<dt translate="no">pin_delivery</dt><dd class="field" translate="no">sms</dd>' in html
    assert "Card fields set: pin_delivery = &#39;sms&#39;." in html
