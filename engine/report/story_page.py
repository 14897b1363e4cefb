"""`explain --format html`: a card's story as one page that needs nothing else (the vendored Mermaid
script inlined): the card, its path drawn on its process graph, and each move as a timeline entry that
opens on the decision trace (the guards, the values they read, the YAML lines)."""

from __future__ import annotations

from pathlib import Path

import jinja2

from engine.report.explain import story_appendix, story_head, timeline
from engine.report.paths import CardPath, mermaid_path
from engine.store.queries import Row

MERMAID = Path(__file__).resolve().parents[1] / "web" / "static" / "mermaid.min.js"
#: The report's HTML templates (the console's pages include the timeline too).
TEMPLATES = Path(__file__).resolve().parent / "templates"


def html_environment(*folders: Path) -> jinja2.Environment:
    """Jinja for HTML pages: autoescaped (data renders as text), an unknown name an error, from `folders` in order."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(folders),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


_ENVIRONMENT = html_environment(TEMPLATES)


def story_page(story: Row, path: CardPath, names: dict[str, str]) -> str:
    """The page of the card `story` tells, with its `path` drawn."""
    script = MERMAID.read_text(encoding="utf-8").replace("</script", "<\\/script")
    context = {
        "card": story["card"],
        "facts": story_head(story),
        "diagram": mermaid_path(path),
        "entries": timeline(story, names),
        "rest": story_appendix(story),
    }
    return _ENVIRONMENT.get_template("story.html").render(**context, mermaid_script=script)
