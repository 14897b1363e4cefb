"""Reports for people and scripts: tables and JSON (`tables`), the listings of cards and batches as
`--json` and the API give them (`listings`), Mermaid and Graphviz of a compiled machine (`graphs`),
and the story of a card in sentences (`explain`).

May import: batch, outbound, store, definitions and the ground floor.
"""
