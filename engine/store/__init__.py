"""The store: tables and migrations (`db`), what makes a file a cardflow store (`checks`) and
`check-store` (`health`), what differs on PostgreSQL (`dialect`), SQLite's write lock (who holds
it, waiting for it: `lock`), reads and writes (`queries`), a
card's story (`history`), stored rows as templates and expressions see them (`views`), users
imported from CSV, JSON or YAML (`users`), which attributes no stored user has (`attributes`),
the chunks of batches worked by workers (`chunks`), batch rows (`batches`), the syncs' claims
(`syncs`), procrastinate's tables (`task_queue`), the outbox's delivery (`outbox`), the reads of
a run over cards (`card_runs`), the
console's log-ins (`accounts`: argon2 password hashes, hashed API tokens that expire) and sessions
(`sessions`), its paged user search
(`search`) and the users' search columns in lower case (`folding`).

May import: the ground floor (diagnostics, errors, clock, records). Not the definitions: the store keeps rows.
"""
