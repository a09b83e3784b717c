"""The experts' pages: their invitations, the conflict declaration, and a
read-only view of an invited file limited to what the call shares with experts."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from app.access import role_required
from app.db_helpers import commit
from app.errors import UserFacingError
from app.extensions import db
from app.formatting import translate as _
from app.models import Application, ExpertInvitation
from app.operations import conflicts, experts

bp = Blueprint("experts", __name__, url_prefix="/instruction/expertise")


@bp.errorhandler(conflicts.DeclarationRequired)
def _declare_first(exc: conflicts.DeclarationRequired):
    if request.method == "GET":
        flash(exc.message, "info")
        return redirect(url_for("experts.declare", reference=exc.reference))
    return render_template("error.html", code=exc.status, message=exc.message), exc.status


def invited_application(reference: str) -> tuple[Application, ExpertInvitation]:
    """A file the current expert has an active invitation on (404 otherwise: the others are not theirs to know)."""
    application = db.session.execute(
        select(Application).where(Application.reference == reference)
        .options(joinedload(Application.call), joinedload(Application.organisation))
    ).scalar_one_or_none()
    if application is None:
        abort(404)
    invitation = experts.active_invitation(db.session, current_user, application)
    if invitation is None:
        abort(404)
    return application, invitation


@bp.get("")
@role_required("expert")
def index():
    invitations = db.session.execute(
        select(ExpertInvitation).where(ExpertInvitation.expert_id == current_user.id, ExpertInvitation.revoked_at.is_(None))
        .options(joinedload(ExpertInvitation.application).joinedload(Application.call))
        .order_by(ExpertInvitation.due_on, ExpertInvitation.id)
    ).scalars().all()
    return render_template("experts/index.html", invitations=invitations)


@bp.route("/<reference>/declaration", methods=["GET", "POST"])
@role_required("expert")
def declare(reference: str):
    application, invitation = invited_application(reference)
    status = conflicts.conflict_status(db.session, current_user, application)
    if request.method == "POST" and not status.conflicted:
        choice = request.form.get("conflict")
        if choice not in ("yes", "no"):
            flash(_("Indiquez si vous avez un conflit d'intérêts."), "error")
        else:
            try:
                conflicts.declare(db.session, current_user, application, role="expert", has_conflict=choice == "yes",
                                  link=request.form.get("link"))
                commit()
            except UserFacingError as exc:
                db.session.rollback()
                flash(exc.message, "error")
            else:
                if choice == "yes":
                    flash(_("Conflit d'intérêts enregistré : vous n'expertiserez pas ce dossier."), "success")
                    return redirect(url_for("experts.index"))
                flash(_("Déclaration enregistrée."), "success")
                return redirect(url_for("experts.file", reference=reference))
        status = conflicts.conflict_status(db.session, current_user, application)
    return render_template("experts/declare.html", application=application, invitation=invitation, status=status)


@bp.get("/<reference>")
@role_required("expert")
def file(reference: str):
    application, invitation = invited_application(reference)
    conflicts.require_no_conflict(db.session, current_user, application, role="expert")
    return render_template("experts/file.html", application=application, invitation=invitation,
                           summary=experts.shared_answers(application, current_user.locale))
