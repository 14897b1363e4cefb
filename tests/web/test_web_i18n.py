"""Every word a page shows comes from a catalogue, in the language chosen at log-in.

Each page is rendered for a signed-in operator and approver; every visible text node and every
label attribute outside an element marked `translate="no"` (data: ids, names, states, dates) must
be a phrase of the page's language, from the console's catalogue or the workspace's `sv:` texts,
with its `{fields}` filled in; in Swedish no field may hold an English phrase either.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from html.parser import HTMLParser

import pytest
from console_helpers import csrf_of, produce, set_value, sign_in
from fastapi.testclient import TestClient

from engine.web.app import create_app
from engine.web.console import Console
from engine.web.i18n import SWEDISH, workspace_swedish

ORDER = "CardsAddonExtProdBoProcOrderMultiple"
REQUEST = "CardsBoProcRequestMulitple"
ABORT = "CardsAddonExtProdProcAbort"
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
SHOWN_ATTRIBUTES = ("aria-label", "title", "placeholder", "alt")
EDGES = " \t\n,:;·›‹()."


class _Texts(HTMLParser):
    """The texts a page shows outside `translate="no"`, `<script>` and `<style>`."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[tuple[str, bool]] = []
        self.found: list[str] = []

    def _hidden(self) -> bool:
        return any(skip for _, skip in self.stack)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        skip = values.get("translate") == "no" or tag in ("script", "style")
        if not (skip or self._hidden()):
            self.found += [str(values[name]) for name in SHOWN_ATTRIBUTES if values.get(name)]
        if tag not in VOID:
            self.stack.append((tag, skip))

    def handle_endtag(self, tag: str) -> None:
        while self.stack and self.stack.pop()[0] != tag:
            pass

    def handle_data(self, data: str) -> None:
        if not self._hidden():
            self.found.append(data.removesuffix(" · cardflow") if self.stack[-1:] == [("title", False)] else data)


def _pattern(phrase: str) -> re.Pattern[str]:
    parts = re.split(r"(\{\w+\})", phrase.strip(EDGES))
    return re.compile("".join("(.+)" if re.fullmatch(r"\{\w+\}", part) else re.escape(part) for part in parts))


class Catalogue:
    """The phrases of one language (and, for Swedish, the English ones that must not show)."""

    def __init__(self, console: Console, language: str) -> None:
        texts = workspace_swedish(console.workspace)
        english = {**SWEDISH, **texts}
        self.phrases = [_pattern(p) for p in (english.values() if language == "sv" else english)]
        self.english_only = {k.strip(EDGES) for k, v in english.items() if k != v} if language == "sv" else set()

    def problems(self, html: str) -> list[str]:
        """The texts of `html` that are not phrases of this language."""
        parser = _Texts()
        parser.feed(html)
        texts = {" ".join(text.split()).strip(EDGES) for text in parser.found}
        return sorted(text for text in texts if re.search(r"[^\W\d_]", text) and not self._known(text))

    def _known(self, text: str) -> bool:
        for phrase in self.phrases:
            found = phrase.fullmatch(text)
            if found and not any(group.strip(EDGES) in self.english_only for group in found.groups()):
                return True
        return False


def _batch(client: TestClient, process: str, users: list[str]) -> tuple[str, str]:
    """The confirmation page of `process` for `users`, and the batch page after Next."""
    token = csrf_of(client)
    confirmation = client.post(f"/batch/{process}/confirm", data={"csrf": token, "user": users}).text
    batch_id = re.search(r'name="batch_id" value="([^"]+)"', confirmation)
    assert batch_id
    ran = client.post(f"/batch/{process}/run", data={"csrf": token, "user": users, "batch_id": batch_id.group(1)})
    return confirmation, ran.text


def _operator_pages(client: TestClient) -> dict[str, str]:
    pages = {
        path: client.get(path).text for path in ("/", "/batch", f"/batch/{ORDER}?searched=1", f"/batch/{REQUEST}?searched=1")
    }
    pages["confirm"], pages["batch ran"] = _batch(client, ORDER, ["u01", "u02", "u05"])
    _batch(client, REQUEST, ["u03"])
    batch_id = re.search(r'href="/batches/([^"]+)"', client.get("/batches").text)
    assert batch_id
    client.post("/views", data={"state": "requested", "name": "Requested", "csrf": csrf_of(client)})  # a saved view
    for path in ("/batches", f"/batches/{batch_id.group(1)}", "/cards", "/cards?state=requested", "/cards/1", "/cards/999"):
        pages[path] = client.get(path).text
    picked = re.search(r'<option value="([^"]+)">', pages["/cards?state=requested"].split('name="pick"')[1])
    assert picked, "the Cards page offers no action over the requested cards"
    pages["bulk preview"] = client.get("/bulk/preview", params={"state": "requested", "pick": picked.group(1)}).text
    assert 'class="plan"' in pages["bulk preview"], pages["bulk preview"]
    for path in (
        "/outbox",
        "/outbox?status=pending",
        "/options",
        "/graph",
        f"/graph/{ORDER}",
        "/incidents",
        "/incidents?waiting=PT1S",
    ):
        pages[path] = client.get(path).text
    return pages


def _approver_pages(client: TestClient) -> dict[str, str]:
    paths = ("/", "/requests", "/requests/1", "/cards/1", "/cards/1/process/CardsBoProcDecideRequest")
    pages = {path: client.get(path).text for path in paths}
    token = csrf_of(client)
    pages["approved"] = client.post("/requests/1", data={"csrf": token, "decision": "approve"}).text
    pages["refused"] = client.post("/requests/1", data={"csrf": token, "decision": "approve"}).text
    pages["rejected"] = client.post("/requests/2", data={"csrf": token, "decision": "reject", "reason": "Nej"}).text
    return pages


def _main(client: TestClient, path: str) -> str:
    """The page's own part as a reader sees it: without the card's story (`cardflow explain`'s text
    names the symbolic name) and the values a form sends (a filter sends the symbolic name)."""
    return re.sub(r' value="[^"]*"', "", client.get(path).text.split("</header>")[1].split('<div class="story"')[0])


@pytest.fixture
def console(make_console: Callable[[], Console], web_workspace: object) -> Console:
    """The console with the approval step on, so there are requests to decide."""
    set_value(web_workspace, "CardsAddonExtProdBatchOrderApproval", "true")  # type: ignore[arg-type]
    return make_console()


@pytest.mark.parametrize("language", ["sv", "en"])
def test_every_page_shows_only_words_of_its_language(console: Console, language: str) -> None:
    """Every page an operator and an approver see shows only catalogue phrases of the chosen language."""
    catalogue = Catalogue(console, language)
    with TestClient(create_app(console)) as client:
        sign_in(client, "op1", lang=language)
        pages = _operator_pages(client)
        sign_in(client, "ap1", lang=language)
        pages |= {f"approver {path}": html for path, html in _approver_pages(client).items()}
        sign_in(client, "op2", lang=language)
        pages["abort"] = client.get("/cards/1").text
        pages["abort step"] = client.get(f"/cards/1/process/{ABORT}").text
        pages["aborted"] = client.post(f"/cards/1/process/{ABORT}", data={"csrf": csrf_of(client), "trigger": "abort"}).text
    assert {path: catalogue.problems(html) for path, html in pages.items() if catalogue.problems(html)} == {}


def test_the_check_finds_an_english_word_on_a_swedish_page(console: Console) -> None:
    """An English phrase, a phrase in no catalogue and an English field of a Swedish phrase are found;
    data marked translate="no" is not."""
    page = (
        "<title>Kort 3 · cardflow</title><h1>Resulting state</h1><p>Nothing here</p><p>Kort 2</p>"
        '<p>Order multiple cards av op1</p><td translate="no">Alice <b>Resulting state</b></td>'
        '<button aria-label="Select all">x</button>'
    )
    assert Catalogue(console, "sv").problems(page) == [
        "Nothing here",
        "Order multiple cards av op1",
        "Resulting state",
        "Select all",
        "x",
    ]


def test_pages_name_processes_not_symbolic_names(console: Console) -> None:
    """Cards, batches and requests show a process by its name ("Beställ flera kort"), not its symbolic name."""
    with TestClient(create_app(console)) as client:
        sign_in(client, "op1", lang="sv")
        _batch(client, ORDER, ["u01"])
        shown = [_main(client, path) for path in ("/cards", "/batches", "/cards/1")]
        sign_in(client, "ap1", lang="sv")
        shown += [_main(client, path) for path in ("/requests", "/requests/1", "/")]
    assert [(ORDER in html, "Beställ flera kort" in html) for html in shown] == [(False, True)] * 6


def test_a_requester_withdraws_with_a_button_named_for_it(console: Console) -> None:
    """The requester of an open request sees "Abort card request" (the vendor's name), an operator "Abort card order"."""
    with TestClient(create_app(console)) as client:
        sign_in(client, "op1")
        _batch(client, REQUEST, ["u03"])  # approved at once: the request process has no approval step here
        _batch(client, ORDER, ["u01"])
        requested = client.get("/cards/2").text
        path = "/cards/2/process/CardsProcAbortRequest"
        withdrawn = client.post(path, data={"csrf": csrf_of(client), "trigger": "abort"}).text
    assert (">Abort card request</button>" in requested, ">Abort card order</button>" in requested) == (True, False)
    assert '<p class="flash" role="status">Abort card request: card 2 is now aborted.</p>' in withdrawn


def test_a_decision_is_told_in_a_sentence(console: Console) -> None:
    """After Reject the approver reads the button's label and the card's new state in a Swedish sentence, not the trigger."""
    with TestClient(create_app(console)) as client:
        sign_in(client, "op1")
        _batch(client, ORDER, ["u01"])
        sign_in(client, "ap1", lang="sv")
        html = client.post("/requests/1", data={"csrf": csrf_of(client), "decision": "reject", "reason": "Nej"}).text
    assert '<p class="flash" role="status">Avvisa: kort 1 har nu status rejected.</p>' in html


@pytest.mark.parametrize("language", ["sv", "en"])
def test_the_pages_of_a_new_process_show_only_words_of_its_language(
    make_console: Callable[[], Console], extended_web_workspace: object, language: str
) -> None:
    """The home page, a card's step and the batch order over cards of processes added in YAML alone
    (tests/extended/) show only catalogue phrases and the workspace's texts of the chosen language."""
    console = make_console()
    produce(console, ordered=("u01", "u02"), produced=("u01",))
    catalogue = Catalogue(console, language)
    with TestClient(create_app(console)) as client:
        sign_in(client, "op1", lang=language)
        paths = ("/", "/batch", "/cards/1", "/cards/1/process/TestProcActivateCard", "/cards?action=TestProcActivateCard")
        pages = {path: client.get(path).text for path in paths}
        pages["search"] = client.get("/batch/TestBoProcActivateMultiple/cards", params={"searched": "1"}).text
        data = {"csrf": csrf_of(client), "card": ["1", "2"], "trigger": "activate"}
        pages["confirm"] = client.post("/batch/TestBoProcActivateMultiple/cards/confirm", data=data).text
        data["batch_id"] = "B-activate"
        pages["batch"] = client.post("/batch/TestBoProcActivateMultiple/cards/run", data=data).text
    assert {path: catalogue.problems(html) for path, html in pages.items() if catalogue.problems(html)} == {}
