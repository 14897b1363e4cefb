"""The store: tables and migrations (`db`), what makes a file a cardflow store (`checks`) and
`check-store` (`health`), what differs on PostgreSQL (`dialect`), SQLite's write lock (who holds
it, waiting for it: `lock`), reads and writes (`queries`), a
card's story (`history`), stored rows as templates and expressions see them (`views`), users
imported from CSV, JSON or YAML (`users`), the chunks of batches worked by workers (`chunks`),
the reads of a run over cards (`card_runs`), the
console's log-ins (`accounts`: argon2 password hashes, hashed API tokens that expire) and sessions
(`sessions`), its paged user search
(`search`) and the users' search columns in lower case (`folding`).

May import: the ground floor (diagnostics, errors, clock). Not the definitions: the store keeps rows.
"""
