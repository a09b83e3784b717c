"""Agreements and payments (« Versements »): the applicant files payment
requests on a signed file; finance records the agreement, validates each
request (« service fait »), pays it, reverses a payment made in error, and
keeps the co-financing and the leverage ratio. Thin views over
``app.operations.payments`` and ``app.operations.cofinancing``."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import joinedload
from sqlalchemy.orm.exc import StaleDataError

from app import uploads
from app.access import can_view_application, role_required, staff_call_ids
from app.db_helpers import commit
from app.errors import UserFacingError
from app.extensions import db
from app.formatting import PARIS
from app.formatting import translate as _
from app.forms.payments import AgreementForm, CoFinancingForm, ConfirmForm, PaymentRequestForm, ReasonForm, ValidateForm
from app.models import FUNDERS, Application, Attachment, PaymentRequest, Plan, utcnow
from app.operations import attachments as attachment_ops
from app.operations import cofinancing, conflicts, payments
from app.operations.transitions import TransitionRefused

bp = Blueprint("payments", __name__, url_prefix="/versements")

KIND_LABELS = {"advance": "Avance", "interim": "Acompte", "balance": "Solde"}
STATUS_LABELS = {"filed": "Déposée", "validated": "Service fait", "paid": "Payée", "rejected": "Rejetée",
                 "reversed": "Contrepassée"}


@bp.app_template_global()
def payment_kind_label(kind: str) -> str:
    return _(KIND_LABELS.get(kind, kind))


@bp.app_template_global()
def payment_status_label(status: str) -> str:
    return _(STATUS_LABELS.get(status, status))


def _today():
    return utcnow().astimezone(PARIS).date()


def _run(action, success: str, target: str):
    """Run one operation and commit; a refusal becomes a message, nothing kept."""
    try:
        action()
        commit()
    except TransitionRefused as exc:
        db.session.rollback()
        for message in exc.messages:
            flash(message, "error")
    except UserFacingError as exc:
        db.session.rollback()
        flash(exc.message, "error")
    except StaleDataError:
        db.session.rollback()
        flash(_("Ce dossier a été modifié par quelqu'un d'autre entre-temps : rechargez la page et recommencez."), "error")
    else:
        flash(success, "success")
    return redirect(target, 303)


def _form_errors(form) -> None:
    for errors in form.errors.values():
        for error in errors:
            flash(str(error), "error")


# --------------------------------------------------------------------------- the applicant


def _member_application(reference: str) -> Application:
    application = db.session.execute(
        select(Application).where(Application.reference == reference)
        .options(joinedload(Application.call), joinedload(Application.organisation))
    ).scalar_one_or_none()
    if application is None or not any(m.organisation_id == application.organisation_id for m in current_user.memberships):
        abort(404)
    return application


@bp.get("/dossiers/<reference>")
@role_required("applicant")
def applicant_file(reference: str):
    application = _member_application(reference)
    return _applicant_page(application, PaymentRequestForm())


def _applicant_page(application: Application, form: PaymentRequestForm, status: int = 200):
    agreement = payments.agreement_of(db.session, application)
    requests = payments.requests_of(db.session, application)
    return render_template(
        "payments/applicant.html", application=application, agreement=agreement, requests=requests, form=form,
        single=payments.single_payment(application.awarded_amount_cents or application.proposed_amount_cents),
        limits=payments.limits(db.session, application, agreement) if agreement else None,
        can_file=application.state == payments.PAYMENT_STATE and agreement is not None
        and not any(r.open for r in requests) and not any(r.kind == "balance" and r.status == "paid" for r in requests),
        proofs={r.id: payments.proofs_of(db.session, r) for r in requests},
    ), status


@bp.post("/dossiers/<reference>/demandes")
@role_required("applicant")
def file_request(reference: str):
    application = _member_application(reference)
    form = PaymentRequestForm()
    if not form.validate_on_submit():
        return _applicant_page(application, form, 422)
    target = url_for("payments.applicant_file", reference=reference)
    return _run(lambda: payments.file_request(
        db.session, application, kind=form.kind.data, user=current_user, expenses=getattr(form, "expense_lines", []),
        requested_cents=form.requested_cents.data, proofs=request.files.getlist(form.proofs.name),
        started_on=form.started_on.data, completed_on=form.completed_on.data,
    ), _("Votre demande de versement est déposée : le service financier va la vérifier."), target)


@bp.get("/dossiers/<reference>/justificatifs/<int:attachment_id>")
@role_required("applicant", "finance")
def download_proof(reference: str, attachment_id: int):
    application = db.session.execute(select(Application).where(Application.reference == reference)).scalar_one_or_none()
    attachment = db.session.get(Attachment, attachment_id)
    if (application is None or attachment is None or attachment.application_id != application.id
            or not (attachment.field_key or "").startswith(payments.PROOF_KEY_PREFIX)
            or not can_view_application(current_user, application)):
        abort(404)
    is_member = any(m.organisation_id == application.organisation_id for m in current_user.memberships)
    if not is_member and not current_user.has_role("finance", application.call_id):
        abort(404)
    blocked = attachment_ops.download_blocked_reason(attachment)
    if blocked:
        raise UserFacingError(blocked, status=423)
    return uploads.send_attachment(attachment)


# --------------------------------------------------------------------------- finance


def _finance_application(reference: str) -> Application:
    application = db.session.execute(
        select(Application).where(Application.reference == reference)
        .options(joinedload(Application.call), joinedload(Application.organisation))
    ).scalar_one_or_none()
    if application is None:
        abort(404)
    if application.state == "draft" or not current_user.has_role("finance", application.call_id):
        abort(403)
    # A finance officer linked to the applicant neither reads nor pays its file.
    conflicts.require_no_conflict(db.session, current_user, application)
    return application


def _finance_request(request_id: int) -> PaymentRequest:
    payment_request = db.session.get(PaymentRequest, request_id)
    if payment_request is None:
        abort(404)
    _finance_application(payment_request.application.reference)
    return payment_request


def _scoped(stmt):
    calls = staff_call_ids(current_user, ("finance",))
    return stmt if calls is None else stmt.where(Application.call_id.in_(calls))


@bp.get("/")
@role_required("finance")
def queue():
    open_requests = db.session.execute(_scoped(
        select(PaymentRequest).join(Application, Application.id == PaymentRequest.application_id)
        .where(PaymentRequest.status.in_(("filed", "validated")))
        .options(joinedload(PaymentRequest.application)).order_by(PaymentRequest.filed_at, PaymentRequest.id)
    )).scalars().all()
    to_sign = db.session.execute(_scoped(
        select(Application).where(Application.state == payments.AGREEMENT_STATE).order_by(Application.reference)
    )).scalars().all()
    in_payment = db.session.execute(_scoped(
        select(Application).where(Application.state == payments.PAYMENT_STATE).order_by(Application.reference)
    )).scalars().all()
    return render_template("payments/queue.html", open_requests=open_requests, to_sign=to_sign, in_payment=in_payment)


@bp.route("/conventions/<reference>", methods=["GET", "POST"])
@role_required("finance")
def agreement(reference: str):
    application = _finance_application(reference)
    form = AgreementForm()
    if request.method == "GET" and form.signed_on.data is None:
        form.signed_on.data = _today()
    single = payments.single_payment(application.awarded_amount_cents or application.proposed_amount_cents)
    if single:  # no convention to sign: the decision letter's notification date, no advance to guarantee
        form.signed_on.label.text = _("Date de notification de la décision")
        form.bank_guarantee.data = False
    if form.validate_on_submit():
        target = url_for("payments.file_detail", reference=reference)
        return _run(lambda: payments.sign_agreement(
            db.session, application, signed_on=form.signed_on.data, aid_rate_bp=int(form.aid_rate.data * 100),
            eligible_costs_cents=form.eligible_costs_cents.data, bank_guarantee=form.bank_guarantee.data,
            actor=current_user,
        ), _("Les modalités de la décision sont enregistrées et l'aide est engagée.") if single
            else _("La convention est enregistrée et l'aide est engagée."), target)
    return render_template("payments/agreement.html", application=application, form=form, single=single,
                           agreement=payments.agreement_of(db.session, application)), 422 if form.errors else 200


@bp.get("/dossiers-finances/<reference>")
@role_required("finance")
def file_detail(reference: str):
    application = _finance_application(reference)
    agreement = payments.agreement_of(db.session, application)
    from app import ledger

    requests = payments.requests_of(db.session, application)
    return render_template(
        "payments/file.html", application=application, agreement=agreement, requests=requests,
        single=payments.single_payment(application.awarded_amount_cents or application.proposed_amount_cents),
        limits=payments.limits(db.session, application, agreement) if agreement else None,
        balance=ledger.file_balance(db.session, application), entries=ledger.entries_of(db.session, application),
        cofinancing=cofinancing.cofinancing_of(db.session, application), funder_labels=cofinancing.FUNDER_LABELS,
        confirm=ConfirmForm(),
    )


@bp.get("/demandes/<int:request_id>")
@role_required("finance")
def request_detail(request_id: int):
    payment_request = _finance_request(request_id)
    application = payment_request.application
    agreement = payments.agreement_of(db.session, application)
    return render_template(
        "payments/request.html", pr=payment_request, application=application, agreement=agreement,
        limits=payments.limits(db.session, application, agreement) if agreement else None,
        proofs=payments.proofs_of(db.session, payment_request), validate_form=ValidateForm(prefix="validate"),
        reject_form=ReasonForm(prefix="reject"), reverse_form=ReasonForm(prefix="reverse"), confirm=ConfirmForm(),
    )


def _request_target(payment_request: PaymentRequest) -> str:
    return url_for("payments.request_detail", request_id=payment_request.id)


@bp.post("/demandes/<int:request_id>/valider")
@role_required("finance")
def validate(request_id: int):
    payment_request = _finance_request(request_id)
    form = ValidateForm(prefix="validate")
    if not form.validate_on_submit():
        _form_errors(form)
        return redirect(_request_target(payment_request), 303)
    return _run(lambda: payments.validate_request(
        db.session, payment_request, actor=current_user, accepted_costs_cents=form.accepted_costs_cents.data,
        accepted_cents=form.accepted_cents.data, reason=form.reason.data,
    ), _("Service fait : la demande est validée."), _request_target(payment_request))


@bp.post("/demandes/<int:request_id>/rejeter")
@role_required("finance")
def reject(request_id: int):
    payment_request = _finance_request(request_id)
    form = ReasonForm(prefix="reject")
    if not form.validate_on_submit():
        _form_errors(form)
        return redirect(_request_target(payment_request), 303)
    return _run(lambda: payments.reject_request(db.session, payment_request, actor=current_user, reason=form.reason.data),
                _("La demande est rejetée."), _request_target(payment_request))


@bp.post("/demandes/<int:request_id>/payer")
@role_required("finance")
def pay(request_id: int):
    payment_request = _finance_request(request_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    return _run(lambda: payments.pay_request(db.session, payment_request, actor=current_user),
                _("Le versement est mis en paiement."), _request_target(payment_request))


@bp.post("/demandes/<int:request_id>/contrepasser")
@role_required("finance")
def reverse(request_id: int):
    payment_request = _finance_request(request_id)
    form = ReasonForm(prefix="reverse")
    if not form.validate_on_submit():
        _form_errors(form)
        return redirect(_request_target(payment_request), 303)
    return _run(lambda: payments.reverse_payment(db.session, payment_request, actor=current_user, reason=form.reason.data),
                _("Le versement est contrepassé."), _request_target(payment_request))


@bp.route("/cofinancement/<reference>", methods=["GET", "POST"])
@role_required("finance")
def cofinancing_form(reference: str):
    application = _finance_application(reference)
    current = cofinancing.cofinancing_of(db.session, application)
    form = CoFinancingForm(data=current if request.method == "GET" else None)
    if request.method == "GET" and "region" not in current:
        form.region.data = application.awarded_amount_cents or application.proposed_amount_cents
    if form.validate_on_submit():
        amounts = {funder: getattr(form, funder).data for funder in FUNDERS}
        return _run(lambda: cofinancing.set_cofinancing(db.session, application, amounts, actor=current_user),
                    _("Le plan de financement est enregistré."), url_for("payments.file_detail", reference=reference))
    return render_template("payments/cofinancing.html", application=application, form=form), 422 if form.errors else 200


@bp.get("/effet-levier")
@role_required("finance")
def leverage():
    plans = db.session.execute(select(Plan).order_by(Plan.id)).scalars().all()
    tables = [(plan, cofinancing.leverage_table(db.session, plan)) for plan in plans]
    return render_template("payments/leverage.html", tables=tables)
