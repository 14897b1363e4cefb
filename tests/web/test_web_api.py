"""The JSON API: per-user tokens, run by symbolic name as `run --json`, batches, cards, actions;
the same roles and four-eyes as the command line and the pages."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from console_helpers import set_value
from fastapi.testclient import TestClient

from engine.store import accounts
from engine.web.app import create_app
from engine.web.console import Console

ORDER = "CardsAddonExtProdBoProcOrderMultiple"


@pytest.fixture
def console(make_console: Callable[[], Console], web_workspace: object) -> Console:
    set_value(web_workspace, "CardsAddonExtProdBatchOrderApproval", "true")  # type: ignore[arg-type]
    return make_console()


@pytest.fixture
def api(console: Console) -> Iterator[TestClient]:
    with TestClient(create_app(console)) as client:
        yield client


def token(console: Console, user: str) -> dict[str, str]:
    with console.engine.begin() as connection:
        return {"Authorization": f"Bearer {accounts.issue_token(connection, user)}"}


def test_no_token_no_answer(api: TestClient) -> None:
    """Without a valid token every API call is 401."""
    assert api.get("/api/cards").status_code == 401
    assert api.get("/api/cards", headers={"Authorization": "Bearer cf_nope"}).status_code == 401
    assert api.post("/api/run", json={"process": ORDER, "all": True}).status_code == 401


def test_a_session_cookie_is_not_a_token(api: TestClient) -> None:
    """The API ignores the console's session: only a token authenticates (no cross-site use of a cookie)."""
    from console_helpers import sign_in

    sign_in(api, "op1")
    assert api.get("/api/cards").status_code == 401


def test_tokens_are_stored_hashed(console: Console) -> None:
    """Only the SHA-256 of a token is kept; the token finds its user."""
    from sqlalchemy import select

    from engine.store import db

    with console.engine.begin() as connection:
        issued = accounts.issue_token(connection, "op1")
        stored = connection.execute(select(db.api_tokens.c.token_hash)).scalars().all()
        assert issued not in stored and len(stored[0]) == 64
        assert accounts.user_for_token(connection, issued)["id"] == "op1"  # type: ignore[index]


def test_an_inactive_users_token_is_refused(api: TestClient, console: Console) -> None:
    """A token of a user who is not active does not authenticate."""
    assert api.get("/api/cards", headers=token(console, "opx")).status_code == 401


def test_an_expired_token_gets_401_in_the_one_error_shape(api: TestClient, console: Console) -> None:
    """A token past its expiry is 401 with the API's one JSON error shape, saying it expired; before, it works."""
    from engine.clock import frozen, later, now

    with console.engine.begin() as connection:
        issued = {"Authorization": f"Bearer {accounts.issue_token(connection, 'op1', days=2)}"}
    with frozen(later(now(), days=1)):
        assert api.get("/api/cards", headers=issued).status_code == 200
    with frozen(later(now(), days=2)):
        answer = api.get("/api/cards", headers=issued)
    assert (answer.status_code, answer.headers["www-authenticate"]) == (401, "Bearer")
    assert answer.json()["error"]["code"] == "unauthorized" and "expired" in answer.json()["error"]["message"]


def test_a_revoked_token_no_longer_authenticates(api: TestClient, console: Console) -> None:
    """A token revoked by its id is refused at once; the user's other tokens keep working."""
    with console.engine.begin() as connection:
        kept, revoked = accounts.new_token(connection, "op1"), accounts.new_token(connection, "op1")
        assert accounts.revoke_tokens(connection, "op1", revoked.id) == 1
    assert api.get("/api/cards", headers={"Authorization": f"Bearer {revoked.secret}"}).status_code == 401
    assert api.get("/api/cards", headers={"Authorization": f"Bearer {kept.secret}"}).status_code == 200


def test_run_answers_as_run_json(api: TestClient, console: Console) -> None:
    """POST /api/run gives {batch, process, results} as `cardflow run --json`."""
    body = {"process": ORDER, "users": ["u01", "u05"], "batch_id": "B-api"}
    answer = api.post("/api/run", json=body, headers=token(console, "op1")).json()
    assert (answer["batch"], answer["process"]) == ("B-api", ORDER)
    assert [(r["user"], r["state"], r["status"]) for r in answer["results"]] == [
        ("u01", "requested", "created"),
        ("u05", None, "skipped"),
    ]


def test_run_takes_set_overrides(api: TestClient, console: Console) -> None:
    """`set` overrides options as --set does, checked against their types."""
    headers = token(console, "op1")
    body = {"process": ORDER, "users": ["u01"], "dry_run": True, "set": ["CardsAddonExtProdBatchOrderApproval=false"]}
    assert api.post("/api/run", json=body, headers=headers).json()["results"][0]["state"] == "processing"
    body["set"] = ["CardsAddonExtProdBatchOrderApproval=maybe"]
    assert api.post("/api/run", json=body, headers=headers).status_code == 400


def test_run_needs_one_selection(api: TestClient, console: Console) -> None:
    """Exactly one of users, all or where."""
    response = api.post("/api/run", json={"process": ORDER, "users": ["u01"], "all": True}, headers=token(console, "op1"))
    assert response.status_code == 400 and "exactly one" in response.json()["error"]["message"]


def test_an_approver_cannot_run(api: TestClient, console: Console) -> None:
    """Starting a batch needs the operator role."""
    response = api.post("/api/run", json={"process": ORDER, "all": True}, headers=token(console, "ap1"))
    assert response.status_code == 403


def test_batch_status_and_cards(api: TestClient, console: Console) -> None:
    """A batch's status, and its cards as `cardflow cards --json`, and a card's story as `explain --json`."""
    headers = token(console, "op1")
    api.post("/api/run", json={"process": ORDER, "users": ["u01", "u02"], "batch_id": "B-api"}, headers=headers)
    batch = api.get("/api/batches/B-api", headers=headers).json()["batch"]
    assert (batch["status"], batch["created"]) == ("complete", 2)
    cards = api.get("/api/cards", params={"batch": "B-api"}, headers=headers).json()
    assert [(c["user"], c["state"]) for c in cards] == [("u01", "requested"), ("u02", "requested")]
    assert api.get("/api/cards", params={"user": "u02"}, headers=headers).json()[0]["id"] == 2
    story = api.get("/api/cards/1", headers=headers).json()
    assert story["transitions"][0]["trigger"] == "start"
    assert api.get("/api/batches/B-none", headers=headers).status_code == 400


def test_approve_reject_postpone_with_four_eyes(api: TestClient, console: Console) -> None:
    """Approvers decide through the API; a reason is required to reject; nobody decides their own request."""
    api.post("/api/run", json={"process": ORDER, "users": ["u01", "u02", "u03"]}, headers=token(console, "ap2"))
    ap1, ap2 = token(console, "ap1"), token(console, "ap2")
    assert api.post("/api/approve", json={"cards": [1]}, headers=ap2).status_code == 403
    assert api.post("/api/reject", json={"cards": [2]}, headers=ap1).status_code == 403
    assert api.post("/api/approve", json={"cards": [1]}, headers=ap1).json()[0]["to"] == "processing"
    assert api.post("/api/reject", json={"cards": [2], "reason": "No"}, headers=ap1).json()[0]["to"] == "rejected"
    assert api.post("/api/postpone", json={"cards": [3]}, headers=ap1).json()[0]["to"] == "requested"


def test_operators_cannot_approve(api: TestClient, console: Console) -> None:
    """The approve call needs the approver role."""
    api.post("/api/run", json={"process": ORDER, "users": ["u01"]}, headers=token(console, "op1"))
    response = api.post("/api/approve", json={"cards": [1]}, headers=token(console, "op2"))
    assert response.status_code == 403 and "approver" in response.json()["error"]["message"]


def test_abort_and_retry_need_the_operator(api: TestClient, console: Console) -> None:
    """Abort by the requester (withdrawal) works; retry of a card that did not fail is refused; unknown triggers are 400."""
    headers = token(console, "op1")
    api.post("/api/run", json={"process": ORDER, "users": ["u01"]}, headers=headers)
    assert api.post("/api/retry", json={"cards": [1]}, headers=headers).status_code == 403
    assert api.post("/api/abort", json={"cards": [1]}, headers=headers).json()[0]["to"] == "aborted"
    assert api.post("/api/explode", json={"cards": [1]}, headers=headers).status_code == 400


def test_the_api_is_documented(api: TestClient) -> None:
    """FastAPI's OpenAPI document lists the API's routes."""
    paths = api.get("/api/openapi.json").json()["paths"]
    assert {"/api/run", "/api/batches/{batch_id}", "/api/cards", "/api/cards/{card_id}", "/api/{trigger}"} <= set(paths)


def test_the_docs_page_is_served_by_the_console(api: TestClient) -> None:
    """/api/docs is Swagger UI from the console's own files, with no inline script."""
    html = api.get("/api/docs").text
    assert '<script src="/static/swagger/swagger-ui-bundle.js"' in html and html.count("<script") == 2
    assert api.get("/static/swagger/swagger-ui-bundle.js").status_code == 200


def error_of(response: object) -> dict[str, object]:
    """The one error shape of the API: {"error": {code, message, details}}, nothing else."""
    answer = response.json()  # type: ignore[attr-defined]
    assert set(answer) == {"error"} and set(answer["error"]) == {"code", "message", "details"}, answer
    return answer["error"]  # type: ignore[no-any-return]


def test_every_api_error_has_the_one_shape(api: TestClient, console: Console) -> None:
    """A missing token, a refusal, a usage error and an unknown route all answer {"error": {code, message, details}}."""
    op1, op2, ap1 = token(console, "op1"), token(console, "op2"), token(console, "ap1")
    assert error_of(api.get("/api/cards"))["code"] == "unauthorized"
    assert error_of(api.post("/api/run", json={"process": ORDER, "all": True}, headers=ap1))["code"] == "refused"
    assert error_of(api.get("/api/batches/B-none", headers=op1))["code"] == "usage"
    assert error_of(api.get("/api/nowhere/at/all", headers=op1))["code"] == "not_found"
    api.post("/api/run", json={"process": ORDER, "users": ["u01"]}, headers=op1)
    refused = error_of(api.post("/api/approve", json={"cards": [1]}, headers=op2))
    assert (refused["code"], refused["details"]) == ("refused", [])


def test_a_malformed_body_is_the_one_shape_with_fastapis_items_as_details(api: TestClient, console: Console) -> None:
    """FastAPI's own 422 (a missing or mistyped field) answers the one shape; its items (type, loc, msg) are the details."""
    response = api.post("/api/approve", json={"cards": ["one"]}, headers=token(console, "ap1"))
    error = error_of(response)
    assert response.status_code == 422 and error["code"] == "invalid_request"
    [item] = error["details"]  # type: ignore[misc]
    assert (item["type"], item["loc"]) == ("int_parsing", ["body", "cards", 0])
    assert error["message"] == f"body.cards.0: {item['msg']}"
    assert error_of(api.post("/api/run", json={}, headers=token(console, "op1")))["details"][0]["loc"] == ["body", "process"]  # type: ignore[index]


def test_the_openapi_document_names_the_one_error_shape(api: TestClient) -> None:
    """/api/openapi.json documents 400, 401, 403 and 422 answers as ErrorAnswer, not FastAPI's HTTPValidationError."""
    document = api.get("/api/openapi.json").json()
    responses = document["paths"]["/api/run"]["post"]["responses"]
    for status in ("400", "401", "403", "422"):
        assert responses[status]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorAnswer")
    assert "HTTPValidationError" not in document["components"]["schemas"]


HUGE = "99999999999999999999"


def test_a_number_beyond_the_store_is_404_in_a_path_and_422_in_a_query_or_body(api: TestClient, console: Console) -> None:
    """A card id or a limit no store can hold answers 404 in the path, 422 in the query or the body, never 500."""
    op1, ap1 = token(console, "op1"), token(console, "ap1")
    path = api.get(f"/api/cards/{HUGE}", headers=op1)
    assert (path.status_code, error_of(path)["code"]) == (404, "not_found")
    limit = api.get(f"/api/cards?limit={HUGE}", headers=op1)
    assert (limit.status_code, error_of(limit)["details"][0]["loc"]) == (422, ["query", "limit"])  # type: ignore[index]
    body = api.post("/api/approve", content=f'{{"cards": [{HUGE}]}}', headers={**ap1, "Content-Type": "application/json"})
    assert (body.status_code, error_of(body)["details"][0]["loc"]) == (422, ["body", "cards", 0])  # type: ignore[index]


@pytest.mark.parametrize(
    "number", ["NaN", "Infinity", "-Infinity", "1e400", "9" * 5000], ids=["NaN", "Infinity", "-Infinity", "1e400", "5000-digits"]
)
def test_numbers_json_does_not_have_are_422(api: TestClient, console: Console, number: str) -> None:
    """NaN, Infinity, a float beyond any float and a 5,000-digit integer in a JSON body are malformed JSON: 422, not 500."""
    headers = {**token(console, "op1"), "Content-Type": "application/json"}
    for body in (f'{{"cards": [{number}]}}', f'{{"cards": [1], "reason": {number}}}'):
        response = api.post("/api/abort", content=body, headers=headers)
        assert (response.status_code, error_of(response)["code"]) == (422, "invalid_request"), body


def test_more_ids_than_one_call_may_name_is_422(api: TestClient, console: Console) -> None:
    """More than MAX_IDS cards or users in one call answers 422 (too_long) before the store is asked."""
    from engine.web.bounds import MAX_IDS

    op1 = token(console, "op1")
    cards = api.post("/api/abort", json={"cards": list(range(1, MAX_IDS + 2))}, headers=op1)
    users = api.post("/api/run", json={"process": ORDER, "users": [f"u{n}" for n in range(MAX_IDS + 1)]}, headers=op1)
    assert [(r.status_code, error_of(r)["details"][0]["type"]) for r in (cards, users)] == [(422, "too_long")] * 2  # type: ignore[index]
