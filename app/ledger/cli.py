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
    """Recompute every account's totals from the entries and check that every
    entry balances; exit 1 on any difference."""
    from sqlalchemy import func, select

    from app.ledger import check_entries, check_totals
    from app.models import LedgerAccount, LedgerEntry

    faults = [*check_totals(db.session), *check_entries(db.session)]
    for fault in faults:
        click.echo(str(fault), err=True)
    accounts = db.session.execute(select(func.count(LedgerAccount.id))).scalar_one()
    entries = db.session.execute(select(func.count(LedgerEntry.id))).scalar_one()
    db.session.rollback()
    if faults:
        click.echo(f"ledger: {len(faults)} difference(s) over {accounts} accounts and {entries} entries", err=True)
        sys.exit(1)
    click.echo(f"ledger consistent: {accounts} accounts, {entries} entries")


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
