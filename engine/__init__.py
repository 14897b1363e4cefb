"""cardflow's engine: card processes from YAML to persisted, explained outcomes.

The pipeline, one module per stage, in order:

- `load`: YAML text to data plus the file:line:col of every node (safe, bounded).
- `validate`: the shape of each document, with cerberus (`schemas` declares every key once).
- `model`: frozen dataclasses built from valid documents.
- `check`: named semantic checks (states, reachability, guards, options, ambiguity).
- `options`: effective option values with provenance (default, file:line, --set).
- `expressions`: the guard language: parsed by Jinja2, evaluated by traced, sandboxed closures.
- `compile`: a process plus options to one shared, cached `transitions` Machine.
- `run`: a batch process for many users, chunk by chunk (`effects` turns each fired trigger
  into rows; `actions` fires triggers on existing cards and runs the batch sync).
- `report`: tables, JSON, Mermaid and Graphviz output; `explain`: the story of a card.

Around them: `db` and `store` (the SQLAlchemy Core store and its migrations), `users` (import),
`bureau` (card bureau connectors), `clock`, and `demo` (the main job on sample users).

Around them: `diagnostics` (locations and the code table), `errors` (the exception tree) and
`workspace` (finding a workspace and running the stages over it).
"""
