"""Every "run again" line is the exact command that works: each test makes a command leave work
undone (a bureau down, a status unreadable, a mail folder unwritable, Ctrl-C), then runs the
command the message gives, as printed, and sees the work finished."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from bureau_server import FakeBureau, accept, respond
from conftest import Run, as_at_a_terminal

ORDER = "CardsAddonExtProdBoProcOrderMultiple"
QUEUE_OFF = ("--set", "CardsAddonExtProdQueue=false")
CARDFLOW = str(Path(sys.executable).with_name("cardflow"))
USERS = "id,name,email,state,roles\nop1,Olle Operator,op1@example.com,active,operator\n" + "".join(
    f"u{n},User {n},u{n}@example.com,active,\n" for n in range(1, 6)
)


@pytest.fixture
def bureau(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeBureau]:
    """The HTTP bureau on 127.0.0.1; its settings in the environment, the connector left to the command line."""
    for name in [name for name in os.environ if name.lower().endswith("_proxy")]:
        monkeypatch.delenv(name)
    with FakeBureau() as running:
        for name, value in running.env().items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("CARDFLOW_BUREAU_TIMEOUT", "2")
        yield running


@pytest.fixture
def cf(run: Run, tmp_path: Path) -> Run:
    """The CLI with an operator and five card holders in the store under test."""
    (tmp_path / "cwd" / "users.csv").write_text(USERS)
    assert run("users", "import", "users.csv").exit_code == 0
    return run


def printed(stderr: str, before: str = "") -> list[str]:
    """The arguments of the command a message gives between backticks (after `before`), as the shell splits them."""
    (command,) = re.findall(re.escape(before) + r"`(cardflow [^`]*)`", stderr)
    words = shlex.split(command)
    assert words[0] == "cardflow"
    return words[1:]


def states(cf: Run) -> list[str]:
    result = cf("cards", "--json")
    assert result.exit_code == 0, result.output
    return [card["state"] for card in json.loads(result.stdout)]


def test_the_resume_command_of_a_run_stopped_by_a_bureau_outage_finishes_the_batch(cf: Run, bureau: FakeBureau) -> None:
    """A run stopped by three unanswered orders prints a resume command with --as, --set, --connector that finishes it."""
    bureau.then(respond(500), respond(500), respond(503))
    stopped = cf("run", ORDER, "--all", "--as", "op1", *QUEUE_OFF, "--connector", "http")
    assert stopped.exit_code == 1, stopped.output
    command = printed(stopped.stderr)
    assert {"--as", "--set", "--connector", "--batch-id"} <= set(command)
    finished = cf(*command)
    assert finished.exit_code == 0, finished.output
    assert states(cf) == ["ordered"] * 6 and len(bureau.orders) == 6


def test_the_resume_command_of_an_incomplete_run_finishes_the_batch(cf: Run, bureau: FakeBureau) -> None:
    """A run whose one order got no answer prints `resume with` the exact command; running it orders the card."""
    bureau.then(respond(502))
    incomplete = cf("run", ORDER, "--user", "u1", "--as", "op1", *QUEUE_OFF, "--connector", "http", "--json")
    assert incomplete.exit_code == 1, incomplete.output
    finished = cf(*printed(incomplete.stderr, "resume with "))
    assert finished.exit_code == 0, finished.output
    assert states(cf) == ["ordered"] and len(bureau.orders) == 1


def test_the_command_given_by_an_unanswered_queue_run_orders_the_cards(cf: Run, bureau: FakeBureau) -> None:
    """`queue run` left unanswered names `calls send --now` with its --connector; run as printed, it orders the queued cards."""
    assert cf("run", ORDER, "--user", "u1", "--user", "u2", "--as", "op1").exit_code == 0
    bureau.then(respond(503), respond(503))
    unanswered = cf("queue", "run", "--connector", "http")
    assert unanswered.exit_code == 1, unanswered.output
    again = printed(unanswered.stderr, "run ")
    assert again[:3] == ["calls", "send", "--now"] and again[again.index("--connector") + 1] == "http"
    finished = cf(*again)
    assert finished.exit_code == 0, finished.output
    assert states(cf) == ["ordered", "ordered"] and len(bureau.orders) == 2


def test_the_command_given_by_an_order_status_sync_reads_the_status_again(cf: Run, tmp_path: Path) -> None:
    """`orders sync --orders DIR` meeting an unreadable status names itself with --orders; run once fixed, it moves the card."""
    assert cf("run", ORDER, "--user", "u1", "--as", "op1", *QUEUE_OFF, "--orders", "drop").exit_code == 0
    folder = tmp_path / "cwd" / "drop"
    (order,) = folder.glob("*.json")
    (folder / "status").mkdir()
    (folder / "status" / order.name).write_text('{"status": "half-writ')
    unread = cf("orders", "sync", "--orders", "drop")
    assert unread.exit_code == 1, unread.output
    command = printed(unread.stderr)
    assert command[-2:] == ["--orders", "drop"]
    (folder / "status" / order.name).write_text('{"status": "produced"}')
    finished = cf(*command)
    assert finished.exit_code == 0, finished.output
    assert states(cf) == ["produced"]


def test_the_command_given_by_outbox_send_delivers_what_it_left(cf: Run, tmp_path: Path) -> None:
    """`outbox send --to-dir X` that cannot write names the command that tries again now (--now); it sends the emails."""
    assert cf("run", ORDER, "--user", "u1", "--as", "op1", *QUEUE_OFF).exit_code == 0
    blocked = tmp_path / "cwd" / "mail-out"
    blocked.write_text("a file where the folder should be")
    left = cf("outbox", "send", "--to-dir", "mail-out")
    assert left.exit_code == 1, left.output
    command = printed(left.stderr)
    assert "--now" in command and "--to-dir" in command
    blocked.unlink()
    sent = cf(*command)
    assert sent.exit_code == 0, sent.output
    assert len(list(blocked.glob("*.eml"))) == 1


def test_ctrl_c_in_a_queue_run_says_what_was_kept_and_the_command_goes_on(cf: Run, bureau: FakeBureau, tmp_path: Path) -> None:
    """SIGINT while the bureau holds an order: exit 1, what was kept and the exact command (not "Aborted!"); it orders once."""
    assert cf("run", ORDER, "--user", "u1", "--as", "op1").exit_code == 0
    bureau.then(accept(delay=30))
    command = [CARDFLOW, "queue", "run", "--connector", "http"]
    with subprocess.Popen(
        command, cwd=tmp_path / "cwd", stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=as_at_a_terminal
    ) as process:
        deadline = time.monotonic() + 30
        while not bureau.orders and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert bureau.orders, "the bureau never got the order"
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 1, stderr
    assert "Aborted!" not in stderr and "interrupted: no card was ordered before it" in stderr
    again = printed(stderr, "run ")  # the chunk in work was committed with its calls: sending them finishes it
    assert again[:3] == ["calls", "send", "--now"] and again[again.index("--connector") + 1] == "http"
    finished = cf(*again)
    assert finished.exit_code == 0, finished.output
    assert states(cf) == ["ordered"] and len(bureau.orders) == 1 and len(bureau.keys) == 2  # the same key twice


def test_a_password_in_a_database_url_is_not_repeated() -> None:
    """A resume command shows a --db URL's password as ***; the rest of the URL as given."""
    from commands.again import _without_password

    assert _without_password("postgresql+psycopg://cf:s3cret@db.example.com:5432/cards") == (
        "postgresql+psycopg://cf:***@db.example.com:5432/cards"
    )
    assert _without_password("postgresql+psycopg://cf@db/cards") == "postgresql+psycopg://cf@db/cards"
    assert _without_password("cardflow.db") == "cardflow.db"


def refusing_layouts(cwd: Path) -> None:
    """A drop folder whose bureau produces no layout the shipped options give: it refuses every order."""
    (cwd / "orders").mkdir(exist_ok=True)
    (cwd / "orders" / "layouts.txt").write_text("premium\n")


def test_a_run_whose_every_order_is_refused_exits_1_and_its_retry_command_orders_again(cf: Run, tmp_path: Path) -> None:
    """The bureau refused every order of a run: exit 1, it says so, and its retry command orders the cards once fixed."""
    refusing_layouts(tmp_path / "cwd")
    refused = cf("run", ORDER, "--user", "u1", "--user", "u2", "--as", "op1", *QUEUE_OFF)
    assert refused.exit_code == 1, refused.output
    assert "the card bureau refused every order (2)" in refused.stderr
    command = printed(refused.stderr)
    assert command[0] == "retry" and "--as" in command
    (tmp_path / "cwd" / "orders" / "layouts.txt").write_text("standard\n")
    retried = cf(*command)
    assert retried.exit_code == 0, retried.output
    assert states(cf) == ["ordered", "ordered"]


def test_a_batch_sync_and_a_retry_whose_every_order_is_refused_exit_1(cf: Run, tmp_path: Path) -> None:
    """`queue run` and `retry` in which the bureau refused every order exit 1 and say so."""
    assert cf("run", ORDER, "--user", "u1", "--as", "op1").exit_code == 0
    refusing_layouts(tmp_path / "cwd")
    synced = cf("queue", "run")
    assert synced.exit_code == 1 and "the card bureau refused every order (1)" in synced.stderr, synced.output
    retried = cf("retry", "1", "--as", "op1")
    assert retried.exit_code == 1 and "the card bureau refused every order (1)" in retried.stderr, retried.output
    assert states(cf) == ["failed"]


def test_a_batch_sync_with_some_orders_refused_exits_0_and_says_how_many(cf: Run, bureau: FakeBureau) -> None:
    """Some orders refused, some accepted: exit 0 (the run did its work), with a line saying how many were refused."""
    assert cf("run", ORDER, "--user", "u1", "--user", "u2", "--as", "op1").exit_code == 0
    bureau.then(respond(400, {"message": "unknown layout"}), accept())
    synced = cf("queue", "run", "--connector", "http")
    assert synced.exit_code == 0, synced.output
    assert "the card bureau refused 1 of 2 orders" in synced.stderr
    assert sorted(states(cf)) == ["failed", "ordered"]


def test_the_command_given_by_a_batch_stopped_by_an_email_finishes_it_once_the_data_is_fixed(
    run: Run, workspace: Path, tmp_path: Path
) -> None:
    """An email failing on a user of the second chunk stops the batch; once the user is fixed the printed command finishes it."""
    template = workspace / "templates" / "email" / "card_ordered.text.txt"
    template.write_text("{{ 100 / (holder.name|length - 5) }}\n" + template.read_text(encoding="utf-8"), encoding="utf-8")
    rows = ["id,name,email,state,roles", "op1,Olle Operator,op1@example.com,active,operator"]
    rows += [f"u{n:04d},User {n:04d},u{n}@example.com,active," for n in range(2000)] + ["z1,Bobby,bobby@example.com,active,"]
    (tmp_path / "cwd" / "users.csv").write_text("\n".join(rows) + "\n")
    assert run("users", "import", "users.csv").exit_code == 0
    stopped = run("run", ORDER, "--all", "--as", "op1", *QUEUE_OFF, "--connector", "simulated", "--workspace", str(workspace))
    assert stopped.exit_code == 1 and "card_ordered.text.txt" in stopped.stderr, stopped.output
    (tmp_path / "cwd" / "fixed.csv").write_text("id,name,email,state\nz1,Bobby Z,bobby@example.com,active\n")
    assert run("users", "import", "fixed.csv").exit_code == 0
    finished = run(*printed(stopped.stderr))
    assert finished.exit_code == 0, finished.output
    assert states(run) == ["ordered"] * 2002
