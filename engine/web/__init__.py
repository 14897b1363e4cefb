"""The console and the JSON API (`cardflow serve`): a second thin shell beside the command line.

`app` builds the FastAPI application (security headers, sessions, static files, the routers) for a
`console` (the workspace, store and bureau it serves);
`auth` logs users in and out, keeps the CSRF token and checks roles; `render` fills the templates;
`i18n` holds the words of the pages in English and Swedish; `batch_pages` the vendor's BATCH ORDERS
steps over users, `card_batch_pages` over cards; `decide_pages` the home page ("What do you want to
do?": every process the user's roles may start), the requests and the "Card approval" form;
`card_pages` cards (a button and a confirmation step per process the card allows now), outbox,
batches, options and graphs;
`jobs` runs large batches in the background for the progress page; `api` the JSON API under /api/;
`serving` takes the console's address and serves it.
A route parses the request, calls the same engine function the command calls, renders a template:
no SQL and no business rule here.

May import: report, batch, outbound, store, definitions and the ground floor (the top floor).
"""
