"""The store: tables and migrations (`db`), reads and writes (`queries`), stored rows as templates
and expressions see them (`views`), users imported from CSV, JSON or YAML (`users`), and the chunks of batches worked by
workers (`chunks`).

May import: the ground floor (diagnostics, errors, clock). Not the definitions: the store keeps rows.
"""
