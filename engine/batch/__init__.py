"""The batch runtime: a process run for many users (`request` checks what is asked, `prepared` makes
ready what is asked, `run` carries it out chunk by chunk, `results` reports it), a fired trigger turned into rows (`effects`), and
triggers fired on existing cards: approve, reject, postpone, abort, retry and the batch sync (`actions`);
an action process run by name over the cards selected (`card_request` checks what is asked,
`over_cards` runs it, per card done or refused); what a person may start, read from the workspace
(`offers`); a run stopped early (`stopping`); the order-status sync (`status`); the refusal of a run
whose process reads a user attribute no stored user has (`attributes`); a batch split into chunks
that workers work (`chunks`; a run over cards, `card_chunks`); any process run by its name, over
users or over cards (`by_name`); which cards a run over cards reads (`selected_cards`; a bulk
action's filters, `card_filters`), paused and resumed (`bulk`).

May import: outbound, store, definitions and the ground floor.
"""
