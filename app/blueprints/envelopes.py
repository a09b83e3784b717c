"""Envelopes: the caps of the ledger's accounts, set by finance.

One page lists every plan with its years (yearly ceiling, payment credits and
what the year paid), axes and calls; each line opens a form that changes the
cap through ``app.ledger.set_limit`` (refused below what is already reserved
and committed) and, for a year, the payment credits through
``set_credits`` (refused below what the year paid). The plan's envelope and a
call's budget are also kept on the plan and the call, in the same transaction
as the ledger's change and its audit row. Finance officers and administrators
in charge of every call only: a cap binds every call below it.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_login import current_user
from sqlalchemy import select

from app.access import require_whole_plan, role_required
from app.db_helpers import commit
from app.errors import UserFacingError
from app.extensions import db
from app.forms.envelopes import EnvelopeForm
from app.formatting import translate as _
from app.ledger import Balance, set_credits, set_limit
from app.ledger.operations import axis_account, call_account, plan_account, year_account
from app.models import Axis, Call, LedgerAccount, Plan

bp = Blueprint("envelopes", __name__, url_prefix="/finances/enveloppes")

ROLES = ("finance", "admin")
EDITABLE = ("plan", "year", "axis", "call")


@dataclass
class Envelope:
    """One line of the page: an account of the plan's tree, opened or not yet
    (then its totals are zero and its cap is the one it will open with)."""

    key: str
    kind: str
    label: str
    plan: Plan
    balance: Balance
    credit_cents: int | None = None
    year: int | None = None
    target: Axis | Call | None = None


def _envelopes(plan: Plan) -> list[Envelope]:
    opened = {a.key: a for a in db.session.execute(
        select(LedgerAccount).where(LedgerAccount.plan_id == plan.id, LedgerAccount.kind.in_(EDITABLE))).scalars()}

    def line(key: str, kind: str, label: str, default_limit: int | None, **extra) -> Envelope:
        account = opened.get(key)
        balance = Balance.of(account) if account else Balance(None, key, kind, label, default_limit, 0, 0, 0, extra.get("year"))
        return Envelope(key, kind, label, plan, balance, account.credit_cents if account else None, **extra)

    lines = [line(f"plan:{plan.id}", "plan", plan.name, plan.envelope_cents)]
    lines += [line(f"year:{plan.id}:{y}", "year", _("Année %(year)s", year=y), plan.yearly_ceiling_cents, year=y)
              for y in range(plan.start_year, plan.end_year + 1)]
    for axis in sorted(plan.axes, key=lambda a: a.number):
        lines.append(line(f"axis:{axis.id}", "axis", _("Axe %(n)s — %(title)s", n=axis.number, title=axis.title), None,
                          target=axis))
        lines += [line(f"call:{call.id}", "call", f"{call.reference} — {call.title}", call.budget_cents, target=call)
                  for call in sorted(axis.calls, key=lambda c: c.reference)]
    return lines


@bp.get("/")
@role_required(*ROLES)
def index():
    require_whole_plan(ROLES)
    plans = db.session.execute(select(Plan).order_by(Plan.start_year, Plan.id)).scalars().all()
    return render_template("finance/envelopes.html", sections=[(plan, _envelopes(plan)) for plan in plans])


def _envelope_or_404(key: str) -> Envelope:
    kind, _sep, rest = key.partition(":")
    if kind not in EDITABLE:
        abort(404)
    plan_id = rest.split(":", 1)[0] if kind in ("plan", "year") else None
    if kind in ("axis", "call"):
        target = db.session.get(Axis if kind == "axis" else Call, int(rest)) if rest.isdigit() else None
        plan_id = str(target.plan_id if kind == "axis" else target.axis.plan_id) if target is not None else None
    plan = db.session.get(Plan, int(plan_id)) if plan_id and plan_id.isdigit() else None
    found = next((e for e in _envelopes(plan) if e.key == key), None) if plan is not None else None
    if found is None:
        abort(404)
    return found


def _open(envelope: Envelope) -> LedgerAccount:
    """The envelope's account, opened now when it was not yet."""
    if envelope.kind == "plan":
        return plan_account(db.session, envelope.plan)
    if envelope.kind == "year":
        return year_account(db.session, envelope.plan, envelope.year)
    if envelope.kind == "axis":
        return axis_account(db.session, envelope.target)
    return call_account(db.session, envelope.target)


@bp.route("/<account_key>", methods=["GET", "POST"])
@role_required(*ROLES)
def edit(account_key: str):
    key = account_key
    require_whole_plan(ROLES)
    envelope = _envelope_or_404(key)
    form = EnvelopeForm(data={"limit": envelope.balance.limit_cents, "credits": envelope.credit_cents})
    if form.validate_on_submit():
        limit, credits = form.limit.data, form.credits.data
        if limit is None and envelope.kind != "axis":
            form.limit.errors = [*form.limit.errors, _("Indiquez le plafond : seul un axe peut rester sans plafond.")]
        else:
            try:
                _change(_open(envelope), envelope.plan, limit, credits, form.reason.data.strip())
                commit()
            except UserFacingError as exc:
                db.session.rollback()
                target = form.credits if getattr(exc, "envelope", None) == "credits" else form.limit
                target.errors = [*target.errors, exc.message]
            else:
                flash(_("L'enveloppe « %(label)s » est enregistrée.", label=envelope.label), "success")
                return redirect(url_for("envelopes.index"), 303)
            envelope = _envelope_or_404(key)
    return render_template("finance/envelope_form.html", envelope=envelope, form=form,
                           with_credits=envelope.kind == "year"), 422 if form.errors else 200


def _change(account: LedgerAccount, plan: Plan, limit: int | None, credits: int | None, reason: str) -> None:
    """Every change of one form in the caller's transaction, each audited by the ledger."""
    role = "finance" if current_user.has_role("finance") else "admin"
    if limit != account.limit_cents:
        set_limit(db.session, account, limit, actor=current_user, role=role, reason=reason)  # the plan or call too
    if account.kind == "year" and credits != account.credit_cents:
        set_credits(db.session, plan, account.year, credits, actor=current_user, role=role, reason=reason)
    db.session.flush()


__all__ = ["bp"]
