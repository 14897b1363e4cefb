"""The command line by persona: each module holds the commands one kind of user runs, and lists
them in COMMANDS for `cli.py` to add to the root group. Thin: parse, call the engine, render."""
