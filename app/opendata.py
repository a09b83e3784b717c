"""Open data: the awarded grants above 23,000 € in the SCDL « subventions »
2.1.1 format (décret n° 2017-779, arrêté du 17 novembre 2017), the official
Table Schema being ``shared/specs/scdl-subventions-2.1.1.schema.json``.

Which files: a grant is a file with a legal commitment in the ledger (the net
of its ``commit`` entries and their reversals is positive) or with an awarded
amount and a decision date, whose amount (the awarded amount, else the net
commitment) is above ``SCDL_THRESHOLD_CENTS`` (23,000 €), and that was not
refused, withdrawn or found ineligible. ``year`` keeps the grants decided that
year (decision date, else the date of the first commitment).

How each field is filled (in the schema's order):
    nomAttribuant, idAttribuant   ``SCDL_ATTRIBUTING_NAME`` / ``SCDL_ATTRIBUTING_SIRET``
                                  (Région Grand Est, 200 052 264 00013, checked by python-stdnum)
    dateConvention                the agreement's signature date, else the date of the first commitment
                                  (the signature commits the aid), else the decision date
    referenceDecision             the deliberation number
    nomBeneficiaire, idBeneficiaire  the organisation's name and SIRET (rnaBeneficiaire left empty)
    objet                         the project's title and the call's title, 256 characters at most
    montant                       euros with a decimal point
    nature                        « aide en numéraire »
    conditionsVersement           « échelonné » (advance, interim payments, balance)
    datesPeriodeVersement         from dateConvention to the payment of the balance, or while it is
                                  not paid to the completion limit (decision + LAPSE_COMPLETION_MONTHS)
    idRAE, dispositifAide         empty
    notificationUE                « oui » for an aid granted under de minimis (the schema's description
                                  ties the field to the de minimis regulation), « non » for GBER
    pourcentageSubvention         1.00 (one beneficiary per file)
"""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal
from typing import IO, Any, Iterator

from flask import current_app
from sqlalchemy import Select, and_, case, func, or_, select
from sqlalchemy.orm import Session, aliased

from app.exports import CHUNK, euros, stream
from app.models import Agreement, Application, Call, LedgerEntry, Organisation

FIELDS = ["nomAttribuant", "idAttribuant", "dateConvention", "referenceDecision", "nomBeneficiaire",
          "idBeneficiaire", "rnaBeneficiaire", "objet", "montant", "nature", "conditionsVersement",
          "datesPeriodeVersement", "idRAE", "notificationUE", "pourcentageSubvention", "dispositifAide"]
NOT_AWARDED = ("draft", "submitted", "eligibility_check", "corrections_requested", "instruction", "committee",
               "rejected", "withdrawn", "ineligible", "closed_without_follow_up")
OBJECT_MAX = 256


def _ledger_facts() -> Any:
    """Per file: the net commitment, the first commitment date, the last
    payment date, whether the balance was paid, and the aid regime."""
    reversed_entry = aliased(LedgerEntry)
    is_commit = LedgerEntry.operation == "commit"
    is_pay = LedgerEntry.operation == "pay"
    return (
        select(
            LedgerEntry.application_id.label("application_id"),
            func.sum(case((is_commit, LedgerEntry.amount_cents),
                          (reversed_entry.operation == "commit", -LedgerEntry.amount_cents), else_=0)).label("committed"),
            func.min(case((is_commit, LedgerEntry.effective_on))).label("first_commit"),
            func.max(case((is_pay, LedgerEntry.effective_on))).label("last_payment"),
            func.max(case((and_(is_pay, LedgerEntry.payment_kind == "balance"), 1), else_=0)).label("balance_paid"),
            func.max(LedgerEntry.regime).label("regime"),
        )
        .outerjoin(reversed_entry, reversed_entry.id == LedgerEntry.reverses_id)
        .group_by(LedgerEntry.application_id)
        .subquery("ledger_facts")
    )


def grants(year: int | None = None, threshold_cents: int = 2_300_000) -> Select[Any]:
    """The grants to publish, oldest decision first."""
    facts = _ledger_facts()
    committed = func.coalesce(facts.c.committed, 0)
    amount = func.coalesce(Application.awarded_amount_cents, committed)
    decided = func.coalesce(Application.decided_on, facts.c.first_commit)
    stmt = (
        select(Application.reference, Application.title, Application.decided_on, Application.deliberation_number,
               Organisation.name.label("organisation"), Organisation.siret, Call.title.label("call_title"),
               amount.label("amount_cents"), facts.c.first_commit, facts.c.last_payment, facts.c.balance_paid,
               facts.c.regime, decided.label("decided"), Agreement.signed_on)
        .join(Organisation, Organisation.id == Application.organisation_id)
        .join(Call, Call.id == Application.call_id)
        .outerjoin(facts, facts.c.application_id == Application.id)
        .outerjoin(Agreement, Agreement.application_id == Application.id)
        .where(or_(committed > 0, and_(Application.awarded_amount_cents.is_not(None), Application.decided_on.is_not(None))),
               Application.state.not_in(NOT_AWARDED), amount > threshold_cents)
    )
    if year is not None:
        stmt = stmt.where(decided >= date(year, 1, 1), decided <= date(year, 12, 31))
    return stmt.order_by(decided, Application.reference)


def _object(title: str, call_title: str) -> str:
    text = f"{title} — {call_title}"
    return text if len(text) <= OBJECT_MAX else text[:OBJECT_MAX - 1].rstrip() + "…"


def as_date(value: Any) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])  # SQLite returns aggregated dates as text


def record(row: Any, name: str, siret: str, completion_months: int) -> dict[str, str]:
    """One grant as SCDL cells (strings, in the schema's formats)."""
    from app.operations.transitions import add_months

    decided = as_date(row.decided)
    signed = as_date(row.signed_on) or as_date(row.first_commit) or decided
    last_payment = as_date(row.last_payment)
    if row.balance_paid and last_payment is not None:
        end = last_payment
    else:
        end = add_months(decided, completion_months)
        if last_payment is not None:
            end = max(end, last_payment)
    period = signed.isoformat() if end <= signed else f"{signed.isoformat()}/{end.isoformat()}"
    return {
        "nomAttribuant": name,
        "idAttribuant": siret,
        "dateConvention": signed.isoformat(),
        "referenceDecision": row.deliberation_number or "",
        "nomBeneficiaire": row.organisation,
        "idBeneficiaire": row.siret,
        "rnaBeneficiaire": "",
        "objet": _object(row.title, row.call_title),
        "montant": f"{euros(int(row.amount_cents)):.2f}",
        "nature": "aide en numéraire",
        "conditionsVersement": "échelonné",
        "datesPeriodeVersement": period,
        "idRAE": "",
        "notificationUE": "oui" if row.regime == "de_minimis" else "non",
        "pourcentageSubvention": f"{Decimal(1):.2f}",
        "dispositifAide": "",
    }


def records(session: Session, year: int | None = None, batch: int = 500) -> Iterator[dict[str, str]]:
    config = current_app.config
    for row in stream(session, grants(year, config["SCDL_THRESHOLD_CENTS"]), batch):
        yield record(row, config["SCDL_ATTRIBUTING_NAME"], config["SCDL_ATTRIBUTING_SIRET"],
                     config["LAPSE_COMPLETION_MONTHS"])


def scdl_chunks(session: Session, year: int | None = None, counter: list[int] | None = None) -> Iterator[str]:
    """The SCDL file (UTF-8, comma-separated, header first), streamed;
    ``counter[0]`` counts the grants written when given."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=FIELDS, lineterminator="\r\n")
    writer.writeheader()
    for values in records(session, year):
        writer.writerow(values)
        if counter is not None:
            counter[0] += 1
        if buffer.tell() >= CHUNK:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def write_scdl(session: Session, fileobj: IO[str], year: int | None = None) -> int:
    """Write the SCDL file to a text file object (open it with ``newline=""``);
    returns the number of grants written."""
    counter = [0]
    for chunk in scdl_chunks(session, year, counter):
        fileobj.write(chunk)
    return counter[0]
