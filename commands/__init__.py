"""The command line by persona: each module holds the commands one kind of user runs, and lists
them in COMMANDS for `cli.py` to add to the root group; `fire` makes a command of each trigger the
workspace lets a person fire. Thin: parse, call the engine, render."""
