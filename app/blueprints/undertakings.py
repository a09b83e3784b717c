"""Linked companies, for the Region's staff: the single undertaking of a SIREN
for de minimis (every company connected to it by declared links), what the
Region granted it over the rolling window, and each declared link with who
declared it — and the removal of a link declared in error, with its reason,
in one transaction with its audit row (``app.ledger.undertakings.remove_link``).

Applicants declare links on their organisation's page and cannot remove them:
a link only ever tightens the ceiling. Finance officers and administrators in
charge of every call only, as for the envelopes: a link binds every call.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select
from stdnum.fr import siren as siren_number

from app.access import require_whole_plan, role_required
from app.db_helpers import commit
from app.extensions import db
from app.forms.envelopes import RemoveLinkForm
from app.formatting import translate as _
from app.models import Organisation, UndertakingLink

bp = Blueprint("undertakings", __name__, url_prefix="/finances/entreprises-liees")

ROLES = ("finance", "admin")


def _page(siren: str, form: RemoveLinkForm | None = None, failed_link: int | None = None, status: int = 200):
    from app.ledger import de_minimis_counted
    from app.ledger.undertakings import group_of, links_of

    error = None
    group: list[str] = []
    links: list[UndertakingLink] = []
    names: dict[str, list[str]] = {}
    counted = 0
    if siren and not siren_number.is_valid(siren):
        error = _("« %(value)s » n'est pas un numéro SIREN valide (9 chiffres).", value=siren)
    elif siren:
        group = group_of(db.session, siren)
        links = links_of(db.session, siren)
        counted = de_minimis_counted(db.session, siren)
        for org_siren, name in db.session.execute(
                select(Organisation.siren, Organisation.name).where(Organisation.siren.in_(group))
                .order_by(Organisation.name)):
            names.setdefault(org_siren, []).append(name)
    return render_template("finance/undertakings.html", siren=siren, error=error, group=group, links=links,
                           names=names, counted=counted, form=form or RemoveLinkForm(formdata=None),
                           failed_link=failed_link), 422 if error or failed_link else status


@bp.get("/")
@role_required(*ROLES)
def index():
    require_whole_plan(ROLES)
    return _page(siren_number.compact(request.args.get("siren", "")[:40]))


@bp.post("/<int:link_id>/suppression")
@role_required(*ROLES)
def remove(link_id: int):
    from app.ledger.undertakings import LinkRefused, remove_link

    require_whole_plan(ROLES)
    link = db.session.get(UndertakingLink, link_id)
    if link is None:
        abort(404)
    searched = siren_number.compact(request.form.get("siren", "")[:40])
    siren = searched if siren_number.is_valid(searched) else link.siren  # back to the group as it was looked up
    form = RemoveLinkForm()
    if not form.validate_on_submit():
        return _page(siren, form, link.id)
    pair = f"{link.siren} — {link.linked_siren}"
    role = "finance" if current_user.has_role("finance") else "admin"
    try:
        remove_link(db.session, link, actor=current_user, reason=form.reason.data, role=role)
    except LinkRefused as exc:
        db.session.rollback()
        form.reason.errors = [*form.reason.errors, str(exc)]
        return _page(siren, form, link_id)
    commit()
    flash(_("Le lien %(pair)s est supprimé ; la suppression et son motif sont au journal d'audit.", pair=pair),
          "success")
    return redirect(url_for("undertakings.index", siren=siren), 303)
