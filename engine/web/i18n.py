"""The words of the console in its two languages, chosen at log-in: English (the vendor's labels,
which the documented instructions name) and Swedish.

Two catalogues: `SWEDISH` holds every phrase the pages themselves show (a phrase may carry
`{name}` fields the page fills in); the workspace holds its own texts (process names,
descriptions, prerequisite messages) with their Swedish under `sv:` in the process YAML, read by
`workspace_swedish`. Values a page shows as data (ids, names, states, dates) are not translated;
templates mark them `translate="no"`.
"""

from __future__ import annotations

from collections.abc import Mapping

from engine.definitions.model import Workspace

LANGUAGES = {"en": "English", "sv": "Svenska"}

SWEDISH = {
    # log-in, the frame of every page
    "User": "Användare",
    "Password": "Lösenord",
    "Language": "Språk",
    "Log in": "Logga in",
    "Log out": "Logga ut",
    "Identity Manager Operator": "Identity Manager Operatör",
    "cardflow · Operator": "cardflow · Operatör",
    "Skip to the content": "Hoppa till innehållet",
    "Menu": "Meny",
    "Main": "Huvudmeny",
    "wrong user or password": "fel användare eller lösenord",
    "too many log-in attempts at once; try again in a moment": "för många inloggningsförsök samtidigt; försök igen om en stund",
    # the home page and BATCH ORDERS
    "What do you want to do?": "Vad vill du göra?",
    "Batch orders": "Batchbeställningar",
    "BATCH ORDERS": "BATCHBESTÄLLNINGAR",
    "Search": "Sök",
    "Name": "Namn",
    "Department": "Avdelning",
    "State": "Status",
    "Any": "Alla",
    "active": "aktiv",
    "inactive": "inaktiv",
    "Select all": "Markera alla",
    "Email": "E-post",
    "Search results": "Sökresultat",
    "‹ Previous page": "‹ Föregående sida",
    "Pages": "Sidor",
    "{first}–{last} of {total}": "{first}–{last} av {total}",
    "Nothing found.": "Inget hittades.",
    "« First page": "« Första sidan",
    "Next page ›": "Nästa sida ›",
    "Last page »": "Sista sidan »",
    "Order": "Ordning",
    "oldest first": "äldsta först",
    "newest first": "nyaste först",
    "Updated from": "Uppdaterad från",
    "Updated to": "Uppdaterad till",
    "All {total} users found by the search": "Alla {total} användare som sökningen hittade",
    "Next": "Nästa",
    "Cancel": "Avbryt",
    "The process was closed; nothing was written.": "Processen stängdes; inget sparades.",
    # the confirmation and the batch
    "Next will do this (nothing is written yet):": "Nästa gör detta (inget är sparat ännu):",
    "Resulting state": "Status efteråt",
    "Status": "Resultat",
    "Message": "Meddelande",
    "Emails": "E-post",
    "{template} to {to}": "{template} till {to}",
    "The first {shown} of {total} users are shown; {hidden} are not.": (
        "De första {shown} av {total} användare visas; {hidden} visas inte."
    ),
    "Nothing to do: every selected user would be skipped.": "Inget att göra: alla valda användare skulle hoppas över.",
    "Nothing to do: every ticked card would be refused.": "Inget att göra: alla markerade kort skulle nekas.",
    "created": "skapat",
    "skipped": "hoppades över",
    "deferred": "väntar",
    "created: {count}": "skapade: {count}",
    "skipped: {count}": "hoppades över: {count}",
    "done: {count}": "klara: {count}",
    "refused: {count}": "nekade: {count}",
    "refused": "nekat",
    "Production type": "Produktionstyp",
    "Production type: {type}": "Produktionstyp: {type}",
    "{process} by {actor}:": "{process} av {actor}:",
    "complete": "klar",
    "incomplete": "ofullständig",
    "paused": "pausad",
    "running": "pågår",
    "This batch is {status}: it did not finish. Run it again with the same batch id to finish it:": (
        "Den här batchen är {status}: den blev inte klar. Kör den igen med samma batch-id för att slutföra den:"
    ),
    "{done} of {total} users done": "{done} av {total} användare klara",
    "done": "klart",
    "Batch": "Batch",
    "Batch {batch}": "Batch {batch}",
    "Batches": "Batcher",
    "Operator": "Operatör",
    "Created": "Skapade",
    "Skipped": "Hoppades över",
    "Started": "Startad",
    # requests and the approval
    "Requests": "Förfrågningar",
    "Request": "Förfrågan",
    "Request {card}": "Förfrågan {card}",
    "Requested at": "Begärd",
    "Asked": "Begäran",
    "No open requests.": "Inga öppna förfrågningar.",
    "Card approval": "Godkännande av kort",
    "Reason": "Anledning",
    "Process": "Process",
    "Requester": "Beställare",
    "Card holder": "Kortinnehavare",
    "{action}: card {card} is now {state}.": "{action}: kort {card} har nu status {state}.",
    "{action}: card {card}: {message}": "{action}: kort {card}: {message}",
    "Optional.": "Frivilligt.",
    "Required.": "Krävs.",
    "Required for {buttons}; the other buttons do without it.": "Krävs för {buttons}; de andra knapparna klarar sig utan.",
    "Next will do this to the card (nothing is written yet):": "Nästa gör detta med kortet (inget är sparat ännu):",
    "Choose what to do with the card (nothing is written yet):": "Välj vad som ska göras med kortet (inget är sparat ännu):",
    "{process} cannot act on this card now.": "{process} kan inte användas på det här kortet nu.",
    "The cards {process} can act on: open one to start it.": "Korten som {process} kan användas på: öppna ett för att starta.",
    # cards, outbox, options, graphs
    "Cards": "Kort",
    "Card": "Kort",
    "Card {card}": "Kort {card}",
    "Updated": "Uppdaterad",
    "Story": "Förlopp",
    "Outbox": "Utkorg",
    "Template": "Mall",
    "To": "Till",
    "Subject": "Ämne",
    "Attempts": "Försök",
    "Error": "Fel",
    "pending": "väntar",
    "sent": "skickat",
    "failed": "misslyckat",
    "Options": "Inställningar",
    "Read-only: administrators change a value by adding value: to the variable in rules/.": (
        "Skrivskyddat: administratörer ändrar ett värde genom att lägga till value: under variabeln i rules/."
    ),
    "Script": "Skript",
    "Variable": "Variabel",
    "Option": "Inställning",
    "Type": "Typ",
    "Value": "Värde",
    "Default": "Standard",
    "Set by": "Satt av",
    "Process graph": "Processgraf",
    "The compiled machine under the options in force.": "Den kompilerade maskinen med inställningarna som gäller.",
    "That did not work": "Det gick inte",
    # incidents: what needs a person
    "Incidents": "Incidenter",
    "Waiting longer than (ISO 8601)": "Väntar längre än (ISO 8601)",
    "Nothing needs a person.": "Inget behöver en människa.",
    "Oldest": "Äldsta",
    "Show them": "Visa dem",
    "process": "process",
    "state": "status",
    "trigger": "utlösare",
    "reason": "orsak",
    "connector": "anslutning",
    "operation": "operation",
    "Cards that need a person": "Kort som behöver en människa",
    "Cards waiting too long": "Kort som väntat för länge",
    "Calls with no answer": "Anrop utan svar",
    "Emails not delivered": "E-post som inte levererats",
    "Batches that stopped": "Batcher som stannat",
    "Timers refused": "Timrar som nekats",
    # bulk actions and saved views
    "Every card these filters find:": "Varje kort som de här filtren hittar:",
    "Nothing to do: no card these filters find would be changed.": "Inget att göra: inget kort som filtren hittar skulle ändras.",
    "{hidden} more cards are not shown.": "{hidden} kort till visas inte.",
    "Previewed the first {reads} of {found} cards found: Next acts on them all; the counts are of those previewed.": (
        "Förhandsgranskade de första {reads} av {found} kort som hittats: Nästa gör något med alla; antalen gäller de granskade."
    ),
    "Reason of the last move": "Orsak till senaste steget",
    "Views": "Vyer",
    "Your views": "Dina vyer",
    "Delete view {name}": "Ta bort vyn {name}",
    "Delete": "Ta bort",
    "View name": "Vyns namn",
    "Save view": "Spara vy",
    "Act on all {count} cards found": "Gör något med alla {count} kort som hittats",
    "Action": "Åtgärd",
    "Preview": "Förhandsgranska",
    "Pause": "Pausa",
    "Resume": "Återuppta",
    "Paused by {actor}: the cards done so far are kept; Resume does the rest.": (
        "Pausad av {actor}: korten som redan är klara behålls; Återuppta gör resten."
    ),
    "{done} of {total} cards done": "{done} av {total} kort klara",
    "holder": "innehavare",
    "Where": "Där",
    "Optional: an expression over card and user that narrows the cards found, e.g. a declared field or a user attribute.": (
        "Valfritt: ett uttryck över card och user som begränsar korten som hittats, "
        "t.ex. ett deklarerat fält eller ett användarattribut."
    ),
    "batch": "batch",
    "updated_from": "uppdaterad från",
    "updated_to": "uppdaterad till",
    # releases: the workspace published, reviewed by a second admin
    "Releases": "Versioner",
    "The workspace as published with `cardflow publish`: the live release is what every command, worker and this console run.": (
        "Arbetsytan som publicerats med `cardflow publish`: den aktiva versionen är vad varje kommando, arbetare och den här "
        "konsolen kör."
    ),
    "No release yet: `cardflow publish --as ID` publishes the workspace.": (
        "Ingen version än: `cardflow publish --as ID` publicerar arbetsytan."
    ),
    "live": "aktiv",
    "retired": "tidigare",
    "Published by": "Publicerad av",
    "After": "Efter",
    "Approved by": "Godkänd av",
    "What it changes": "Vad den ändrar",
    "Before": "Före",
    "You asked for this release to go live: another admin approves it.": (
        "Du bad om att den här versionen ska bli aktiv: en annan administratör godkänner den."
    ),
    "Approve": "Godkänn",
    "Open cards it moves": "Öppna kort som den flyttar",
    "{count} cards of {process} in {state} go to {to}": "{count} kort i {process} med status {state} flyttas till {to}",
    "Cards whose state's timers change": "Kort vars status får andra timrar",
    "{count} cards of {process} in {state}: {before} timers, then {after}": (
        "{count} kort i {process} med status {state}: {before} timrar, sedan {after}"
    ),
    "Outcomes for users of the store": "Utfall för användare i databasen",
    "{process}: {compared} users planned, {changed} changed": "{process}: {compared} användare planerade, {changed} ändrade",
    "Make it live again": "Gör den aktiv igen",
    "Release {release} is live.": "Version {release} är aktiv.",
    "Release {release} is live; {moved} open cards moved as its release.yaml says.": (
        "Version {release} är aktiv; {moved} öppna kort flyttades enligt dess release.yaml."
    ),
    "Release {release} waits for another admin.": "Version {release} väntar på en annan administratör.",
}


def translate(text: str, language: str, workspace: Mapping[str, str] | None = None, **values: object) -> str:
    """`text` in `language` ('en' or 'sv'), from the console's catalogue or else the workspace's
    (a workspace message quoted as a clause, its final period dropped as refusals quote prerequisite
    messages, is found too), with its `{name}` fields filled in from `values`."""
    if language == "sv":
        texts = workspace or {}
        text = SWEDISH.get(text) or texts.get(text) or texts.get(f"{text}.", "").removesuffix(".") or text
    return text.format(**values) if values else text


def workspace_swedish(workspace: Workspace) -> dict[str, str]:
    """The Swedish the workspace gives its texts: process names, descriptions, prerequisite messages, trigger labels."""
    found: dict[str, str] = {}
    for process in workspace.processes.values():
        for key in ("name", "description"):
            if key in process.sv:
                found[getattr(process, key)] = process.sv[key]
        found.update((p.message, p.sv) for p in process.prerequisites if p.sv)
        found.update((t.button, t.sv) for t in process.triggers.values() if t.sv)
    return found
