"""Roles declared in the workspace (roles.yaml): what a process's actor and a user's roles may name."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from conftest import Run

from engine.definitions.cache import load_workspace_cached
from engine.definitions.declared import system_role
from engine.definitions.roles import DEFAULT_ROLES
from engine.definitions.workspace import init_workspace, load_workspace
from engine.store.users import ROLES

ROOT = Path(__file__).resolve().parents[1]
ORDER = "CardsAddonExtProdBoProcOrderMultiple"
USERS = """id,name,email,state,roles
op1,Olle Operator,op1@example.com,active,operator
au1,Aino Auditor,au1@example.com,active,auditor
u1,Alice,alice@example.com,active,
"""
AUDITOR = "  auditor:\n    description: Orders cards for an audit.\n    sv: Beställer kort för en granskning.\n"


def with_auditor(workspace: Path) -> Path:
    """The workspace with the shipped roles and an `auditor` role who runs Order multiple cards."""
    (workspace / "roles.yaml").write_text((ROOT / "roles.yaml").read_text() + AUDITOR)
    path = workspace / "processes" / f"{ORDER}.yaml"
    path.write_text(path.read_text().replace("\nactor: operator\n", "\nactor: auditor\n"))
    return workspace


def test_the_reference_workspace_declares_its_roles_and_the_system_role() -> None:
    """The shipped roles.yaml declares operator, approver, escalation_approver, admin and
    BaseRoleBatchSync, the system's role."""
    found = load_workspace(ROOT)
    assert list(found.roles) == ["operator", "approver", "escalation_approver", "admin", "BaseRoleBatchSync"] and found.ok
    assert system_role(found.roles) == "BaseRoleBatchSync"
    assert all(role.description and role.sv for role in found.roles.values())


def test_a_workspace_without_roles_yaml_has_the_shipped_roles(workspace: Path) -> None:
    """Without roles.yaml a workspace has the default roles, the shipped file's, and a users file may give each."""
    found = load_workspace(workspace)
    shipped = load_workspace(ROOT).roles
    assert found.ok and not (workspace / "roles.yaml").exists()
    assert {n: (r.description, r.system) for n, r in found.roles.items()} == {
        n: (r.description, r.system) for n, r in shipped.items()
    }
    assert list(DEFAULT_ROLES) == list(ROLES)


def test_an_actor_naming_an_undeclared_role_is_located_with_a_close_name(workspace: Path) -> None:
    """`actor: operater` is an E240 at its file:line:col that asks "did you mean 'operator'?"."""
    path = workspace / "processes" / f"{ORDER}.yaml"
    path.write_text(path.read_text().replace("\nactor: operator\n", "\nactor: operater\n"))
    (found,) = load_workspace(workspace).diagnostics
    assert (found.code, found.location.file, found.location.col) == ("E240", f"processes/{ORDER}.yaml", 8)
    assert "did you mean 'operator'?" in found.message


def test_a_declared_role_runs_its_process(run: Run, workspace: Path) -> None:
    """A role added in roles.yaml alone is imported with its users and lets them run the process that names it."""
    with_auditor(workspace)
    (Path.cwd() / "users.csv").write_text(USERS)
    assert run("users", "import", "users.csv", "--workspace", str(workspace)).exit_code == 0
    refused = run("run", ORDER, "--user", "u1", "--as", "op1", "--workspace", str(workspace))
    assert refused.exit_code == 1 and "auditor role" in refused.stderr
    done = run("run", ORDER, "--user", "u1", "--as", "au1", "--json", "--workspace", str(workspace))
    assert done.exit_code == 0, done.output
    assert [r["status"] for r in json.loads(done.stdout)["results"]] == ["created"]


def test_users_import_refuses_an_undeclared_role_with_a_close_name(cli: Run, workspace: Path) -> None:
    """A role the workspace does not declare is a file:line error with "did you mean", and nothing is imported."""
    (Path.cwd() / "users.csv").write_text(USERS.replace("operator\n", "operater\n"))
    result = cli("users", "import", "users.csv", "--workspace", str(workspace))
    assert result.exit_code == 2
    assert "users.csv:2: unknown role(s) operater (did you mean 'operator'?)" in result.stderr
    assert "users.csv:3: unknown role(s) auditor" in result.stderr
    assert cli("users", "list", "--json").exit_code == 2  # no store was made: nothing imported


def test_users_import_accepts_exactly_the_declared_roles(run: Run, workspace: Path) -> None:
    """A role declared in roles.yaml is accepted on import; the shipped ones are not, once the file leaves them out."""
    (workspace / "roles.yaml").write_text("roles:\n" + AUDITOR)
    (Path.cwd() / "users.csv").write_text(USERS)
    refused = run("users", "import", "users.csv", "--workspace", str(workspace))
    assert refused.exit_code == 2 and "users.csv:2: unknown role(s) operator (known: auditor)" in refused.stderr
    (Path.cwd() / "users.csv").write_text(USERS.replace(",operator\n", ",\n"))
    assert run("users", "import", "users.csv", "--workspace", str(workspace)).exit_code == 0


def test_the_system_runs_as_the_system_role(run: Run, workspace: Path) -> None:
    """The batch sync acts as `system` holding the role marked `system: true`: a prerequisite on it holds."""
    shutil.copy(ROOT / "roles.yaml", workspace / "roles.yaml")
    path = workspace / "processes" / "CardsAddonExtProdBatchSync.yaml"
    rule = "prerequisites:\n  - rule: \"'BaseRoleBatchSync' in actor.roles\"\n    message: Only the system's role orders.\n"
    path.write_text(path.read_text().replace("prerequisites:\n", rule))
    assert load_workspace(workspace).ok
    (Path.cwd() / "users.csv").write_text(USERS.replace(",auditor\n", ",\n"))
    assert run("users", "import", "users.csv", "--workspace", str(workspace)).exit_code == 0
    assert run("run", ORDER, "--user", "u1", "--as", "op1", "--workspace", str(workspace)).exit_code == 0
    synced = run("queue", "run", "--json", "--workspace", str(workspace))
    assert [r["status"] for r in json.loads(synced.stdout)] == ["done"], synced.output


def test_an_edit_of_roles_yaml_is_seen_through_the_cache(workspace: Path) -> None:
    """roles.yaml is one of the files the workspace cache keys on: removing a role an actor names is found."""
    shutil.copy(ROOT / "roles.yaml", workspace / "roles.yaml")
    assert load_workspace_cached(workspace).ok
    (workspace / "roles.yaml").write_text("roles:\n" + AUDITOR)
    assert "E240" in {found.code for found in load_workspace_cached(workspace).diagnostics}


def test_init_copies_the_roles(tmp_path: Path) -> None:
    """`cardflow init` gives a site the roles with the rest of the workspace."""
    init_workspace(tmp_path / "site", ROOT)
    assert (tmp_path / "site" / "roles.yaml").read_bytes() == (ROOT / "roles.yaml").read_bytes()


def test_users_import_with_a_broken_roles_yaml_says_so(cli: Run, workspace: Path) -> None:
    """A roles.yaml that cannot be read makes `users import` a one-line error pointing at validate, not "unknown role"."""
    (workspace / "roles.yaml").write_text("roles: [operator]\n")
    (Path.cwd() / "users.csv").write_text(USERS)
    result = cli("users", "import", "users.csv", "--workspace", str(workspace))
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        f"cardflow: {workspace}/roles.yaml has errors, so no role is known; run `cardflow validate`"
    ]
