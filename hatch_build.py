"""Build hook: a standard wheel carries cli.py, commands/ and the reference workspace (with its scenarios and diff example)
in `engine/reference/`.

An editable install needs neither copy: the project root is on the path, and the engine finds the
workspace in the checkout. (Hatch's static `force-include` would copy them into site-packages for
editable installs too, where the copies would go stale.)
"""

from __future__ import annotations

from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

SHIPPED = {
    "cli.py": "cli.py",
    "commands": "commands",
    "processes": "engine/reference/processes",
    "lifecycles": "engine/reference/lifecycles",
    "rules": "engine/reference/rules",
    "templates": "engine/reference/templates",
    "tests/scenarios": "engine/reference/tests/scenarios",
    "tests/diff": "engine/reference/tests/diff",
    "schedule.yaml": "engine/reference/schedule.yaml",
    "roles.yaml": "engine/reference/roles.yaml",
    "connectors.yaml": "engine/reference/connectors.yaml",
    "calendar.yaml": "engine/reference/calendar.yaml",
}


class CustomBuildHook(BuildHookInterface):  # type: ignore[type-arg]
    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if version != "editable":
            build_data["force_include"].update(SHIPPED)
