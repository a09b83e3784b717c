"""Finance exports: the commitments and the payments of the ledger, as CSV or
XLSX, streamed.

Nothing here loads a whole list in memory: the rows come from the database
in batches (``yield_per``: a server-side cursor on PostgreSQL, ``fetchmany``
on SQLite) and go out as they come — CSV line by line, XLSX through
openpyxl's write-only workbook, which writes each row to a temporary file and
zips it at the end (the response then sends that file in chunks). The same
functions serve the finance pages (``csv_chunks``, ``xlsx_chunks``: generators
for a streamed response) and the command line or a benchmark (``write_csv``,
``write_xlsx``: to any file object)::

    with open("engagements.csv", "w", newline="", encoding="utf-8-sig") as f:
        write_csv(session, f, "commitments", year=2026)

A commitment movement is a ``commit`` (+), a ``decommit`` (−) or the reversal
of either (sign flipped); a payment movement is a ``pay`` (+) or its reversal
(−). Amounts are signed, in euros with two decimals.
"""

from __future__ import annotations

import csv
import io
import tempfile
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import IO, Any, Callable, Iterable, Iterator

from sqlalchemy import Select, and_, case, or_, select
from sqlalchemy.orm import Session, aliased

from app.models import Application, Call, LedgerEntry, Organisation

KINDS = ("commitments", "payments")
# The operations of each list; a reversal belongs to the list of the entry it reverses.
BASE_OPERATIONS = {"commitments": ("commit", "decommit"), "payments": ("pay",)}
SIGNS = {"commit": 1, "decommit": -1, "pay": 1}
BATCH = 1000
CHUNK = 64 * 1024

OPERATION_LABELS = {"commit": "Engagement", "decommit": "Dégagement", "pay": "Versement",
                    "reversal": "Contrepassation"}
PAYMENT_LABELS = {"advance": "Avance", "interim": "Acompte", "balance": "Solde"}

HEADERS = ["Écriture", "Date d'effet", "Exercice", "Opération", "Versement", "Dossier", "Projet", "Bénéficiaire",
           "SIRET", "Appel", "Régime d'aide", "Montant (€)", "Motif"]


@dataclass(frozen=True)
class Filters:
    """What a list shows: a budget year, one call, and the calls the reader may see (None: all)."""

    year: int | None = None
    call_id: int | None = None
    call_ids: frozenset[int] | None = None


def movements(kind: str, filters: Filters = Filters()) -> Select[Any]:
    """The commitment or payment movements, newest first, with their file,
    beneficiary and call, and the signed amount in cents as ``signed_cents``."""
    if kind not in KINDS:
        raise ValueError(f"unknown export {kind!r}")
    reversed_entry = aliased(LedgerEntry)
    base = BASE_OPERATIONS[kind]
    signed = case(
        *[(LedgerEntry.operation == op, LedgerEntry.amount_cents * SIGNS[op]) for op in base],
        *[(reversed_entry.operation == op, LedgerEntry.amount_cents * -SIGNS[op]) for op in base],
        else_=0,
    )
    stmt = (
        select(LedgerEntry.id, LedgerEntry.effective_on, LedgerEntry.year, LedgerEntry.operation,
               reversed_entry.operation.label("reversed_operation"), LedgerEntry.payment_kind,
               Application.reference, Application.title, Organisation.name.label("organisation"),
               Organisation.siret, Call.reference.label("call"), LedgerEntry.regime, signed.label("signed_cents"),
               LedgerEntry.reason)
        .join(Application, Application.id == LedgerEntry.application_id)
        .join(Organisation, Organisation.id == Application.organisation_id)
        .join(Call, Call.id == Application.call_id)
        .outerjoin(reversed_entry, reversed_entry.id == LedgerEntry.reverses_id)
        .where(or_(LedgerEntry.operation.in_(base),
                   and_(LedgerEntry.operation == "reversal", reversed_entry.operation.in_(base))))
    )
    if filters.year is not None:
        stmt = stmt.where(LedgerEntry.year == filters.year)
    if filters.call_id is not None:
        stmt = stmt.where(Application.call_id == filters.call_id)
    if filters.call_ids is not None:
        stmt = stmt.where(Application.call_id.in_(filters.call_ids))
    return stmt.order_by(LedgerEntry.effective_on.desc(), LedgerEntry.id.desc())


def stream(session: Session, stmt: Select[Any], batch: int = BATCH) -> Iterator[Any]:
    """The statement's rows, fetched ``batch`` at a time (never all at once)."""
    result = session.execute(stmt.execution_options(yield_per=batch))
    try:
        yield from result
    finally:
        result.close()


def euros(cents: int) -> Decimal:
    return (Decimal(cents) / 100).quantize(Decimal("0.01"))


def operation_label(row: Any) -> str:
    if row.operation == "reversal":
        return f"{OPERATION_LABELS['reversal']} ({OPERATION_LABELS[row.reversed_operation].lower()})"
    return OPERATION_LABELS[row.operation]


def row_values(row: Any) -> list[Any]:
    """One movement as export cells (dates as ``date``, amounts as ``Decimal``)."""
    return [row.id, row.effective_on, row.year, operation_label(row), PAYMENT_LABELS.get(row.payment_kind or "", ""),
            row.reference, row.title, row.organisation, row.siret, row.call, row.regime, euros(row.signed_cents),
            row.reason or ""]


def rows(session: Session, kind: str, filters: Filters = Filters(), batch: int = BATCH) -> Iterator[list[Any]]:
    for row in stream(session, movements(kind, filters), batch):
        yield row_values(row)


# --- CSV -----------------------------------------------------------------------------

# What a spreadsheet reads as the start of a formula: text typed by an applicant (a title, a name)
# that starts so is written with an apostrophe in a CSV, and as text in an XLSX, never as a formula.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _csv_cell(value: Any) -> str:
    if isinstance(value, Decimal):
        return f"{value:.2f}".replace(".", ",")  # French spreadsheets read a decimal comma
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return "" if value is None else str(value)


def table_csv_chunks(headers: list[str], rows: Iterable[list[Any]]) -> Iterator[str]:
    """A table as CSV (semicolon-separated, as French spreadsheets expect), a few
    hundred lines per chunk: a generator for a streamed response."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow(headers)
    for values in rows:
        writer.writerow([_csv_cell(v) for v in values])
        if buffer.tell() >= CHUNK:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def csv_chunks(session: Session, kind: str, filters: Filters = Filters(), batch: int = BATCH) -> Iterator[str]:
    """The movements of ``kind`` as CSV chunks (``table_csv_chunks``)."""
    return table_csv_chunks(HEADERS, rows(session, kind, filters, batch))


def write_csv(session: Session, fileobj: IO[str], kind: str, filters: Filters = Filters(), batch: int = BATCH) -> None:
    """Write the CSV to a text file object (open it with ``newline=""``)."""
    for chunk in csv_chunks(session, kind, filters, batch):
        fileobj.write(chunk)


# --- XLSX ----------------------------------------------------------------------------

SHEET_TITLES = {"commitments": "Engagements", "payments": "Versements"}
MONEY_FORMAT = '#,##0.00 "€"'
DATE_FORMAT = "dd/mm/yyyy"
DATETIME_FORMAT = "dd/mm/yyyy hh:mm"


def write_table_xlsx(fileobj: IO[bytes], title: str, headers: list[str], rows: Iterable[list[Any]],
                     formats: dict[int, str] | None = None) -> None:
    """Write a one-sheet workbook to a binary file object: the header row frozen, the cells of the
    columns of ``formats`` (index → number format) formatted, text that a spreadsheet would take for a
    formula kept as text. openpyxl's write-only mode keeps no row in memory: each goes to a temporary
    file as it is appended."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title)
    sheet.freeze_panes = "A2"
    sheet.append(headers)
    formats = formats or {}
    for values in rows:
        for index, value in enumerate(values):
            number_format = formats.get(index)
            if number_format is not None and value is not None:
                cell = WriteOnlyCell(sheet, value=value)
                cell.number_format = number_format
                values[index] = cell
            elif isinstance(value, str) and value.startswith("="):
                cell = WriteOnlyCell(sheet, value=value)
                cell.data_type = "s"  # openpyxl would store it as a formula
                values[index] = cell
        sheet.append(values)
    workbook.save(fileobj)


def write_xlsx(session: Session, fileobj: IO[bytes], kind: str, filters: Filters = Filters(), batch: int = BATCH) -> None:
    """Write the movements of ``kind`` as a workbook to a binary file object."""
    write_table_xlsx(fileobj, SHEET_TITLES[kind], HEADERS, rows(session, kind, filters, batch),
                     {HEADERS.index("Montant (€)"): MONEY_FORMAT})


def file_chunks(fileobj: IO[bytes], size: int | None = None) -> Iterator[bytes]:
    """Read a file object from its start in chunks, then close it."""
    try:
        fileobj.seek(0)
        while chunk := fileobj.read(size or CHUNK):
            yield chunk
    finally:
        fileobj.close()


def spooled_chunks(write: Callable[[IO[bytes]], None]) -> Iterator[bytes]:
    """What ``write`` writes to a temporary file (spilled to disk past 1 MiB), then sent in chunks:
    a generator for a streamed response."""
    spool = tempfile.SpooledTemporaryFile(max_size=1024 * 1024)
    write(spool)
    yield from file_chunks(spool)


def xlsx_chunks(session: Session, kind: str, filters: Filters = Filters(), batch: int = BATCH) -> Iterator[bytes]:
    """The workbook of the movements of ``kind``, in chunks (``spooled_chunks``)."""
    return spooled_chunks(lambda spool: write_xlsx(session, spool, kind, filters, batch))


def table_chunks(extension: str, title: str, headers: list[str], rows: Iterable[list[Any]],
                 formats: dict[int, str] | None = None) -> Iterator[str] | Iterator[bytes]:
    """A table as CSV chunks or as a workbook's chunks (``formats``: the XLSX number format of a column)."""
    if extension == "csv":
        return table_csv_chunks(headers, rows)
    return spooled_chunks(lambda spool: write_table_xlsx(spool, title, headers, rows, formats))


def download(chunks: Iterator[str] | Iterator[bytes], extension: str, filename: str):
    """A streamed download of CSV chunks (a BOM first: spreadsheets then read the file as UTF-8) or
    XLSX chunks, run in the request's context."""
    from flask import Response, stream_with_context

    if extension == "csv":
        body = stream_with_context(_with_bom(chunks))
        mimetype = "text/csv; charset=utf-8"
    else:
        body = stream_with_context(chunks)
        mimetype = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _with_bom(chunks: Iterator[str]) -> Iterator[str]:
    yield "\ufeff"
    yield from chunks


def export_filename(kind: str, filters: Filters, extension: str, call_reference: str | None = None) -> str:
    parts = ["engagements" if kind == "commitments" else "versements"]
    if filters.year is not None:
        parts.append(str(filters.year))
    if call_reference:
        parts.append(call_reference)
    return "-".join(parts) + f".{extension}"
