"""Reviews, ranking and the instruction report: the pages of experts and instructors.

Every page that opens a file goes through ``_open_file``: the one place where
access to a file for scoring or instructing is decided."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import joinedload
from sqlalchemy.orm.exc import StaleDataError

import scoring
from app.access import role_required
from app.blueprints.applicant.organisations import SIZE_LABELS
from app.db_helpers import commit
from app.documents import latest_document, send_document
from app.errors import UserFacingError
from app.extensions import db
from app.formatting import translate as _
from app.models import FILE_READING_ROLES, Application, Call, Review
from app.operations import conflicts
from app.operations import eligibility as eligibility_ops
from app.operations import reviews as ops

bp = Blueprint("reviews", __name__, url_prefix="/instruction")


@bp.errorhandler(conflicts.DeclarationRequired)
def _declare_first(exc: conflicts.DeclarationRequired):
    """A reviewer opening a file without a declaration is sent to declare first."""
    if request.method == "GET":
        flash(exc.message, "info")
        endpoint = "instruction.declare_conflict" if current_user.has_role("instructor") else "experts.declare"
        return redirect(url_for(endpoint, reference=exc.reference))
    return render_template("error.html", code=exc.status, message=exc.message), exc.status


def _load(reference: str) -> Application:
    application = db.session.execute(
        select(Application).where(Application.reference == reference)
        .options(joinedload(Application.call), joinedload(Application.organisation))
    ).scalar_one_or_none()
    if application is None:
        abort(404)
    return application


def _open_file(reference: str, *, lead: bool) -> tuple[Application, str | None]:
    """The one access check of every page of this module that opens a file.

    A submitted file; with ``lead``, the current user must lead it (assigned
    instructor or administrator), else score it (instructor or expert of the
    call). Returns the file and the role the user scores it in (None when they
    do not score it). Further checks on opening a file (conflicts of interest,
    expert invitations) belong here, so they hold for every route below."""
    application = _load(reference)
    role = ops.reviewer_role(current_user, application)
    allowed = ops.is_lead(current_user, application) if lead else role is not None
    if application.state == "draft" or not allowed:
        abort(403)
    # A conflicted person never opens the file; a reviewer declares first.
    conflicts.require_no_conflict(db.session, current_user, application, role=role)
    return application, role


def _reviewable(reference: str) -> tuple[Application, str]:
    """A submitted file the current user may score, and the role they score it in (403 otherwise)."""
    application, role = _open_file(reference, lead=False)
    assert role is not None
    return application, role


def _led(reference: str) -> Application:
    """A submitted file the current user leads (assigned instructor or administrator)."""
    return _open_file(reference, lead=True)[0]


def _run(action, success: str, target: str):
    """Run one operation and commit; a refusal becomes a message, nothing is kept."""
    try:
        action()
        commit()
    except UserFacingError as exc:
        db.session.rollback()
        flash(exc.message, "error")
    except StaleDataError:
        db.session.rollback()
        flash(_("Ce dossier a été modifié par quelqu'un d'autre entre-temps : rechargez la page et recommencez."), "error")
    else:
        flash(success, "success")
    return redirect(target)


# --- reviews -------------------------------------------------------------------------------------


@bp.get("/avis")
@role_required("instructor", "expert")
def my_reviews():
    reviews = db.session.execute(
        select(Review).where(Review.reviewer_id == current_user.id)
        .options(joinedload(Review.application)).order_by(Review.updated_at.desc())
    ).scalars().all()
    return render_template("reviews/mine.html", reviews=reviews)


@bp.route("/dossiers/<reference>/avis", methods=["GET", "POST"])
@role_required("instructor", "expert")
def review_form(reference: str):
    application, role = _reviewable(reference)
    grid = ops.grid_for(application.call)
    own = ops.review_of(db.session, application, current_user)
    errors: dict[str, list[str]] = {}
    values = dict(own.scores) if own else {}
    comments = dict(own.comments) if own else {}
    opinion = own.opinion if own else ""
    if request.method == "POST":
        values = {c.code: request.form.get(f"score-{c.code}", "") for c in grid.criteria}
        comments = {c.code: request.form.get(f"comment-{c.code}", "") for c in grid.criteria}
        opinion = request.form.get("opinion", "")
        submit = request.form.get("action") == "submit"
        try:
            ops.save_review(db.session, application, current_user, scores=values, comments=comments,
                            opinion=opinion, submit=submit)
            commit()
        except ops.ReviewInvalid as exc:
            db.session.rollback()
            errors = exc.errors
            flash(_("L'avis n'est pas enregistré : corrigez les erreurs signalées."), "error")
        except UserFacingError as exc:
            db.session.rollback()
            flash(exc.message, "error")
        else:
            flash(_("Votre avis est transmis.") if submit else _("Brouillon enregistré."), "success")
            return redirect(url_for("reviews.review_form", reference=reference))
        own = ops.review_of(db.session, application, current_user)
    others = [r for r in ops.visible_reviews(db.session, application, current_user) if r.reviewer_id != current_user.id]
    totals = {r.id: scoring.review_total(grid, r.scores) for r in others if r.grid_name == grid.name}
    return render_template(
        "reviews/form.html", application=application, grid=grid, review=own, role=role, values=values,
        comments=comments, opinion=opinion, errors=errors, others=others, totals=totals,
        is_lead=ops.is_lead(current_user, application), editable=application.state in ops.REVIEW_STATES,
    ), 422 if errors else 200


@bp.post("/dossiers/<reference>/avis/<int:review_id>/rouvrir")
@role_required("instructor", "admin")
def reopen(reference: str, review_id: int):
    application = _led(reference)
    review = db.session.get(Review, review_id)
    if review is None or review.application_id != application.id:
        abort(404)
    return _run(lambda: ops.reopen_review(db.session, review, current_user, request.form.get("reason", "")),
                _("L'avis est rouvert : son auteur peut le modifier et le transmettre à nouveau."),
                url_for("reviews.report", reference=reference) + "#avis")


# --- ranking -------------------------------------------------------------------------------------


def _ranked_call(reference: str) -> Call:
    call = db.session.execute(select(Call).where(Call.reference == reference)).scalar_one_or_none()
    if call is None:
        abort(404)
    if not any(current_user.has_role(r, call.id) for r in FILE_READING_ROLES):
        abort(403)
    return call


@bp.get("/appels/<reference>/classement")
@role_required(*FILE_READING_ROLES)
def ranking(reference: str):
    call = _ranked_call(reference)
    return render_template("reviews/ranking.html", call=call,
                           ranking=ops.call_ranking(db.session, call, viewer=current_user),
                           MASK_CONFLICT=ops.MASK_CONFLICT)


# --- instruction report --------------------------------------------------------------------------


@bp.get("/dossiers/<reference>/rapport")
@role_required("instructor", "admin")
def report(reference: str):
    application = _led(reference)
    report = ops.report_of(db.session, application)
    grid = ops.grid_for(application.call)
    reviews = [r for r in ops.visible_reviews(db.session, application, current_user)]
    return render_template(
        "reviews/report.html", application=application, grid=grid, report=report,
        lines=ops.expense_lines(application, report), aid=ops.compute_aid(application, report),
        score=ops.file_score(db.session, application), reviews=reviews,
        totals={r.id: scoring.review_total(grid, r.scores) for r in reviews
                if r.status == "submitted" and r.grid_name == grid.name},
        eligibility_results=eligibility_ops.results_of(db.session, application),
        eligibility_decision=eligibility_ops.latest_decision(db.session, application),
        editable=application.state in ops.REPORT_STATES,
        can_review=ops.reviewer_role(current_user, application) is not None,
        size_labels=SIZE_LABELS,
        pdf=latest_document(db.session, application, ops.REPORT_KIND),
    )


def _cents(text: str | None) -> int | None:
    from app.forms.organisations import parse_money

    if not (text or "").strip():
        return None
    try:
        return parse_money(text or "")
    except ValueError as exc:
        raise UserFacingError(str(exc), status=422) from None


@bp.post("/dossiers/<reference>/rapport")
@role_required("instructor", "admin")
def save_report(reference: str):
    application = _led(reference)
    target = url_for("reviews.report", reference=reference)

    def action() -> None:
        decisions = {}
        for line in ops.expense_lines(application, None):
            i = line.index
            decisions[i] = (request.form.get(f"decision-{i}", "accepted"), _cents(request.form.get(f"eligible-{i}")),
                            request.form.get(f"reason-{i}", ""))
        ops.save_report(db.session, application, current_user, decisions=decisions,
                        collaboration=request.form.get("collaboration") == "yes", opinion=request.form.get("opinion", ""))

    return _run(action, _("Rapport enregistré."), target)


@bp.post("/dossiers/<reference>/rapport/proposition")
@role_required("instructor", "admin")
def propose(reference: str):
    application = _led(reference)

    def action() -> None:
        amount = _cents(request.form.get("amount"))
        if amount is None:
            raise UserFacingError(_("Indiquez le montant proposé."), status=422)
        ops.propose_amount(db.session, application, current_user, amount, request.form.get("reason"))

    return _run(action, _("Montant proposé enregistré."), url_for("reviews.report", reference=reference) + "#proposition")


@bp.post("/dossiers/<reference>/rapport.pdf")
@role_required("instructor", "admin")
def generate_pdf(reference: str):
    application = _led(reference)
    return _run(lambda: ops.generate_report_pdf(db.session, application, current_user),
                _("Le rapport PDF est édité."), url_for("reviews.report", reference=reference) + "#pdf")


@bp.get("/dossiers/<reference>/rapport.pdf")
@role_required("instructor", "admin")
def download_pdf(reference: str):
    application = _led(reference)
    document = latest_document(db.session, application, ops.REPORT_KIND)
    if document is None:
        abort(404)
    return send_document(document, f"rapport-instruction-{application.reference}-v{document.version}.pdf")
