"""Instruction: the instructors' dashboard and the experts' home."""

from __future__ import annotations

from flask import Blueprint, abort, render_template, request
from flask_login import current_user
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload

from app.access import can_view_application, role_required, staff_call_ids
from app.extensions import db
from app.models import Application, Call

bp = Blueprint("instruction", __name__, url_prefix="/instruction")


def _calls_for(user) -> list[Call]:
    ids = staff_call_ids(user, ("instructor",))
    stmt = select(Call).where(Call.status != "draft").order_by(Call.closes_at.desc())
    if ids is not None:
        stmt = stmt.where(Call.id.in_(ids))
    return list(db.session.execute(stmt).scalars())


@bp.get("/")
@role_required("instructor")
def index():
    calls = _calls_for(current_user)
    call_ids = [c.id for c in calls]
    counts: dict[int, dict[str, int]] = {}
    for call_id, state, n in db.session.execute(
        select(Application.call_id, Application.state, func.count())
        .where(Application.call_id.in_(call_ids), Application.state != "draft")
        .group_by(Application.call_id, Application.state)
    ):
        counts.setdefault(call_id, {})[state] = n
    page_size = 25
    page = max(request.args.get("page", 1, type=int), 1)
    recent = db.session.execute(
        select(Application)
        .where(Application.call_id.in_(call_ids), Application.state != "draft")
        .options(joinedload(Application.call), joinedload(Application.organisation))
        .order_by(Application.submitted_at.desc(), Application.id.desc())
        .limit(page_size)
        .offset((page - 1) * page_size)
    ).scalars().all()
    return render_template("instruction/index.html", calls=calls, counts=counts, recent=recent, page=page, page_size=page_size)


@bp.get("/dossiers/<reference>")
@role_required("instructor")
def application_detail(reference: str):
    application = db.session.execute(select(Application).where(Application.reference == reference)).scalar_one_or_none()
    if application is None:
        abort(404)
    if application.state == "draft" or not can_view_application(current_user, application):
        abort(403)
    return render_template("instruction/application.html", application=application)


@bp.get("/expertise")
@role_required("expert")
def expert_home():
    return render_template("instruction/expert_home.html")
