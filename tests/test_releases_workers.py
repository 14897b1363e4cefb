"""Workers on a real PostgreSQL server run the store's live release, wherever they are started: two
workers in two folders holding different files work one batch under the release it started with,
and a release that went live meanwhile applies to the next batch only."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from test_workers import Site, wait_for
from workspace_copies import copy_reference

ORDER, QUEUE = "CardsAddonExtProdBoProcOrderMultiple", "CardsAddonExtProdQueue"
OPTIONS = "CardsAddonExtProdScriptOptions.yaml"

pytestmark = pytest.mark.slow


@pytest.fixture
def site(tmp_path: Path, postgres_url: str) -> Iterator[Site]:
    running = Site(tmp_path / "site", postgres_url)
    running.folder.mkdir()
    try:
        yield running
    finally:
        running.stop()


def queue_off(folder: Path) -> Path:
    """A copy of the reference workspace whose queue is off: an order goes to the bureau at once (`ordered`)."""
    copy_reference(folder)
    path = folder / "rules" / OPTIONS
    text = path.read_text()
    end = text.index("\n", text.index("    default: ", text.index(f"  {QUEUE}:\n"))) + 1
    path.write_text(text[:end] + "    value: false\n" + text[end:])
    return folder


def test_workers_in_folders_of_other_files_work_a_batch_under_the_release_it_started_with(site: Site, tmp_path: Path) -> None:
    rows = ["id,name,email,state,roles,department", "op1,Olle,op1@example.com,active,operator,IT"]
    rows += ["ad1,Ada,ad1@example.com,active,admin,IT", "ad2,Bo,ad2@example.com,active,admin,IT"]
    rows += [f"u{i:04d},User {i},u{i}@example.com,active,,{'Sales' if i % 2 else 'Support'}" for i in range(400)]
    (site.folder / "users.csv").write_text("\n".join(rows) + "\n")
    site.cardflow("users", "import", "users.csv")
    off, shipped = queue_off(tmp_path / "off"), copy_reference(tmp_path / "shipped")
    first = json.loads(site.cardflow("publish", "--workspace", str(off), "--as", "ad1", "--json").stdout)["id"]
    site.cardflow("release", "approve", first, "--as", "ad2")
    run = ("run", ORDER, "--as", "op1", "--workers", "--detach", "--chunk-size", "50", "--json")
    sales = json.loads(site.cardflow(*run, "--where", "user.department == 'Sales'").stdout)["batch"]
    second = json.loads(site.cardflow("publish", "--workspace", str(shipped), "--as", "ad2", "--json").stdout)["id"]
    site.cardflow("release", "approve", second, "--as", "ad1")  # live before any chunk of the first batch ran
    workers = [site.worker(cwd=off), site.worker(cwd=shipped)]  # each folder holds the files of the other release
    support = json.loads(site.cardflow(*run, "--where", "user.department == 'Support'").stdout)["batch"]
    finished = "SELECT count(*) FROM batches WHERE id IN (:a, :b) AND status = 'complete'"
    wait_for(lambda: site.value(finished, a=sales, b=support) == 2, *workers, deadline=300)
    states = "SELECT state, count(*) FROM cards WHERE batch_id = :b GROUP BY state"
    with site.engine.connect() as connection:
        by_batch = {batch: dict(connection.execute(text(states), {"b": batch}).all()) for batch in (sales, support)}
    assert by_batch == {sales: {"ordered": 200}, support: {"processing": 200}}
    explained = json.loads(site.cardflow("explain", "1", "--json").stdout)
    assert [move["release"] for move in explained["transitions"]] == [first]
    logs = [path.read_text() for path in sorted(site.folder.glob("worker*.log"))]
    assert all("error" not in log.lower() for log in logs), logs
