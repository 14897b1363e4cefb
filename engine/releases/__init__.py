"""Releases: the workspace published into the store as an immutable, content-addressed whole, which a
second admin approves before it goes live, and which every command, worker and the console then
runs (`contents`: the files and their address, written out for loading; `publishing`: publish,
approve, activate; `compare`: two releases side by side; `live`: running the live release).

May import: store, definitions and the ground floor.
"""
