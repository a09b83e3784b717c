"""``flask --app wsgi ledger …``: check the ledger, create a plan's accounts.

Registered by ``app/cli.py`` (``app.cli.add_command(ledger_group)``)."""

from __future__ import annotations

import sys

import click
from flask.cli import with_appcontext

from app.extensions import db


@click.group("ledger")
def ledger_group() -> None:
    """The budget ledger."""


@ledger_group.command("verify")
@with_appcontext
def ledger_verify() -> None:
    """Recompute every account's totals from the entries, check that every
    entry balances and every invariant holds (reserved + committed within each
    limit, payments within the commitment per file), print a one-line summary;
    exit 1 naming each violation."""
    from app.ledger.verify import check_entries, check_invariants, check_totals, summary

    faults = [*check_totals(db.session), *check_entries(db.session), *check_invariants(db.session)]
    totals = summary(db.session)
    db.session.rollback()
    for fault in faults:
        click.echo(f"violation: {fault}", err=True)
    if faults:
        click.echo(f"ledger: {len(faults)} violation(s); {totals}", err=True)
        sys.exit(1)
    click.echo(f"ledger consistent: {totals}")


@ledger_group.command("ensure-accounts")
@with_appcontext
def ledger_ensure_accounts() -> None:
    """Create the missing accounts of every plan (plan, years, axes, calls, files)."""
    from sqlalchemy import select

    from app.ledger import ensure_accounts
    from app.models import Plan

    created = sum(ensure_accounts(db.session, plan) for plan in db.session.execute(select(Plan)).scalars())
    db.session.commit()
    click.echo(f"{created} account(s) created")


def _cents(text: str) -> int | None:
    """``none`` (uncapped) or an amount in euros, ``1234567.89`` or ``1 234 567,89``."""
    from decimal import Decimal, InvalidOperation

    if text.strip().lower() in ("none", "aucun", "-"):
        return None
    cleaned = "".join(text.split()).replace("\u202f", "").replace("€", "").replace(",", ".")
    try:
        euros = Decimal(cleaned)
    except InvalidOperation:
        raise click.BadParameter(f"« {text} » n'est pas un montant en euros (par exemple 1234567.89, ou none).") from None
    cents = euros * 100
    if not euros.is_finite() or euros < 0 or cents != cents.to_integral_value():
        raise click.BadParameter(f"« {text} » : un montant positif, au centime près.")
    return int(cents)


def _refused(exc: Exception) -> None:
    db.session.rollback()
    click.echo(f"refusé : {getattr(exc, 'message', exc)}", err=True)
    sys.exit(1)


@ledger_group.command("set-limit")
@click.argument("key")
@click.argument("amount")
@click.option("--reason", required=True, help="The decision that sets it (deliberation, amending budget).")
@with_appcontext
def ledger_set_limit(key: str, amount: str, reason: str) -> None:
    """Set the cap of account KEY (plan:ID, year:PLAN:YEAR, axis:ID, call:ID) to
    AMOUNT euros, or `none` (axes only). Refused below what is reserved and committed."""
    from sqlalchemy import select

    from app.ledger import LedgerRefused, set_limit
    from app.ledger.operations import axis_account, call_account, plan_account, year_account
    from app.models import Axis, Call, LedgerAccount, Plan

    cents = _cents(amount)
    kind, _sep, rest = key.partition(":")
    account = db.session.execute(select(LedgerAccount).where(LedgerAccount.key == key)).scalar_one_or_none()
    if account is None:  # not opened yet: open it with its default cap, then change it
        parts = rest.split(":")
        target = {"plan": Plan, "axis": Axis, "call": Call, "year": Plan}.get(kind)
        obj = db.session.get(target, int(parts[0])) if target is not None and parts[0].isdigit() else None
        if obj is None or (kind == "year" and (len(parts) != 2 or not parts[1].isdigit())):
            raise click.BadParameter(f"aucun compte « {key} » (plan:ID, year:PLAN:YEAR, axis:ID, call:ID)")
        opener = {"plan": plan_account, "axis": axis_account, "call": call_account}
        account = year_account(db.session, obj, int(parts[1])) if kind == "year" else opener[kind](db.session, obj)
    if account.kind not in ("plan", "year", "axis", "call"):
        raise click.BadParameter("seuls les plafonds du plan, des années, des axes et des appels se fixent ici")
    if cents is None and account.kind != "axis":
        raise click.BadParameter("seul un axe peut rester sans plafond")
    try:
        set_limit(db.session, account, cents, actor=None, role="system", reason=reason)
        db.session.commit()
    except LedgerRefused as exc:
        _refused(exc)
    click.echo(f"{account.key}: plafond {'aucun' if cents is None else f'{cents} centimes'}")


@ledger_group.command("set-credits")
@click.argument("plan_id", type=int)
@click.argument("year", type=int)
@click.argument("amount")
@click.option("--reason", required=True, help="The budget vote that opens them.")
@with_appcontext
def ledger_set_credits(plan_id: int, year: int, amount: str, reason: str) -> None:
    """Set the payment credits (CP) of YEAR of plan PLAN_ID to AMOUNT euros, or
    `none` (not voted: uncapped). Refused below what the year has paid."""
    from app.ledger import LedgerRefused, set_credits
    from app.models import Plan

    plan = db.session.get(Plan, plan_id)
    if plan is None:
        raise click.BadParameter(f"aucun plan n° {plan_id}")
    cents = _cents(amount)
    try:
        account = set_credits(db.session, plan, year, cents, actor=None, role="system", reason=reason)
        db.session.commit()
    except LedgerRefused as exc:
        _refused(exc)
    click.echo(f"{account.key}: crédits de paiement {'non votés' if cents is None else f'{cents} centimes'}")


@ledger_group.command("link")
@click.argument("siren")
@click.argument("linked_siren")
@click.option("--relation", required=True, help="How they are linked (« filiale détenue à 100 % »).")
@with_appcontext
def ledger_link(siren: str, linked_siren: str, relation: str) -> None:
    """Record that two companies form one single undertaking (de minimis)."""
    from app.ledger import de_minimis_counted
    from app.ledger.undertakings import LinkRefused, declare_link, group_of

    try:
        _link, created = declare_link(db.session, siren, linked_siren, relation, actor=None, role="system")
        db.session.commit()
    except LinkRefused as exc:
        _refused(exc)
    group = group_of(db.session, _link.siren)
    counted = de_minimis_counted(db.session, _link.siren)
    click.echo(f"{'lien enregistré' if created else 'lien déjà enregistré'} ; entreprise unique : {', '.join(group)} ; "
               f"de minimis compté sur 3 ans : {counted} centimes")


@ledger_group.command("unlink")
@click.argument("siren")
@click.argument("linked_siren")
@click.option("--reason", required=True, help="Why the link was wrong.")
@with_appcontext
def ledger_unlink(siren: str, linked_siren: str, reason: str) -> None:
    """Remove a link between two companies declared in error (audited)."""
    from sqlalchemy import select

    from app.ledger.undertakings import LinkRefused, remove_link
    from app.models import UndertakingLink

    low, high = sorted((siren.strip(), linked_siren.strip()))
    link = db.session.execute(select(UndertakingLink).where(UndertakingLink.siren == low,
                                                            UndertakingLink.linked_siren == high)).scalar_one_or_none()
    if link is None:
        raise click.BadParameter(f"aucun lien entre {low} et {high}")
    try:
        remove_link(db.session, link, actor=None, role="system", reason=reason)
        db.session.commit()
    except LinkRefused as exc:
        _refused(exc)
    click.echo(f"lien supprimé entre {low} et {high}")
