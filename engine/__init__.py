"""cardflow's engine: card processes from YAML to persisted, explained outcomes.

A house by stage, one folder per floor; imports run from the top down, never back up
(`tests/test_layout.py` keeps it so):

- `testing/`: scenarios and their steps, coverage by criterion (`criteria`), the suite runner, diff,
  the outcome matrix, the mutation score (`mutants`, `equivalent`), generated scenarios (`search`,
  `generate`, `generated`, `generated_text`), a release planned against the store (`release_plan`),
  the demo.
- `web/`: the console (`cardflow serve`): log-in, BATCH ORDERS, requests, cards, the JSON API.
- `report/`: tables and JSON, the listings as `--json` and the API give them (`listings`), Mermaid
  and Graphviz, `explain` (the story of a card).
- `batch/`: a process run for many users, chunk by chunk (`request`, `run`, `results`,
  `prerequisites`, and `settled` for the rows of new cards whose start is settled); a fired trigger
  turned into rows (`effects`); approve … retry and the batch sync (`actions`); what a person may
  start (`offers`); a run stopped early (`stopping`); the order-status sync (`status`); a batch split
  into chunks for workers (`chunks`; over cards, `card_chunks`); any process run by its name (`by_name`).
- `work/`, beside `batch/` (and allowed to import it): the workers' jobs on procrastinate (`queue`,
  `jobs`), and a worker's life across a lost database (`worker`).
- `releases/`, beside `outbound/`: the workspace published into the store as releases (`contents`,
  `publishing`, `stranding`, `compare`), and the live release run by commands, workers and the
  console (`live`).
- `outbound/`: the card bureau's connectors, outbox delivery (`delivery`, `message`), an email previewed.
- `store/` and `definitions/`, side by side and independent of each other:
  - `store/`: tables and migrations (`db`, `checks`), dialect differences (`dialect`), SQLite's
    write lock (`lock`), reads and
    writes (`queries`, `views`, `history`), the listings a page at a time (`listing`), users import,
    `health` (check-store), the chunks of batches worked by workers (`chunks`), batch rows
    (`batches`), the syncs' claims (`syncs`), procrastinate's tables (`task_queue`): all the SQL; console log-ins
    (`accounts`) and sessions (`sessions`), and the user search (`search`, `folding`); reads that
    run without SQLAlchemy on an SQLite store (`prepared`).
  - `definitions/`: the pipeline of what administrators write: `load` → `validate` (`schemas`) →
    `model` → `check` → `options` → `expressions` (`closures`) → `compile`;
    `templates` (emails, in `sandbox`, checked with `email_samples`), `schedule` (the scheduled
    jobs), `files` and `workspace` (finding a folder, the stages over it) and `cache` (a workspace
    that passed, kept until a file or the code changes).
- `effects/`, beside `definitions/` (which builds and checks effects through it): the effect
  registry, one module a kind (`email`, `set_fields`): its schema, dataclass, checks, how it fires, what it writes.
- the ground floor, here: `diagnostics` (locations and the code table), `errors` (the exception
  tree), `clock` (the time rows are stamped with), `records` (card, user, batch and email context
  declared once: what expressions, templates and the JSON read), `kept` (the cache folder).
"""
