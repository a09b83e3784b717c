"""Open data on the public site: the awarded grants above 23,000 € (SCDL
« subventions » 2.1.1), listed and downloadable as CSV, all years or one."""

from __future__ import annotations

from flask import Blueprint, Response, abort, current_app, render_template, request, stream_with_context
from sqlalchemy import func, select

from app import opendata
from app.extensions import db

bp = Blueprint("opendata", __name__, url_prefix="/donnees-ouvertes")

PAGE_SIZE = 50


def _year() -> int | None:
    raw = request.args.get("annee", "").strip()
    if not raw:
        return None
    if not (raw.isdigit() and 2000 <= int(raw) <= 2100):
        abort(404)
    return int(raw)


@bp.get("/")
def index():
    year = _year()
    threshold = current_app.config["SCDL_THRESHOLD_CENTS"]
    stmt = opendata.grants(year, threshold)
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    rows = db.session.execute(stmt.limit(PAGE_SIZE + 1).offset((page - 1) * PAGE_SIZE)).all()
    every = opendata.grants(None, threshold).subquery()
    years = db.session.execute(
        select(func.count(), every.c.decided).group_by(every.c.decided)
    ).all()
    per_year: dict[int, int] = {}
    for n, decided in years:
        decided = opendata.as_date(decided)
        per_year[decided.year] = per_year.get(decided.year, 0) + n
    return render_template("opendata/index.html", rows=rows[:PAGE_SIZE], has_next=len(rows) > PAGE_SIZE, page=page,
                           year=year, per_year=sorted(per_year.items()), threshold=threshold,
                           attributing=current_app.config["SCDL_ATTRIBUTING_NAME"])


@bp.get("/subventions.csv")
def download():
    year = _year()
    name = f"subventions-{year}.csv" if year else "subventions.csv"
    response = Response(stream_with_context(opendata.scdl_chunks(db.session, year)), mimetype="text/csv; charset=utf-8")
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
