"""The applicant's space: their organisations and their files.

The dashboard is here; each other module of this package registers its own
routes on ``bp`` (every module is imported below)."""

from __future__ import annotations

import importlib
import pkgutil

from flask import Blueprint, render_template
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from app.access import role_required
from app.extensions import db
from app.models import Application, Membership

bp = Blueprint("applicant", __name__, url_prefix="/espace")


@bp.get("/")
@role_required("applicant")
def index():
    memberships = db.session.execute(
        select(Membership).where(Membership.user_id == current_user.id).options(joinedload(Membership.organisation))
    ).scalars().all()
    org_ids = [m.organisation_id for m in memberships]
    files = db.session.execute(
        select(Application)
        .where(Application.organisation_id.in_(org_ids))
        .options(joinedload(Application.call), joinedload(Application.organisation))
        .order_by(Application.updated_at.desc())
    ).scalars().all()
    return render_template("applicant/index.html", memberships=memberships, files=files)


for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")
