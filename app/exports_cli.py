"""``flask --app wsgi export …``: the open-data file and the finance exports
from the command line (cron, benchmarks), streamed like the pages' downloads.

Registered by ``app/cli.py``."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask.cli import with_appcontext

from app.extensions import db


@click.group("export")
def export_group() -> None:
    """Open data and finance exports."""


def _year(value: int | None) -> int | None:
    if value is not None and not 2000 <= value <= 2100:
        raise click.BadParameter("indiquez une année sur quatre chiffres", param_hint="--year")
    return value


@export_group.command("scdl")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, writable=True, path_type=Path),
              help="The CSV file to write.")
@click.option("--year", type=int, help="Only the grants decided that year.")
@with_appcontext
def export_scdl(out: Path, year: int | None) -> None:
    """Every awarded grant above 23,000 € in the SCDL « subventions » 2.1.1 format."""
    from app.opendata import write_scdl

    year = _year(year)
    with out.open("w", newline="", encoding="utf-8") as fileobj:
        count = write_scdl(db.session, fileobj, year)
    db.session.rollback()
    click.echo(f"{count} grant(s) written to {out}")


def _movements(kind: str, out: Path, year: int | None, call_reference: str | None) -> None:
    from sqlalchemy import select

    from app import exports
    from app.models import Call

    call_id = None
    if call_reference:
        call_id = db.session.execute(select(Call.id).where(Call.reference == call_reference)).scalar_one_or_none()
        if call_id is None:
            click.echo(f"unknown call {call_reference!r}", err=True)
            sys.exit(1)
    filters = exports.Filters(year=_year(year), call_id=call_id)
    if out.suffix.lower() == ".xlsx":
        with out.open("wb") as binary:
            exports.write_xlsx(db.session, binary, kind, filters)
    elif out.suffix.lower() == ".csv":
        with out.open("w", newline="", encoding="utf-8-sig") as text:
            exports.write_csv(db.session, text, kind, filters)
    else:
        click.echo("--out must end in .csv or .xlsx", err=True)
        sys.exit(1)
    db.session.rollback()
    click.echo(f"{kind} written to {out}")


@export_group.command("commitments")
@click.option("--out", required=True, type=click.Path(dir_okay=False, writable=True, path_type=Path),
              help="A .csv or .xlsx file.")
@click.option("--year", type=int, help="Only this budget year.")
@click.option("--call", "call_reference", help="Only this call (reference).")
@with_appcontext
def export_commitments(out: Path, year: int | None, call_reference: str | None) -> None:
    """The commitments and decommitments of the ledger."""
    _movements("commitments", out, year, call_reference)


@export_group.command("payments")
@click.option("--out", required=True, type=click.Path(dir_okay=False, writable=True, path_type=Path),
              help="A .csv or .xlsx file.")
@click.option("--year", type=int, help="Only this budget year (year of payment).")
@click.option("--call", "call_reference", help="Only this call (reference).")
@with_appcontext
def export_payments(out: Path, year: int | None, call_reference: str | None) -> None:
    """The payments of the ledger."""
    _movements("payments", out, year, call_reference)
