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
