"""The store: tables and migrations (`db`), reads and writes (`queries`), stored rows as templates
and expressions see them (`views`), users imported from CSV, JSON or YAML (`users`), the console's
log-ins (`accounts`: argon2 password hashes, hashed API tokens) and its paged user search (`search`).

May import: the ground floor (diagnostics, errors, clock). Not the definitions: the store keeps rows.
"""
