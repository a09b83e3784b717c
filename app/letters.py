"""Letter texts: the placeholders a letter may use, the default texts, the
check run when an admin saves a call's text, and the amount in words.

A call's text for a kind of letter (``LetterTemplate``) replaces the default
paragraphs of that letter; the structured parts (references, amounts table,
payment schedule, means of appeal) are always written by the renderer in
``app.documents``, so an edited text can never drop the legal mentions."""

from __future__ import annotations

import string
from dataclasses import dataclass
from datetime import date

from flask import current_app
from num2words import num2words
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.formatting import local_date, local_datetime, money
from app.models import Application, LetterTemplate

# name → what it stands for (shown on the admin page).
PLACEHOLDERS: dict[str, str] = {
    "reference": "référence du dossier",
    "titre": "titre du projet",
    "organisation": "nom de l'organisation",
    "appel": "titre de l'appel",
    "montant": "montant de l'aide en chiffres",
    "montant_lettres": "montant de l'aide en lettres",
    "deliberation": "numéro de la délibération",
    "date_decision": "date de la décision",
    "motifs": "motifs de la décision",
    "date": "date du document",
    "date_depot": "date et heure du dépôt du dossier",
    "montant_demande": "montant d'aide demandé",
}

_DECISION_FIELDS = ("reference", "titre", "organisation", "appel", "montant", "montant_lettres", "deliberation",
                    "date_decision", "motifs", "date")
_FILE_FIELDS = ("reference", "titre", "organisation", "appel", "date_depot", "montant_demande", "date")

# kind → the placeholders its text may use (a receipt has no decision to quote).
KIND_PLACEHOLDERS: dict[str, tuple[str, ...]] = {
    "decision_approval": _DECISION_FIELDS,
    "decision_refusal": _DECISION_FIELDS,
    "agreement": _DECISION_FIELDS,
    "receipt": _FILE_FIELDS,
    "ineligibility": _FILE_FIELDS,
}


def placeholders_for(kind: str | None) -> dict[str, str]:
    """The placeholders a text of ``kind`` may use, with what they stand for."""
    return {name: PLACEHOLDERS[name] for name in KIND_PLACEHOLDERS.get(kind or "", _DECISION_FIELDS)}

LETTER_LABELS = {
    "decision_approval": "Notification de décision favorable",
    "decision_refusal": "Notification de décision défavorable",
    "agreement": "Convention",
    "receipt": "Accusé de réception",
    "ineligibility": "Notification d'inéligibilité",
}

DEFAULT_TEXTS: dict[str, str] = {
    "decision_approval": (
        "Madame, Monsieur,\n\n"
        "Par délibération n° {deliberation} du {date_decision}, la Commission permanente du Conseil régional "
        "a décidé d'attribuer à {organisation} une aide de {montant} ({montant_lettres}) pour le projet "
        "« {titre} » (dossier {reference}), déposé sur l'appel « {appel} ».\n\n"
        "Cette aide est attribuée sous réserve du respect des conditions de l'appel et de la réalisation du "
        "projet tel que décrit dans votre dossier.\n{motifs}"
    ),
    "decision_refusal": (
        "Madame, Monsieur,\n\n"
        "Par délibération n° {deliberation} du {date_decision}, la Commission permanente du Conseil régional "
        "n'a pas retenu le projet « {titre} » (dossier {reference}) déposé par {organisation} sur l'appel "
        "« {appel} ».\n\nMotifs : {motifs}"
    ),
    "agreement": (
        "Entre la Région Grand Est, représentée par le Président du Conseil régional, et {organisation}, "
        "bénéficiaire.\n\n"
        "Article 1 — Objet. La présente convention fixe les conditions dans lesquelles la Région soutient le "
        "projet « {titre} » (dossier {reference}), en application de la délibération n° {deliberation} du "
        "{date_decision}.\n\n"
        "Article 2 — Montant. L'aide régionale s'élève à {montant} ({montant_lettres}). Elle ne peut être "
        "révisée à la hausse.\n\n"
        "Article 3 — Versements. L'aide est versée selon l'échéancier ci-dessous, sur présentation des "
        "justificatifs de dépenses.\n\n"
        "Article 4 — Caducité. L'aide devient caduque si le projet n'a pas commencé dans les deux ans de la "
        "décision ou n'est pas achevé dans les quatre ans."
    ),
    "receipt": (
        "La Région Grand Est accuse réception de votre dossier. Cet accusé ne vaut pas décision d'attribution : "
        "votre dossier va être examiné (recevabilité, éligibilité, instruction) et vous serez informé de chaque étape "
        "sur la page de suivi du dossier."
    ),
    "ineligibility": (
        "Après examen, votre dossier ne remplit pas les conditions d'éligibilité de l'appel. "
        "Il ne peut donc pas être instruit."
    ),
}


class LetterTextError(ValueError):
    """The text cannot be saved; ``message`` says why, in French."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def check_text(text: str, kind: str | None = None) -> str:
    """Return the text when its placeholders are all known for ``kind`` (by
    default, those of the decision letters); raise ``LetterTextError`` with a
    clear message otherwise."""
    allowed = placeholders_for(kind)
    if not text or not text.strip():
        raise LetterTextError("Le texte de la lettre ne peut pas être vide.")
    try:
        fields = list(string.Formatter().parse(text))
    except ValueError:
        raise LetterTextError(
            "Accolade mal fermée : écrivez un champ entre accolades, par exemple {reference}, "
            "et doublez une accolade seule ({{ ou }}).") from None
    unknown: list[str] = []
    for _literal, name, spec, conversion in fields:
        if name is None:
            continue
        if name == "" or spec or conversion:
            raise LetterTextError("Un champ doit être écrit sous la forme {nom}, sans format : « {%s} »."
                                  % (name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "")))
        if name not in allowed and name not in unknown:
            unknown.append(name)
    if unknown:
        raise LetterTextError(
            "Champ(s) inconnu(s) : " + ", ".join("{" + n + "}" for n in unknown)
            + ". Champs possibles : " + ", ".join("{" + n + "}" for n in allowed) + ".")
    return text.strip()


def text_query(call_id, kind: str):
    """The call's own text of ``kind`` (no row: the default text applies); ``call_id`` a value or a
    bound parameter."""
    return select(LetterTemplate.body).where(LetterTemplate.call_id == call_id, LetterTemplate.kind == kind)


def text_for(session: Session, call_id: int, kind: str) -> str:
    return session.execute(text_query(call_id, kind)).scalar() or DEFAULT_TEXTS[kind]


def amount_in_words(cents: int) -> str:
    """« vingt-trois mille euros et cinquante centimes » (French rules:
    « un million d'euros », « un euro »)."""
    euros, rest = divmod(int(cents), 100)
    words = num2words(euros, lang="fr")
    unit = "euro" if euros in (0, 1) else "euros"
    if words.endswith(("million", "millions", "milliard", "milliards")):
        text = f"{words} d'euros"
    else:
        text = f"{words} {unit}"
    if rest:
        text += f" et {num2words(rest, lang='fr')} {'centime' if rest == 1 else 'centimes'}"
    return text


def decision_amount(application: Application) -> int | None:
    return application.awarded_amount_cents or application.proposed_amount_cents


@dataclass(frozen=True)
class PaymentStep:
    label: str
    share_percent: int | None  # of the aid; None for the balance
    amount_cents: int


def payment_schedule(amount_cents: int) -> list[PaymentStep]:
    """Advance, interim payments up to a ceiling, balance (shares from the
    configuration: ``PAYMENT_ADVANCE_PERCENT``, ``PAYMENT_INTERIM_CAP_PERCENT``)."""
    advance_pct = current_app.config["PAYMENT_ADVANCE_PERCENT"]
    ceiling_pct = current_app.config["PAYMENT_INTERIM_CAP_PERCENT"]
    advance = amount_cents * advance_pct // 100
    interim = amount_cents * ceiling_pct // 100 - advance
    return [
        PaymentStep(f"Avance à la signature (jusqu'à {advance_pct} %)", advance_pct, advance),
        PaymentStep(f"Acomptes sur justificatifs (jusqu'à {ceiling_pct} % en cumul)", ceiling_pct - advance_pct, interim),
        PaymentStep("Solde sur rapport final", None, amount_cents - advance - interim),
    ]


def needs_agreement(amount_cents: int | None) -> bool:
    return amount_cents is not None and amount_cents > current_app.config["AGREEMENT_THRESHOLD_CENTS"]


def values_for(application: Application, reasons: str = "", today: date | None = None) -> dict[str, str]:
    amount = decision_amount(application)
    return {
        "reference": application.reference,
        "titre": application.title,
        "organisation": application.organisation.name,
        "appel": application.call.title,
        "montant": money(amount, "fr") if amount else "—",
        "montant_lettres": amount_in_words(amount) if amount else "—",
        "deliberation": application.deliberation_number or "—",
        "date_decision": local_date(application.decided_on, "fr") if application.decided_on else "—",
        "motifs": reasons,
        "date": local_date(today or date.today(), "fr"),
        "date_depot": local_datetime(application.submitted_at, "fr") if application.submitted_at else "—",
        "montant_demande": money(application.requested_amount_cents, "fr") if application.requested_amount_cents else "—",
    }


def fill(text: str, values: dict[str, str]) -> str:
    return text.format(**values)
