"""Public pages: home with the open calls, a call's page, language choice."""

from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from app.db_helpers import commit
from app.urls import local_path
from app.extensions import db
from app.models import Call, utcnow

bp = Blueprint("public", __name__)

# Order in which a user holding several roles lands on a dashboard.
DASHBOARDS = (
    ("admin", "admin.index"),
    ("instructor", "instruction.index"),
    ("finance", "finance.index"),
    ("committee", "committee.index"),
    ("expert", "experts.index"),
    ("applicant", "applicant.index"),
)


@bp.get("/")
def home():
    now = utcnow()
    calls = db.session.execute(
        select(Call).where(Call.status == "published", Call.opens_at <= now, Call.closes_at > now).order_by(Call.closes_at)
    ).scalars().all()
    upcoming = db.session.execute(
        select(Call).where(Call.status == "published", Call.opens_at > now).order_by(Call.opens_at)
    ).scalars().all()
    return render_template("public/home.html", calls=calls, upcoming=upcoming)


@bp.get("/appels/<reference>")
def call_detail(reference: str):
    call = db.session.execute(select(Call).where(Call.reference == reference)).scalar_one_or_none()
    if call is None or call.status == "draft":
        abort(404)
    return render_template("public/call.html", call=call, is_open=call.is_open(utcnow()))


@bp.post("/langue")
def set_language():
    lang = request.form.get("lang", "fr")
    if lang not in ("fr", "en"):
        abort(400)
    session["lang"] = lang
    if current_user.is_authenticated:
        current_user.locale = lang
        commit()
    return redirect(local_path(request.form.get("next")) or url_for("public.home"))


@bp.get("/tableau-de-bord")
@login_required
def dashboard():
    for role, endpoint in DASHBOARDS:
        if current_user.has_role(role):
            return redirect(url_for(endpoint))
    abort(403)


@bp.get("/deliberations")
def decisions():
    """The decisions of the committee sessions whose minutes are approved."""
    from app.operations.committee import published_decisions

    return render_template("public/decisions.html", rows=published_decisions(db.session))
