"""Finance: the plan's envelope and what the calls ask for."""

from __future__ import annotations

from flask import Blueprint, render_template
from sqlalchemy import case, func, select

from app.access import role_required
from app.extensions import db
from app.models import Application, Call, Plan

bp = Blueprint("finance", __name__, url_prefix="/finances")


@bp.get("/")
@role_required("finance")
def index():
    plan = db.session.execute(select(Plan).order_by(Plan.id).limit(1)).scalar_one_or_none()
    submitted = case((Application.state != "draft", Application.requested_amount_cents), else_=0)
    rows = db.session.execute(
        select(Call, func.count(Application.id), func.coalesce(func.sum(submitted), 0))
        .outerjoin(Application, Application.call_id == Call.id)
        .group_by(Call.id)
        .order_by(Call.opens_at.desc())
    ).all()
    budget_total = sum(call.budget_cents for call, _, _ in rows)
    from app.ledger import balances

    accounts = balances(db.session, plan) if plan is not None else []
    return render_template("finance/index.html", plan=plan, rows=rows, budget_total=budget_total, accounts=accounts)
