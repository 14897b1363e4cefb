"""Email templates in the bounded, immutable sandbox: what validate finds by rendering each template
with a sample email (at its file and line), what rendering refuses in a batch, and preview's answers."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from conftest import Run

from engine.definitions.sandbox import RENDER_SECONDS
from engine.definitions.templates import RenderError, Templates

ORDER = "CardsAddonExtProdBoProcOrderMultiple"
APPROVAL = ("--set", "CardsAddonExtProdBatchOrderApproval=true")
FILE = "card_ordered.text.txt"
STAFF = [
    {"id": "op1", "name": "Olle Operator", "email": "op1@example.com", "state": "active", "roles": ["operator"]},
    {"id": "ap1", "name": "Anna Approver", "email": "ap1@example.com", "state": "active", "roles": ["approver"]},
]

HOSTILE = [
    ("update", "{{ card.holder.update({'email': 'mallory@example.com'}) }}", "E506"),
    ("attr", "{{ holder|attr('__class__') }}", "E506"),
    ("format", "{{ '{0.__class__}'.format(holder) }}", "E506"),
    ("include-etc", "{% include '/etc/passwd' %}", "E506"),
    ("include-up", "{% include '../../processes/" + ORDER + ".yaml' %}", "E506"),
    ("include-self", "{% include '" + FILE + "' %}", "E506"),
    ("power", "{{ 9 ** 99999999 }}", "E506"),
    ("center", "{{ holder.name|center(10**9) }}", "E506"),
    ("repeat", "{{ 'x' * 10**8 }}", "E506"),
    ("ljust", "{{ holder.name.ljust(10**9) }}", "E506"),
    ("width", "{{ '%999999999s' % holder.name }}", "E506"),
    ("division", "{{ card.id / 0 }}", "E506"),
    ("range", "{% for i in range(10**9) %}{% endfor %}", "E506"),
    ("macro", "{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}", "E506"),
    ("forever", "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}", "E506"),
    ("block-twice", "{% block a %}{% endblock %}{% block a %}{% endblock %}", "E502"),
    ("digits", "{{ " + "7" * 5000 + " }}", "E502"),
    ("reason", "Because: {{ reason }}", "E503"),
]


def insert_line(workspace: Path, file: str, line: str) -> int:
    """Insert `line` as line 3 of a template; its number."""
    path = workspace / "templates" / "email" / file
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    lines.insert(2, line + "\n")
    path.write_text("".join(lines), encoding="utf-8")
    return 3


@pytest.mark.parametrize(("line", "code"), [(line, code) for _, line, code in HOSTILE], ids=[name for name, _, _ in HOSTILE])
def test_validate_reports_what_a_template_would_do_at_its_line(cli: Run, workspace: Path, line: str, code: str) -> None:
    """A template that would change data, reach internals or files, fail, hang or blow up is one diagnostic at its line."""
    at = insert_line(workspace, FILE, line)
    started = time.monotonic()
    result = cli("validate", "--workspace", str(workspace), "--json")
    # Stopped at the render bound, not run out: without it these take minutes or never end. (A bound
    # of 2 s, the render's second and one more, failed on a loaded machine where validate alone took 1.5.)
    assert time.monotonic() - started < RENDER_SECONDS + 10
    assert result.exit_code == 1, result.output
    found = [(d["file"], d["line"], d["code"]) for d in json.loads(result.stdout)]
    assert found == [(f"templates/email/{FILE}", at, code)]


def test_validate_renders_the_swedish_templates_too(cli: Run, workspace: Path) -> None:
    """A failure in a locale's template is found at that file's line."""
    at = insert_line(workspace, "sv/request_rejected.html", "{{ (card.id - 41) and 1 / 0 }}{{ 1 / (card.id - 41) }}")
    result = cli("validate", "--workspace", str(workspace), "--json")
    found = [(d["file"], d["line"], d["code"]) for d in json.loads(result.stdout)]
    assert found == [("templates/email/sv/request_rejected.html", at, "E506")]


def test_a_locale_folder_missing_one_part_is_an_error(cli: Run, workspace: Path) -> None:
    """sv/ with card_ordered's subject and text but no HTML: E501 naming the missing file (no mixed-language email)."""
    (workspace / "templates" / "email" / "sv" / "card_ordered.html").unlink()
    result = cli("validate", "--workspace", str(workspace), "--json")
    assert result.exit_code == 1
    (found,) = json.loads(result.stdout)
    assert found["code"] == "E501" and "templates/email/sv/card_ordered.html" in found["message"]


def templates_with(folder: Path, text: str) -> Templates:
    for suffix in ("subject.txt", "text.txt", "html"):
        (folder / f"probe.{suffix}").write_text("ok" if suffix != "text.txt" else text, encoding="utf-8")
    return Templates(folder)


def test_a_mutating_template_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    """`holder.update(...)` and `cards.append(...)` raise RenderError; the data given to the template is unchanged."""
    context = {"holder": {"email": "alice@example.com"}, "cards": [{"id": 1}]}
    for text in ("{{ holder.update({'email': 'mallory@example.com'}) }}", "{{ cards.append({'id': 666}) }}"):
        with pytest.raises(RenderError, match=r"probe\.text\.txt:1: SecurityError"):
            templates_with(tmp_path, text).render("probe", context)
    assert context == {"holder": {"email": "alice@example.com"}, "cards": [{"id": 1}]}


def test_output_over_the_bound_is_a_render_error(tmp_path: Path) -> None:
    """A template that writes more than MAX_OUTPUT characters is refused, not stored."""
    templates = templates_with(tmp_path, "{% for i in range(10000) %}{{ 'x' * 1000 }}{% endfor %}")
    with pytest.raises(RenderError, match="over 4,194,304 characters"):
        templates.render("probe", {})


def test_a_template_failing_on_one_user_stops_the_batch_at_its_line_and_leaves_no_running_batch(
    run: Run, workspace: Path
) -> None:
    """Data-dependent failure in a batch: exit 1 naming file:line, no batch left `running`. The card was written
    with its order (sent once it committed) before the email failed: it waits, and its batch is incomplete."""
    insert_line(workspace, FILE, "{{ 100 / (holder.name|length - 5) }}")
    users = [*STAFF, {"id": "u1", "name": "Bobby", "email": "bobby@example.com", "state": "active"}]
    Path("users.json").write_text(json.dumps(users), encoding="utf-8")
    assert run("users", "import", "users.json").exit_code == 0
    ws = ("--workspace", str(workspace))
    result = run("run", ORDER, "--user", "u1", "--as", "op1", *ws, "--set", "CardsAddonExtProdQueue=false")
    assert result.exit_code == 1
    assert f"templates/email/{FILE}:3: ZeroDivisionError" in result.output and "Traceback" not in result.output
    assert [b["status"] for b in json.loads(run("batches", "--json").stdout)] == ["incomplete"]
    assert [card["state"] for card in json.loads(run("cards", "--json").stdout)] == ["registered"]
    assert [call["status"] for call in json.loads(run("calls", "--json").stdout)] == ["pending"]


def test_preview_of_a_rejection_on_an_approved_card_says_there_is_no_reason(run: Run) -> None:
    """`preview request_rejected --card N` on an approved card exits 2 saying it has no reason, never "Reason: None"."""
    users = [*STAFF, {"id": "u1", "name": "Alice", "email": "alice@example.com", "state": "active"}]
    Path("users.json").write_text(json.dumps(users), encoding="utf-8")
    assert run("users", "import", "users.json").exit_code == 0
    (row,) = json.loads(run("run", ORDER, "--user", "u1", "--as", "op1", "--json", *APPROVAL).stdout)["results"]
    assert run("approve", str(row["card"]), "--as", "ap1", *APPROVAL).exit_code == 0
    result = run("preview", "request_rejected", "--card", str(row["card"]))
    assert result.exit_code == 2 and "no reason" in result.output and "None" not in result.output


def test_preview_of_an_unknown_template_is_one_line_with_a_suggestion(cli: Run) -> None:
    """`preview request_rejectd` is one line: unknown template, did you mean 'request_rejected'."""
    result = cli("preview", "request_rejectd", "--sample")
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "cardflow: unknown email template 'request_rejectd' (did you mean 'request_rejected'?)"
    ]


FOREVER = "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}"


def test_a_render_session_times_each_render_with_one_watchdog_and_leaves_nothing_behind(tmp_path: Path) -> None:
    """In a session (a batch) the renders do not arm a timer each, yet one that runs too long still
    stops at its line; after the session, SIGALRM's handler is the one before and no watchdog runs."""
    import signal
    import threading

    from engine.definitions.sandbox import TemplateProblem, render_bounded, render_session

    before = signal.getsignal(signal.SIGALRM)
    (tmp_path / "quick").mkdir()
    quick = templates_with(tmp_path / "quick", "Hello {{ name }}")
    (tmp_path / "slow").mkdir()
    slow = templates_with(tmp_path / "slow", "line 1\n" + FOREVER)
    parts = [slow.environment.get_template(f"probe.{suffix}") for suffix in ("subject.txt", "text.txt", "html")]
    with render_session():
        assert any(thread.name == "cardflow-render-watchdog" for thread in threading.enumerate())
        assert signal.getsignal(signal.SIGALRM) is not before
        for _ in range(200):
            assert quick.render("probe", {"name": "Ann"}).text == "Hello Ann"
        started = time.monotonic()
        with pytest.raises(TemplateProblem, match=r"longer than 0\.2 s") as stopped:
            render_bounded(slow.environment, parts, {}, seconds=0.2)
        assert 0.2 <= time.monotonic() - started < 5
        assert stopped.value.line == 2 and stopped.value.file and stopped.value.file.endswith("probe.text.txt")
        assert quick.render("probe", {"name": "Bo"}).text == "Hello Bo"  # the next render is not stopped
    assert signal.getsignal(signal.SIGALRM) is before
    assert not any(thread.name == "cardflow-render-watchdog" for thread in threading.enumerate())


def test_off_the_main_thread_a_render_stops_at_its_deadline_by_its_calls(tmp_path: Path) -> None:
    """A console's worker thread has no timer: the sandbox looks at the clock at each call, so a
    template that calls a macro forever stops at the deadline there too, at its line."""
    import threading

    from engine.definitions.sandbox import TemplateProblem, render_bounded

    calling = FOREVER.replace("{% endfor %}{% endfor %}", "{{ m() }}{% endfor %}{% endfor %}")
    looping = "{% macro m() %}{% endmacro %}line 1\n" + calling
    slow = templates_with(tmp_path, looping)
    parts = [slow.environment.get_template(f"probe.{suffix}") for suffix in ("subject.txt", "text.txt", "html")]
    stopped: list[BaseException] = []

    def render() -> None:
        try:
            render_bounded(slow.environment, parts, {}, seconds=0.2)
        except TemplateProblem as problem:
            stopped.append(problem)

    worker = threading.Thread(target=render, daemon=True)  # a render that never stops must not hold the tests
    worker.start()
    worker.join(timeout=30)
    assert not worker.is_alive()
    assert [str(problem) for problem in stopped] == ["rendering took longer than 0.2 s"]
    assert isinstance(stopped[0], TemplateProblem) and stopped[0].line == 2


def test_a_template_that_runs_forever_for_one_user_stops_the_batch_at_the_render_bound(run: Run, workspace: Path) -> None:
    """Data-dependent and endless (validate's sample passes): the batch stops at the template's line
    after RENDER_SECONDS, exit 1; the card waits in its first state with its order (sent once it committed)."""

    insert_line(workspace, FILE, "{% if holder.name == 'Bobby' %}" + FOREVER + "{% endif %}")
    users = [*STAFF, {"id": "u1", "name": "Bobby", "email": "bobby@example.com", "state": "active"}]
    Path("users.json").write_text(json.dumps(users), encoding="utf-8")
    assert run("users", "import", "users.json").exit_code == 0
    ws = ("--workspace", str(workspace))
    assert run("validate", *ws).exit_code == 0
    started = time.monotonic()
    result = run("run", ORDER, "--user", "u1", "--as", "op1", *ws, "--set", "CardsAddonExtProdQueue=false")
    assert RENDER_SECONDS <= time.monotonic() - started < RENDER_SECONDS + 10
    assert result.exit_code == 1
    assert f"templates/email/{FILE}:3: rendering took longer than 1 s" in result.output
    assert [card["state"] for card in json.loads(run("cards", "--json").stdout)] == ["registered"]


def test_the_collectors_pauses_are_not_a_templates_time(tmp_path: Path) -> None:
    """A full collection of a big heap that falls in a render is given back to it: the render ends, by
    the timer and by the session's watchdog alike (a long-lived process stopped renders as out of time)."""
    import gc

    from engine.definitions.sandbox import render_bounded, render_session

    heap: list[object] = []
    pause = 0.0
    while pause < 0.3:  # a heap whose full collection takes longer than the render may
        heap += [[cycle := [], cycle] for _ in range(200_000)]
        started = time.monotonic()
        gc.collect()
        pause = time.monotonic() - started
    templates = templates_with(tmp_path, "Hello {{ pause() }}")
    parts = [templates.environment.get_template(f"probe.{suffix}") for suffix in ("subject.txt", "text.txt", "html")]
    collect = {"pause": lambda: (gc.collect(), "")[1]}
    assert render_bounded(templates.environment, parts, {}, seconds=0.1, globals_=collect)[1] == "Hello "
    with render_session():
        assert render_bounded(templates.environment, parts, {}, seconds=0.1, globals_=collect)[1] == "Hello "
    del heap
