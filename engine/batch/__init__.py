"""The batch runtime: a process run for many users (`request` checks what is asked, `prepared` makes
ready what is asked, `run` carries it out chunk by chunk, `results` reports it), a fired trigger turned into rows (`effects`), and
triggers fired on existing cards: approve, reject, postpone, abort, retry and the batch sync (`actions`);
an action process run by name over the cards selected, per card done or refused (`over_cards`);
what a person may start, read from the workspace (`offers`);
a run stopped early (`stopping`); the order-status sync (`status`); a batch split into chunks that
workers work (`chunks`).

May import: outbound, store, definitions and the ground floor.
"""
