"""Finance: the envelope's consumption by year, axis and call, the lists of
commitments and payments with their CSV and XLSX exports (streamed), and each
file's ledger. Finance officers and administrators; one scoped to some calls
sees only those calls."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, Response, abort, render_template, request
from flask_login import current_user
from sqlalchemy import case, func, select
from sqlalchemy.orm import joinedload, selectinload

from app import exports
from app.access import role_required, staff_call_ids
from app.extensions import db
from app.formatting import translate as _
from app.ledger import Balance, balances, file_balance
from app.models import Application, Call, LedgerAccount, LedgerEntry, LedgerLeg, Plan
from app.operations import conflicts

bp = Blueprint("finance", __name__, url_prefix="/finances")

ROLES = ("finance", "admin")
PAGE_SIZE = 50
BAR_WIDTH = 1000  # the charts' SVG user units


@dataclass(frozen=True)
class Bar:
    """One bar of a consumption chart: widths in SVG units, the share consumed."""

    balance: Balance
    paid: int
    committed: int
    reserved: int
    share: int | None  # percent of the limit reserved or committed (None: uncapped)


def chart(rows: list[Balance]) -> list[Bar]:
    """Bars on one scale: each capped account against its own limit, the
    uncapped ones against the largest amount held among them."""
    uncapped_scale = max([b.reserved_cents + b.committed_cents for b in rows if b.limit_cents is None] + [1])
    bars = []
    for b in rows:
        scale = b.limit_cents or uncapped_scale
        used = b.reserved_cents + b.committed_cents

        def width(cents: int) -> int:
            return min(BAR_WIDTH, round(BAR_WIDTH * cents / scale)) if scale else 0

        committed = width(b.committed_cents)
        bars.append(Bar(b, paid=min(width(b.paid_cents), committed), committed=committed,
                        reserved=min(width(used), BAR_WIDTH) - committed,
                        share=round(100 * used / b.limit_cents) if b.limit_cents else None))
    return bars


def visible_call_ids() -> set[int] | None:
    return staff_call_ids(current_user, ROLES)


@bp.get("/")
@role_required(*ROLES)
def index():
    plans = db.session.execute(select(Plan).order_by(Plan.start_year, Plan.id)).scalars().all()
    call_ids = visible_call_ids()
    submitted = case((Application.state != "draft", Application.requested_amount_cents), else_=0)
    stmt = (select(Call, func.count(Application.id), func.coalesce(func.sum(submitted), 0))
            .outerjoin(Application, Application.call_id == Call.id).group_by(Call.id).order_by(Call.opens_at.desc()))
    if call_ids is not None:
        stmt = stmt.where(Call.id.in_(call_ids))
    rows = db.session.execute(stmt).all()
    budget_total = sum(call.budget_cents for call, _n, _r in rows)
    year_credits = dict(db.session.execute(
        select(LedgerAccount.key, LedgerAccount.credit_cents).where(LedgerAccount.kind == "year")).all())
    sections = []
    for plan in plans:
        accounts = balances(db.session, plan)
        if call_ids is not None:  # a scoped officer sees the calls in their charge, not the plan's totals
            accounts = [b for b in accounts if b.kind == "call" and b.key in {f"call:{i}" for i in call_ids}]
        by_kind = {kind: [b for b in accounts if b.kind == kind] for kind in ("plan", "year", "axis", "call")}
        plan_calls = [(call, n, r) for call, n, r in rows if call.axis.plan_id == plan.id]
        credits = [(b, credit) for b in by_kind["year"] for credit in [year_credits.get(b.key)]]
        sections.append((plan, accounts, {kind: chart(rows_) for kind, rows_ in by_kind.items() if rows_},
                         sum(call.budget_cents for call, _n, _r in plan_calls), credits))
    return render_template("finance/index.html", sections=sections, rows=rows, budget_total=budget_total,
                           years=_years(), whole_plan=call_ids is None)


def _years() -> list[int]:
    return list(db.session.execute(select(LedgerEntry.year).distinct().order_by(LedgerEntry.year)).scalars())


def _calls() -> list[Call]:
    stmt = select(Call).order_by(Call.reference)
    call_ids = visible_call_ids()
    if call_ids is not None:
        stmt = stmt.where(Call.id.in_(call_ids))
    return list(db.session.execute(stmt).scalars())


def _filters() -> tuple[exports.Filters, Call | None, list[str]]:
    """The list's filters from the query string (``annee``, ``appel``), each
    bad value named in a message and ignored."""
    errors = []
    year = None
    raw_year = request.args.get("annee", "").strip()
    if raw_year:
        if raw_year.isdigit() and 2000 <= int(raw_year) <= 2100:
            year = int(raw_year)
        else:
            errors.append(_("L'année « %(value)s » n'est pas valide : indiquez une année sur quatre chiffres.",
                            value=raw_year))
    call = None
    call_ids = visible_call_ids()
    raw_call = request.args.get("appel", "").strip()
    if raw_call:
        call = db.session.execute(select(Call).where(Call.reference == raw_call)).scalar_one_or_none()
        if call is None or (call_ids is not None and call.id not in call_ids):
            errors.append(_("L'appel « %(value)s » est inconnu.", value=raw_call))
            call = None
    filters = exports.Filters(year=year, call_id=call.id if call else None,
                              call_ids=frozenset(call_ids) if call_ids is not None else None)
    return filters, call, errors


LIST_TITLES = {"commitments": "Engagements", "payments": "Versements"}
LIST_ENDPOINTS = {"commitments": "finance.commitments", "payments": "finance.payments"}


def _list(kind: str):
    filters, call, errors = _filters()
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    stmt = exports.movements(kind, filters)
    rows = db.session.execute(stmt.limit(PAGE_SIZE + 1).offset((page - 1) * PAGE_SIZE)).all()
    total = db.session.execute(
        select(func.count(), func.coalesce(func.sum(stmt.subquery().c.signed_cents), 0))
    ).one()
    args = {k: v for k, v in (("annee", filters.year), ("appel", call.reference if call else None)) if v}
    return render_template("finance/movements.html", kind=kind, title=_(LIST_TITLES[kind]), rows=rows[:PAGE_SIZE],
                           has_next=len(rows) > PAGE_SIZE, page=page, args=args, errors=errors, total=total,
                           years=_years(), calls=_calls(), year=filters.year, call=call,
                           endpoint=LIST_ENDPOINTS[kind], operation_label=exports.operation_label,
                           payment_labels=exports.PAYMENT_LABELS)


@bp.get("/engagements")
@role_required(*ROLES)
def commitments():
    return _list("commitments")


@bp.get("/versements")
@role_required(*ROLES)
def payments():
    return _list("payments")


def _download(kind: str, extension: str) -> Response:
    filters, call, errors = _filters()
    if errors:
        abort(400)
    name = exports.export_filename(kind, filters, extension, call.reference if call else None)
    chunks = (exports.csv_chunks if extension == "csv" else exports.xlsx_chunks)(db.session, kind, filters)
    return exports.download(chunks, extension, name)


@bp.get("/engagements.<any(csv, xlsx):extension>")
@role_required(*ROLES)
def commitments_export(extension: str):
    return _download("commitments", extension)


@bp.get("/versements.<any(csv, xlsx):extension>")
@role_required(*ROLES)
def payments_export(extension: str):
    return _download("payments", extension)


@dataclass(frozen=True)
class Line:
    """One entry of a file's ledger, with the file's totals after it."""

    entry: LedgerEntry
    legs: list[LedgerLeg]
    reserved_cents: int
    committed_cents: int
    paid_cents: int


@bp.get("/dossiers/<reference>")
@role_required(*ROLES)
def file_ledger(reference: str):
    application = db.session.execute(
        select(Application).where(Application.reference == reference)
        .options(joinedload(Application.call), joinedload(Application.organisation))
    ).scalar_one_or_none()
    if application is None or application.state == "draft":
        abort(404)
    if not any(current_user.has_role(role, application.call_id) for role in ROLES):
        abort(403)
    conflicts.require_no_conflict(db.session, current_user, application)
    entries = db.session.execute(
        select(LedgerEntry).where(LedgerEntry.application_id == application.id)
        .options(selectinload(LedgerEntry.legs).joinedload(LedgerLeg.account), joinedload(LedgerEntry.actor))
        .order_by(LedgerEntry.id)
    ).scalars().all()
    totals = {"reserved": 0, "committed": 0, "paid": 0}
    lines = []
    for entry in entries:
        for leg in entry.legs:
            if leg.account.kind == "file":
                totals[leg.field] += leg.delta_cents
        lines.append(Line(entry, sorted(entry.legs, key=lambda leg: leg.id), totals["reserved"], totals["committed"],
                          totals["paid"]))
    return render_template("finance/file.html", application=application, lines=lines,
                           whole_plan=staff_call_ids(current_user, ROLES) is None,
                           balance=file_balance(db.session, application), operation_labels=exports.OPERATION_LABELS,
                           payment_labels=exports.PAYMENT_LABELS)
