"""Committee members' space."""

from __future__ import annotations

from flask import Blueprint, render_template

from app.access import role_required

bp = Blueprint("committee", __name__, url_prefix="/commission")


@bp.get("/")
@role_required("committee")
def index():
    return render_template("committee/index.html")
