"""cardflow's engine: card processes from YAML to persisted, explained outcomes.

The pipeline, one module per stage, in order:

- `load`: YAML text to data plus the file:line:col of every node (safe, bounded).
- `validate`: the shape of each document, with cerberus (`schemas` declares every key once).
- `model`: frozen dataclasses built from valid documents.
- `check`: named semantic checks (states, reachability, guards, options, ambiguity).
- `options`: effective option values with provenance (default, file:line, --set).
- `expressions`: the guard language: parsed by Jinja2, evaluated by traced, sandboxed closures.
- `compile`: a process plus options to one shared, cached `transitions` Machine.
- `report`: tables, JSON, Mermaid and Graphviz output.

Around them: `diagnostics` (locations and the code table), `errors` (the exception tree) and
`workspace` (finding a workspace and running the stages over it).
"""
