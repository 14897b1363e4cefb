"""The words of the console in its two languages, chosen at log-in: English (the vendor's labels,
which the documented instructions name) and Swedish. A phrase without a Swedish entry shows in English."""

from __future__ import annotations

LANGUAGES = {"en": "English", "sv": "Svenska"}

SWEDISH = {
    "User": "Användare",
    "Password": "Lösenord",
    "Language": "Språk",
    "Log in": "Logga in",
    "Log out": "Logga ut",
    "What do you want to do?": "Vad vill du göra?",
    "Batch orders": "Batchbeställningar",
    "BATCH ORDERS": "BATCHBESTÄLLNINGAR",
    "Order multiple cards": "Beställ flera kort",
    "Request multiple cards": "Begär flera kort",
    "Search": "Sök",
    "Name": "Namn",
    "Department": "Avdelning",
    "State": "Status",
    "Any": "Alla",
    "Select all": "Markera alla",
    "Next": "Nästa",
    "Cancel": "Avbryt",
    "Requests": "Förfrågningar",
    "Card approval": "Godkännande av kort",
    "Approved": "Godkänd",
    "Reject": "Avvisa",
    "Reason": "Anledning",
    "Postpone": "Skjut upp",
    "Cards": "Kort",
    "Abort card order": "Avbryt kortbeställning",
    "Retry": "Försök igen",
    "Outbox": "Utkorg",
    "Batches": "Batcher",
    "Options": "Inställningar",
    "Process graph": "Processgraf",
    "Card": "Kort",
    "Batch": "Batch",
    "Process": "Process",
    "Requester": "Beställare",
    "Card holder": "Kortinnehavare",
    "Production type": "Produktionstyp",
    "Status": "Resultat",
    "Message": "Meddelande",
    "Emails": "E-post",
    "Previous": "Föregående",
    "wrong user or password": "fel användare eller lösenord",
    "The process was closed; nothing was written.": "Processen stängdes; inget sparades.",
}


def translate(text: str, language: str) -> str:
    """`text` in `language` ('en' or 'sv')."""
    return SWEDISH.get(text, text) if language == "sv" else text
