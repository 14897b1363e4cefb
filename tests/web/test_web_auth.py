"""The console's doors: log-in and log-out, the session cookie, CSRF, roles, security headers."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from console_helpers import PASSWORD, csrf_in, csrf_of, sign_in
from fastapi.testclient import TestClient
from sqlalchemy import Engine, update

from engine.clock import frozen, later, now
from engine.store import accounts, db
from engine.web.app import CSP, create_app
from engine.web.console import Console
from engine.web.throttle import Throttle, TooManyAttempts

PAGES = [
    "/",
    "/batch",
    "/batch/CardsAddonExtProdBoProcOrderMultiple",
    "/batch/CardsAddonExtProdBoProcOrderMultiple/cards",
    "/requests",
    "/requests/1",
    "/cards",
    "/cards/1",
    "/cards/1/process/CardsAddonExtProdProcAbort",
    "/outbox",
    "/batches",
    "/batches/B1",
    "/batches/B1/progress",
    "/options",
    "/graph",
    "/graph/CardsAddonExtProdBoProcOrderMultiple",
]
FORMS = [
    "/batch/CardsAddonExtProdBoProcOrderMultiple/confirm",
    "/batch/CardsAddonExtProdBoProcOrderMultiple/run",
    "/batch/CardsAddonExtProdBoProcOrderMultiple/cards/confirm",
    "/batch/CardsAddonExtProdBoProcOrderMultiple/cards/run",
    "/requests/1",
    "/cards/1/process/CardsAddonExtProdProcAbort",
    "/cards/1/process/CardsAddonExtProdProcRetryOrder",
    "/logout",
]


def test_login_form_has_the_vendor_labels(client: TestClient) -> None:
    """The log-in form's fields are labelled "User" and "Password", its button "Log in", with a language choice."""
    html = client.get("/login").text
    assert '<label for="user">User</label>' in html
    assert '<label for="password">Password</label>' in html
    assert '<button type="submit">Log in</button>' in html
    assert '<option value="sv"' in html


def test_log_in_sets_a_signed_http_only_lax_cookie(client: TestClient) -> None:
    """A right password leads home with a session cookie that is HttpOnly and SameSite=Lax."""
    response = sign_in(client, "op1")
    assert (response.status_code, response.headers["location"]) == (303, "/")
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie
    assert "What do you want to do?" in client.get("/").text


def test_a_forged_cookie_is_not_a_session(client: TestClient) -> None:
    """A session cookie that was not signed by the console is ignored."""
    client.cookies.set("cardflow_session", "eyJ1c2VyIjogIm9wMSJ9.forged.signature")
    assert client.get("/", follow_redirects=False).headers["location"] == "/login"


def test_wrong_password_says_so_and_keeps_you_out(client: TestClient) -> None:
    """A wrong password answers 401 with a clear message and no session."""
    response = sign_in(client, "op1", "not the password")
    assert response.status_code == 401
    assert "wrong user or password" in response.text
    assert client.get("/", follow_redirects=False).status_code == 303


def test_unknown_user_gets_the_same_message(client: TestClient) -> None:
    """An unknown user id is answered like a wrong password (nothing tells who exists)."""
    response = sign_in(client, "nobody", PASSWORD)
    assert (response.status_code, "wrong user or password" in response.text) == (401, True)


def test_repeated_failures_make_the_console_wait(client: TestClient, waits: list[float]) -> None:
    """After three failures in a row each further attempt waits, longer each time; success resets it."""
    for _ in range(5):
        sign_in(client, "op2", "guess")
    assert waits == [1.0, 2.0]
    assert sign_in(client, "op2").status_code == 303
    waits.clear()
    sign_in(client, "op2", "guess")
    assert waits == []


def test_an_inactive_user_with_the_right_password_gets_the_wrong_password_answer(client: TestClient) -> None:
    """An inactive user with the right password is refused with the answer of a wrong password (nothing tells who exists)."""
    response = sign_in(client, "opx")
    assert (response.status_code, "wrong user or password" in response.text, "inactive" in response.text) == (401, True, False)


@pytest.mark.parametrize("name", ["op2", "ghost", "u01", "opx"])
def test_every_kind_of_failed_log_in_waits_alike(make_console: Callable[[], Console], waits: list[float], name: str) -> None:
    """A wrong password, an unknown user, a user without a password and an inactive user with the right one wait alike."""
    with TestClient(create_app(make_console())) as client:
        for _ in range(5):
            sign_in(client, name, "wrong password" if name == "op2" else PASSWORD)
    assert waits == [1.0, 2.0]


def test_one_client_trying_many_accounts_is_made_to_wait(client: TestClient, waits: list[float]) -> None:
    """A client whose log-ins failed ten times in a row waits before each further one, whatever account it tries."""
    for number in range(12):
        sign_in(client, f"guess{number}", "wrong password")
    assert waits == [1.0, 2.0]


def test_too_many_attempts_under_way_are_refused_at_once() -> None:
    """An account has one log-in attempt under way at a time, a client four; one more is refused at once."""
    throttle = Throttle()
    with throttle.attempt("10.0.0.1", "op1"), pytest.raises(TooManyAttempts), throttle.attempt("10.0.0.2", "OP1"):
        pass
    with ExitStack() as stack:
        for number in range(4):
            stack.enter_context(throttle.attempt("10.0.0.1", f"user{number}"))
        with pytest.raises(TooManyAttempts), throttle.attempt("10.0.0.1", "user9"):
            pass
    with throttle.attempt("10.0.0.1", "op1") as delay:
        assert delay == 0.0


def test_a_user_made_inactive_loses_the_session(client: TestClient, store: object) -> None:
    """The session ends as soon as its user is no longer active."""
    from sqlalchemy import update

    from engine.store import db

    sign_in(client, "op2")
    with store.begin() as connection:  # type: ignore[attr-defined]
        connection.execute(update(db.users).where(db.users.c.id == "op2").values(state="inactive"))
    assert client.get("/", follow_redirects=False).headers["location"] == "/login"


def test_language_is_chosen_at_login(client: TestClient) -> None:
    """Swedish chosen at log-in gives the pages in Swedish."""
    sign_in(client, "op1", lang="sv")
    html = client.get("/").text
    assert "Vad vill du göra?" in html and "Batchbeställningar" in html


def test_login_needs_the_csrf_token(client: TestClient) -> None:
    """A log-in POST without the form's token is refused."""
    client.get("/login")
    response = client.post("/login", data={"user": "op1", "password": PASSWORD, "csrf": "x"})
    assert response.status_code == 403
    assert client.get("/", follow_redirects=False).status_code == 303


def test_logout_ends_the_session(client: TestClient) -> None:
    """Log out (a form with the token) ends the session."""
    sign_in(client, "op1")
    response = client.post("/logout", data={"csrf": csrf_of(client)}, follow_redirects=False)
    assert response.headers["location"] == "/login"
    assert client.get("/", follow_redirects=False).status_code == 303


def test_logout_needs_the_csrf_token(client: TestClient) -> None:
    """A log-out without the token (say, from another site) is refused and the session stays."""
    sign_in(client, "op1")
    assert client.post("/logout", data={"csrf": "forged"}).status_code == 403
    assert client.get("/", follow_redirects=False).status_code == 200


@pytest.mark.parametrize("path", PAGES)
def test_every_page_sends_strangers_to_the_login(client: TestClient, path: str) -> None:
    """No page shows anything to someone who is not logged in."""
    response = client.get(path, follow_redirects=False)
    assert (response.status_code, response.headers["location"]) == (303, "/login")


@pytest.mark.parametrize("path", FORMS)
def test_every_form_refuses_a_bad_csrf_token(client: TestClient, path: str) -> None:
    """Every form's POST is refused without the session's CSRF token, even when logged in."""
    sign_in(client, "ap2")
    response = client.post(path, data={"csrf": "forged", "decision": "approve", "user": "u01", "batch_id": "B1"})
    assert response.status_code == 403
    assert "CSRF" in response.text


@pytest.mark.parametrize("path", FORMS[:-1])
def test_every_form_refuses_strangers(client: TestClient, path: str) -> None:
    """A form posted without a session leads to the log-in page."""
    token = csrf_in(client.get("/login").text)
    response = client.post(path, data={"csrf": token, "decision": "approve", "batch_id": "B1"}, follow_redirects=False)
    assert (response.status_code, response.headers.get("location")) == (303, "/login")


def test_home_lists_what_the_roles_may_start(client: TestClient) -> None:
    """The home page "What do you want to do?" offers Batch orders to operators and Requests to approvers only."""
    sign_in(client, "op1")
    operator = client.get("/").text
    client.post("/logout", data={"csrf": csrf_of(client)})
    sign_in(client, "ap1")
    approver = client.get("/").text
    assert ('href="/batch">Batch orders' in operator, 'href="/requests">Requests' in operator) == (True, False)
    assert ('href="/batch">Batch orders' in approver, 'href="/requests">Requests' in approver) == (False, True)


def test_pages_carry_the_security_headers(client: TestClient) -> None:
    """CSP without inline script, no framing, no sniffing, and no caching of pages with personal data."""
    sign_in(client, "op1")
    headers = client.get("/cards").headers
    csp = headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    assert "frame-ancestors 'none'" in csp
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["cache-control"] == "no-store"


def test_a_number_beyond_the_store_is_404_in_a_page_path_and_400_in_a_pages_link(client: TestClient) -> None:
    """A card id no store can hold answers 404 in a page's path and 400 in a page's link, never 500."""
    sign_in(client, "ap2")
    huge = "99999999999999999999"
    answers = [client.get(path).status_code for path in (f"/cards/{huge}", f"/requests/{huge}")]
    answers.append(client.get("/cards?after=WzEwMDAwMDAwMDAwMDAwMDAwMDAwMF0").status_code)  # a page after card 10**20
    assert answers == [404, 404, 400]


def test_an_unexpected_error_carries_the_security_headers(make_console: Callable[[], Console]) -> None:
    """A bug's 500, a page's or the API's (then in the one error shape), carries the security headers and no-store."""
    app = create_app(make_console())

    def broken() -> None:
        raise RuntimeError("a bug")

    app.add_api_route("/broken", broken)
    app.add_api_route("/api/broken", broken)
    with TestClient(app, raise_server_exceptions=False) as client:
        page, api = client.get("/broken"), client.get("/api/broken")
    for response in (page, api):
        assert response.status_code == 500 and "a bug" not in response.text
        assert response.headers["content-security-policy"] == CSP and response.headers["cache-control"] == "no-store"
    assert api.json()["error"]["code"] == "internal_error"


def test_static_files_are_served_from_the_package(client: TestClient) -> None:
    """htmx and mermaid come from the console itself (no CDN), cacheable."""
    for name in ("htmx.min.js", "mermaid.min.js", "app.js", "app.css"):
        response = client.get(f"/static/{name}")
        assert response.status_code == 200 and len(response.content) > 100
        assert "no-store" not in response.headers.get("cache-control", "")


def test_pages_have_no_inline_script(client: TestClient) -> None:
    """Every <script> of a page loads a file (the CSP would block inline code)."""
    sign_in(client, "ap2")
    for path in ("/", "/batch", "/graph/CardsAddonExtProdBoProcOrderMultiple", "/login"):
        html = client.get(path).text
        assert html.count("<script") == html.count('<script src="/static/')


def test_passwords_are_stored_as_argon2_hashes(store: object) -> None:
    """The store keeps an argon2id hash, never the password."""
    from sqlalchemy import select

    from engine.store import db

    with store.connect() as connection:  # type: ignore[attr-defined]
        stored = connection.execute(select(db.credentials.c.password_hash).where(db.credentials.c.user_id == "op1")).scalar()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert accounts.failure_delay(10) == 30.0


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


class Visitor:
    """A client of the real console that keeps one cookie by hand (so a test can copy it) and follows no redirect."""

    def __init__(self, url: str, cookie: str = "") -> None:
        self.url, self.cookie = url, cookie
        self._opener = urllib.request.build_opener(_NoRedirects)

    def call(self, path: str, form: dict[str, str] | None = None) -> tuple[int, str, str]:
        """GET `path` (or POST `form` to it): the status, the Location header and the body."""
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        asked = urllib.request.Request(self.url + path, data=data, headers={"Cookie": self.cookie} if self.cookie else {})
        try:
            with self._opener.open(asked, timeout=10) as answer:
                return self._kept(answer.status, answer.headers, answer.read())
        except urllib.error.HTTPError as answer:
            return self._kept(answer.code, answer.headers, answer.read())

    def _kept(self, status: int, headers: object, body: bytes) -> tuple[int, str, str]:
        cookie = headers.get("set-cookie")  # type: ignore[attr-defined]
        if cookie:
            self.cookie = cookie.split(";", 1)[0]
        return status, headers.get("location") or "", body.decode()  # type: ignore[attr-defined]

    def log_in(self, user: str) -> None:
        token = csrf_in(self.call("/login")[2])
        status, location, _ = self.call("/login", {"user": user, "password": PASSWORD, "lang": "en", "csrf": token})
        assert (status, location) == (303, "/")


@pytest.fixture
def served(store: Engine, web_workspace: Path, tmp_path: Path) -> Iterator[str]:
    """`cardflow serve` over the test store on a free port of 127.0.0.1; its base URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [str(Path(sys.executable).parent / "cardflow"), "serve", "--port", str(port), "--db", str(store.url.database)]
    command += ["--workspace", str(web_workspace), "--orders", str(tmp_path / "orders")]
    environment = {**os.environ, "CARDFLOW_SECRET_KEY": "k" * 32}
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=environment)
    url, deadline = f"http://127.0.0.1:{port}", time.monotonic() + 30
    try:
        while not _answering(url):
            assert server.poll() is None and time.monotonic() < deadline, "cardflow serve did not answer"
            time.sleep(0.05)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


def _answering(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/login", timeout=2):
            return True
    except OSError:
        return False


def test_a_copied_cookie_dies_with_log_out(served: str) -> None:
    """On the real server, a copy of the session cookie stops working the moment its owner logs out."""
    owner = Visitor(served)
    owner.log_in("op1")
    thief = Visitor(served, owner.cookie)
    assert thief.call("/")[0] == 200
    token = csrf_in(owner.call("/options")[2])
    assert owner.call("/logout", {"csrf": token})[:2] == (303, "/login")
    assert thief.call("/")[:2] == (303, "/login")


def test_a_new_password_ends_every_session(client: TestClient, store: Engine) -> None:
    """`users password` (a new password) logs the user out of every session at once."""
    sign_in(client, "op1")
    with store.begin() as connection:
        accounts.set_password(connection, "op1", "another long secret")
    assert client.get("/", follow_redirects=False).headers["location"] == "/login"


def test_a_changed_role_ends_the_session(client: TestClient, store: Engine) -> None:
    """A role taken away (the user's roles changed in the store) ends the session at once."""
    sign_in(client, "ap2")
    with store.begin() as connection:
        connection.execute(update(db.users).where(db.users.c.id == "ap2").values(roles='["approver"]'))
    assert client.get("/", follow_redirects=False).headers["location"] == "/login"


def test_a_session_ends_after_twelve_hours_whatever_the_cookie_says(client: TestClient) -> None:
    """The store, not the cookie, says when a session is over: twelve hours after log-in."""
    sign_in(client, "op1")
    with frozen(later(now(), hours=11)):
        assert client.get("/", follow_redirects=False).status_code == 200
    with frozen(later(now(), hours=12)):
        assert client.get("/", follow_redirects=False).headers["location"] == "/login"
