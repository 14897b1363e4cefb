"""A synthetic workspace for generated scenarios at scale: one batch process, "LadderBatch", that
reads N bool options through 4 x RUNGS transitions (a ladder of states: each step's guards read two
options, a wrong turn fails, every rung can be closed, a failed card reopened), and the action
process that moves its cards. bench/generate.py measures on 10 options and 40 transitions; the tests
use a small one."""

from __future__ import annotations

import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def ladder(folder: Path, options: int, rungs: int) -> Path:
    """A workspace of one batch process reading `options` bool options through 4 x `rungs` transitions."""
    for name in ("templates",):
        shutil.copytree(ROOT / name, folder / name)
    shutil.copy2(ROOT / "roles.yaml", folder / "roles.yaml")
    (folder / "processes").mkdir()
    (folder / "rules").mkdir()
    variables = "".join(
        f"  O{i}:\n    option: Option {i}\n    description: A switch of the ladder.\n    type: bool\n    default: false\n"
        "    values:\n      - value: true\n        outcome: On.\n      - value: false\n        outcome: Off.\n"
        for i in range(options)
    )
    (folder / "rules" / "LadderOptions.yaml").write_text(
        f"script: LadderOptions\npackage: Ladder\ndescription: The ladder's switches.\nvariables:\n{variables}", encoding="utf-8"
    )
    states = ["  registered:\n    initial: true\n    description: Made.\n"]
    states += [f"  s{i}:\n    description: Rung {i}.\n" for i in range(1, rungs + 1)]
    states += ["  done:\n    final: true\n    description: Closed.\n", "  failed:\n    description: A wrong turn.\n"]
    transitions = [
        _transition("start", "registered", "s1", "options.O0"),
        _transition("start", "registered", "s2", "not options.O0"),
    ]
    for i in range(1, rungs):
        a, b = f"options.O{i % options}", f"options.O{(i + 1) % options}"
        back = f"s{i - 1}" if i > 1 else f"s{rungs}"
        transitions += [
            _transition("step", f"s{i}", f"s{i + 1}", a),
            _transition("step", f"s{i}", back, f"not {a} and {b}"),
            _transition("step", f"s{i}", "failed", f"not {a} and not {b}"),
        ]
    transitions += [_transition("close", f"s{i}", "done", None) for i in range(1, rungs + 1)]
    transitions.append(_transition("reopen", "failed", "s1", None))
    assert len(transitions) == 4 * rungs
    (folder / "processes" / "LadderBatch.yaml").write_text(
        "symbolic_name: LadderBatch\nname: Ladder\npackage: Ladder\ncomponent: Bench\nstart: Bench > Ladder\n"
        "description: As an operator I climb the ladder.\noutcome: [done]\nkind: batch\nactor: operator\n"
        "options: [LadderOptions]\ntriggers:\n  start:\n    description: Make the card.\n"
        "  step:\n    description: One rung on.\n  close:\n    description: Close it.\n  reopen:\n    description: Again.\n"
        f"states:\n{''.join(states)}transitions:\n{''.join(transitions)}",
        encoding="utf-8",
    )
    (folder / "processes" / "LadderMove.yaml").write_text(
        "symbolic_name: LadderMove\nname: Move on the ladder\npackage: Ladder\ncomponent: Bench\nstart: Bench > Move\n"
        "description: As an operator I move a card on the ladder.\noutcome: [done]\nkind: action\nactor: operator\n"
        "acts_on: [LadderBatch]\noptions: [LadderOptions]\ntriggers:\n  step:\n    description: One rung on.\n"
        "  close:\n    description: Close it.\n  reopen:\n    description: Again.\n",
        encoding="utf-8",
    )
    return folder


def _transition(trigger: str, source: str, dest: str, guard: str | None) -> str:
    text = f"  - trigger: {trigger}\n    source: {source}\n    dest: {dest}\n"
    return text + (f"    guard: {guard}\n" if guard else "")
