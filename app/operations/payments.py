"""A grant's execution: its signed agreement, the payment requests the
applicant files, their validation (« service fait ») and payment by finance.

The money moves in the ledger (``app.ledger``): the agreement commits through
the workflow's ``sign_agreement`` transition (effect ``ledger_commit``); a
payment is ``ledger.pay`` keyed by the request, so a retried payment pays
once; the balance decommits what will not be paid. The schedule's caps are
``app.ledger.payment_rules``; they are checked when the request is filed, when
it is validated and again when it is paid, under the file's row lock, and the
ledger's CHECK (payments ≤ commitment) stays the last line of defence.
Every function flushes, never commits, and writes one audit row on the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Iterable

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.datastructures import FileStorage

from app import audit, ledger, uploads
from app.errors import UserFacingError
from app.formatting import PARIS, money
from app.formatting import translate as _
from app.ledger.payment_rules import Schedule
from app.jobs import enqueue_after_commit
from app.models import Agreement, Application, Attachment, LedgerEntry, PaymentRequest, User, utcnow
from app.operations.transitions import transition

PAYMENT_STATE = "payments"
AGREEMENT_STATE = "agreement"
PROOF_TYPES = ["application/pdf", "image/jpeg", "image/png"]
PROOF_MAX_BYTES = 10 * 1024 * 1024
PROOF_KEY_PREFIX = "versement:"
KIND_LABELS = {"advance": "avance", "interim": "acompte", "balance": "solde"}


class PaymentRefused(UserFacingError):
    status = 422


def _today() -> date:
    return utcnow().astimezone(PARIS).date()


def _lock(session: Session, application: Application) -> None:
    """The file's row lock (PostgreSQL; SQLite's writers are already serialised):
    two payment operations on one file run one after the other. Pending
    changes are flushed first (a refresh would drop them)."""
    session.flush()
    # Lock the row alone (a refresh FOR UPDATE would carry the page's eager
    # outer joins, which PostgreSQL refuses to lock), then re-read it.
    session.execute(select(Application.id).where(Application.id == application.id).with_for_update())
    session.refresh(application)


# --------------------------------------------------------------------------- reading


def agreement_of(session: Session, application: Application) -> Agreement | None:
    return session.execute(select(Agreement).where(Agreement.application_id == application.id)).scalar_one_or_none()


def schedule_of(agreement: Agreement) -> Schedule:
    return Schedule(agreement.committed_cents, agreement.aid_rate_bp, agreement.advance_share_bp,
                    agreement.interim_cap_bp, agreement.long_interim_cap_bp, agreement.long_after_months)


def requests_of(session: Session, application: Application) -> list[PaymentRequest]:
    return list(session.execute(
        select(PaymentRequest).where(PaymentRequest.application_id == application.id).order_by(PaymentRequest.id)
    ).scalars())


def balance_paid(session: Session, application: Application) -> bool:
    return session.execute(
        select(func.count(PaymentRequest.id)).where(PaymentRequest.application_id == application.id,
                                                    PaymentRequest.kind == "balance", PaymentRequest.status == "paid")
    ).scalar_one() > 0


def paid_on_file(session: Session, application: Application) -> int:
    return ledger.file_balance(session, application).paid_cents


def proofs_of(session: Session, request: PaymentRequest) -> list[Attachment]:
    return list(session.execute(
        select(Attachment).where(Attachment.application_id == request.application_id,
                                 Attachment.field_key == f"{PROOF_KEY_PREFIX}{request.id}").order_by(Attachment.id)
    ).scalars())


@dataclass(frozen=True)
class Limits:
    """What the file may still receive, for the pages."""

    committed_cents: int
    paid_cents: int
    advance_max_cents: int
    cumulative_cap_cents: int
    cumulative_cap_percent: int


def limits(session: Session, application: Application, agreement: Agreement, on: date | None = None) -> Limits:
    schedule = schedule_of(agreement)
    on = on or _today()
    paid = paid_on_file(session, application)
    cap_bp = schedule.cumulative_cap_bp(application.work_started_on, on)
    return Limits(agreement.committed_cents, paid, schedule.advance_max(paid), schedule.cumulative_cap(application.work_started_on, on),
                  cap_bp // 100)


# --------------------------------------------------------------------------- the agreement


def single_payment(amount_cents: int | None) -> bool:
    """An aid at or below the agreement threshold has no convention: its decision
    letter says it is paid at once, on justification of the expenses."""
    from app.letters import needs_agreement

    return not needs_agreement(amount_cents)


def sign_agreement(session: Session, application: Application, *, signed_on: date, aid_rate_bp: int,
                   eligible_costs_cents: int, bank_guarantee: bool, actor: User,
                   expected_version: int | None = None) -> Agreement:
    """Record the signed agreement and fire ``sign_agreement``, which commits
    the aid in the ledger. The committed amount is the amount voted (else
    proposed); it must not exceed the aid rate × the eligible costs. For an aid
    at or below the agreement threshold there is no convention: this records the
    terms of the decision letter (``signed_on`` is the date of its notification),
    a single payment on justification (no advance, no interim payment)."""
    if application.state != AGREEMENT_STATE:
        raise PaymentRefused(_("La convention ne peut être enregistrée qu'au stade « Convention »."), status=409)
    if agreement_of(session, application) is not None:
        raise PaymentRefused(_("La convention de ce dossier est déjà enregistrée."), status=409)
    committed = application.awarded_amount_cents or application.proposed_amount_cents
    if not committed:
        raise PaymentRefused(_("Aucun montant n'a été voté pour ce dossier."))
    if not 0 < aid_rate_bp <= 10_000:
        raise PaymentRefused(_("Le taux d'aide doit être compris entre 0 et 100 %."))
    if eligible_costs_cents <= 0:
        raise PaymentRefused(_("L'assiette des dépenses éligibles doit être positive."))
    if signed_on > _today():
        raise PaymentRefused(_("La date de signature ne peut pas être dans le futur."))
    if eligible_costs_cents * aid_rate_bp // 10_000 < committed:
        raise PaymentRefused(_("Le montant engagé (%(committed)s) dépasse le taux d'aide appliqué à l'assiette "
                               "éligible (%(max)s).", committed=money(committed),
                               max=money(eligible_costs_cents * aid_rate_bp // 10_000)))
    config = current_app.config
    advance = config["PAYMENT_ADVANCE_GUARANTEED_PERCENT" if bank_guarantee else "PAYMENT_ADVANCE_PERCENT"]
    interim = max(config["PAYMENT_INTERIM_CAP_PERCENT"], advance)
    long_interim = max(config["PAYMENT_INTERIM_CAP_LONG_PERCENT"], interim)
    if single_payment(committed):
        # No convention at or below the threshold: the decision letter's terms apply,
        # one payment on justification of the expenses (the balance), no advance or interim.
        advance = interim = long_interim = 0
        bank_guarantee = False  # nothing to guarantee without an advance
    agreement = Agreement(application_id=application.id, signed_on=signed_on, aid_rate_bp=aid_rate_bp,
                          eligible_costs_cents=eligible_costs_cents, committed_cents=committed,
                          bank_guarantee=bank_guarantee, advance_share_bp=advance * 100, interim_cap_bp=interim * 100,
                          long_interim_cap_bp=long_interim * 100,
                          long_after_months=config["PAYMENT_LONG_PROJECT_MONTHS"], recorded_by_id=actor.id)
    session.add(agreement)
    session.flush()
    audit.record(session, actor=actor, role="finance", object_type="application", object_id=application.reference,
                 action="record_agreement", after=_describe_agreement(agreement))
    transition(session, application, "sign_agreement", actor=actor, role="finance", expected_version=expected_version)
    return agreement


def _describe_agreement(agreement: Agreement) -> dict:
    return {"signed_on": agreement.signed_on.isoformat(), "aid_rate_bp": agreement.aid_rate_bp,
            "eligible_costs_cents": agreement.eligible_costs_cents, "committed_cents": agreement.committed_cents,
            "bank_guarantee": agreement.bank_guarantee, "advance_share_bp": agreement.advance_share_bp,
            "interim_cap_bp": agreement.interim_cap_bp, "long_interim_cap_bp": agreement.long_interim_cap_bp}


# --------------------------------------------------------------------------- the applicant files


def _describe(request: PaymentRequest) -> dict:
    return {"payment_request": request.id, "kind": request.kind, "status": request.status,
            "requested_cents": request.requested_cents, "declared_costs_cents": request.declared_costs_cents,
            "accepted_costs_cents": request.accepted_costs_cents, "accepted_cents": request.accepted_cents,
            "decommit_cents": request.decommit_cents}


def _max_for(session: Session, application: Application, agreement: Agreement, kind: str, costs_cents: int,
             on: date) -> int:
    schedule = schedule_of(agreement)
    paid = paid_on_file(session, application)
    if kind == "advance":
        return schedule.advance_max(paid)
    if kind == "interim":
        return schedule.interim_max(costs_cents, paid, application.work_started_on or on, on)
    return schedule.balance(costs_cents, paid)[0]


def _refuse_over(kind: str, amount: int, most: int, agreement: Agreement, application: Application, on: date) -> None:
    schedule = schedule_of(agreement)
    if kind == "advance":
        raise PaymentRefused(_("L'avance est plafonnée à %(percent)s %% du montant engagé : %(max)s au plus, "
                               "%(amount)s demandés.", percent=agreement.advance_share_bp // 100, max=money(most),
                               amount=money(amount)))
    if kind == "interim":
        cap = schedule.cumulative_cap_bp(application.work_started_on or on, on) // 100
        raise PaymentRefused(_("Les versements cumulés (avance et acomptes) sont plafonnés à %(percent)s %% du montant "
                               "engagé et au taux d'aide appliqué aux dépenses : %(max)s au plus pour cet acompte, "
                               "%(amount)s demandés.", percent=cap, max=money(most), amount=money(amount)))
    raise PaymentRefused(_("Le solde ne peut dépasser %(max)s (taux d'aide × dépenses réelles, dans la limite du "
                           "montant engagé, moins les versements reçus) : %(amount)s demandés.",
                           max=money(most), amount=money(amount)))


def _check_expenses(expenses: Iterable[tuple[str, int]]) -> list[dict]:
    lines = []
    for label, amount in expenses:
        label = (label or "").strip()
        if not label or amount is None or amount < 0:
            raise PaymentRefused(_("Chaque ligne de dépense doit avoir un libellé et un montant positif."))
        lines.append({"label": label[:200], "amount_cents": int(amount)})
    return lines


def file_request(session: Session, application: Application, *, kind: str, user: User,
                 expenses: Iterable[tuple[str, int]] = (), requested_cents: int | None = None,
                 proofs: Iterable[FileStorage] = (), started_on: date | None = None,
                 completed_on: date | None = None) -> PaymentRequest:
    """The applicant files a payment request. The advance comes first and once;
    interim payments and the balance need a statement of expenses (cumulative
    since the start) and at least one proof; the balance is the final report.
    The first request sets the start of the work (``started_on``, else today),
    the balance its completion (``completed_on``, else today)."""
    if kind not in ("advance", "interim", "balance"):
        raise PaymentRefused(_("Type de versement inconnu."))
    lines = _check_expenses(expenses)
    proofs = [p for p in proofs if p is not None and p.filename]
    if kind != "advance" and not lines:
        raise PaymentRefused(_("Indiquez les dépenses réalisées (au moins une ligne)."))
    if kind != "advance" and not proofs:
        raise PaymentRefused(_("Joignez au moins un justificatif des dépenses."))
    today = _today()
    for day in (started_on, completed_on):
        if day is not None and day > today:
            raise PaymentRefused(_("Une date de début ou de fin des travaux ne peut pas être dans le futur."))
    stored = [uploads.check_and_store(p.stream, p.filename, accept=PROOF_TYPES, max_bytes=PROOF_MAX_BYTES) for p in proofs]
    for s in stored:
        uploads.discard_on_rollback(session, s.stored_name)

    _lock(session, application)
    if application.state != PAYMENT_STATE:
        raise PaymentRefused(_("Les demandes de versement s'ouvrent une fois la convention signée."), status=409)
    agreement = agreement_of(session, application)
    if agreement is None:
        raise PaymentRefused(_("La convention de ce dossier n'est pas enregistrée."), status=409)
    if kind != "balance" and agreement.interim_cap_bp == 0:
        raise PaymentRefused(_("Cette aide, sans convention, est versée en une fois sur justificatifs, comme le dit la "
                               "lettre de notification : demandez le solde avec l'état des dépenses."), status=409)
    previous = [r for r in requests_of(session, application) if r.status not in ("rejected", "reversed")]
    if any(r.open for r in previous):
        raise PaymentRefused(_("Une demande de versement est déjà en cours de traitement : attendez son paiement."),
                             status=409)
    if any(r.kind == "balance" for r in previous):
        raise PaymentRefused(_("Le solde a déjà été versé : le dossier n'attend plus de demande."), status=409)
    if kind == "advance" and previous:
        raise PaymentRefused(_("L'avance ne peut être demandée qu'en premier versement."), status=409)
    if started_on is not None and application.work_started_on is None:
        start = started_on
    else:
        start = application.work_started_on or today
    if completed_on is not None and completed_on < start:
        raise PaymentRefused(_("La fin des travaux ne peut précéder leur début."))
    declared = sum(line["amount_cents"] for line in lines)
    if application.work_started_on is None:
        application.work_started_on = start
    most = _max_for(session, application, agreement, kind, declared, today)
    if kind == "balance":
        requested = most
    else:
        requested = most if requested_cents is None else requested_cents
        if requested <= 0:
            raise PaymentRefused(_("Rien ne peut être versé sur cette demande : le plafond est déjà atteint."))
        if requested > most:
            _refuse_over(kind, requested, most, agreement, application, today)
    if kind == "balance":
        application.work_completed_on = completed_on or today
    request = PaymentRequest(application_id=application.id, kind=kind, status="filed", requested_cents=requested,
                             expenses=lines, declared_costs_cents=declared, filed_by_id=user.id)
    session.add(request)
    session.flush()
    from app.scanning import get_scanner, scan_attachment

    scanner = get_scanner()
    for s in stored:
        attachment = Attachment(application_id=application.id, field_key=f"{PROOF_KEY_PREFIX}{request.id}",
                                original_name=s.original_name, stored_name=s.stored_name, content_type=s.content_type,
                                size_bytes=s.size_bytes, sha256=s.sha256,
                                scan_status="pending" if scanner.configured else "not_scanned", uploaded_by_id=user.id)
        session.add(attachment)
        session.flush()
        if scanner.configured:
            enqueue_after_commit(scan_attachment, attachment.id, queue="default")
    audit.record(session, actor=user, role="applicant", object_type="application", object_id=application.reference,
                 action="file_payment_request",
                 after={**_describe(request), "proofs": len(stored), "work_started_on": str(application.work_started_on),
                        "work_completed_on": str(application.work_completed_on) if application.work_completed_on else None})
    return request


# --------------------------------------------------------------------------- finance validates and pays


def validate_request(session: Session, request: PaymentRequest, *, actor: User, accepted_costs_cents: int | None = None,
                     accepted_cents: int | None = None, reason: str | None = None) -> PaymentRequest:
    """« Service fait »: finance accepts the request, possibly reducing the
    accepted costs or the amount (a reason is then required). The balance's
    amount follows from the accepted costs."""
    application = request.application
    _lock(session, application)
    session.refresh(request)
    if request.status != "filed":
        raise PaymentRefused(_("Cette demande n'est plus à valider."), status=409)
    agreement = agreement_of(session, application)
    reason = (reason or "").strip() or None
    costs = request.declared_costs_cents if accepted_costs_cents is None else accepted_costs_cents
    if costs < 0 or costs > request.declared_costs_cents:
        raise PaymentRefused(_("Les dépenses retenues ne peuvent dépasser les dépenses déclarées (%(declared)s).",
                               declared=money(request.declared_costs_cents)))
    today = _today()
    most = _max_for(session, application, agreement, request.kind, costs, today)
    if request.kind == "balance":
        amount = most
    else:
        amount = min(request.requested_cents, most) if accepted_cents is None else accepted_cents
        if amount < 0:
            raise PaymentRefused(_("Le montant retenu ne peut être négatif."))
        if amount > request.requested_cents:
            raise PaymentRefused(_("Le montant retenu ne peut dépasser le montant demandé (%(requested)s).",
                                   requested=money(request.requested_cents)))
        if amount > most:
            _refuse_over(request.kind, amount, most, agreement, application, today)
    if (amount < request.requested_cents or costs < request.declared_costs_cents) and not reason:
        raise PaymentRefused(_("Indiquez le motif de la réduction du montant ou des dépenses retenues."))
    before = _describe(request)
    request.status = "validated"
    request.accepted_costs_cents = costs
    request.accepted_cents = amount
    request.reduction_reason = reason
    request.validated_by_id = actor.id
    request.validated_at = utcnow()
    if request.kind == "balance":
        request.decommit_cents = schedule_of(agreement).balance(costs, paid_on_file(session, application))[1]
    session.flush()
    audit.record(session, actor=actor, role="finance", object_type="application", object_id=application.reference,
                 action="validate_payment_request", before=before, after=_describe(request), reason=reason)
    return request


def reject_request(session: Session, request: PaymentRequest, *, actor: User, reason: str) -> PaymentRequest:
    """Refuse a request filed or validated (not yet paid), with a reason."""
    reason = (reason or "").strip()
    if not reason:
        raise PaymentRefused(_("Indiquez le motif du rejet."))
    _lock(session, request.application)
    session.refresh(request)
    if not request.open:
        raise PaymentRefused(_("Cette demande n'est plus en cours : elle ne peut être rejetée."), status=409)
    before = _describe(request)
    request.status = "rejected"
    request.reduction_reason = reason
    if request.kind == "balance":
        request.application.work_completed_on = None
    session.flush()
    audit.record(session, actor=actor, role="finance", object_type="application", object_id=request.application.reference,
                 action="reject_payment_request", before=before, after=_describe(request), reason=reason)
    return request


def pay_request(session: Session, request: PaymentRequest, *, actor: User, on: date | None = None) -> PaymentRequest:
    """Pay a validated request. Retried, it pays once: a request already paid
    is returned as it is, and the ledger entry is keyed by the request. The
    caps are checked again against what the file has received meanwhile; the
    balance then decommits the rest of the commitment."""
    application = request.application
    _lock(session, application)
    session.refresh(request)
    if request.status == "paid":
        return request
    if request.status != "validated":
        raise PaymentRefused(_("Seule une demande validée (service fait) peut être payée."), status=409)
    agreement = agreement_of(session, application)
    on = on or _today()
    amount = request.accepted_cents or 0
    most = _max_for(session, application, agreement, request.kind, request.accepted_costs_cents or 0, on)
    if amount > most:
        _refuse_over(request.kind, amount, most, agreement, application, on)
    before = _describe(request)
    key = f"payment-request:{request.id}"
    if amount > 0:
        entry = ledger.pay(session, application, amount, kind=request.kind, idempotency_key=f"{key}:pay", actor=actor,
                           role="finance", on=on, reason=_("Demande de versement n° %(id)s", id=request.id))
        request.pay_entry_id = entry.id
    if request.kind == "balance":
        rest = ledger.decommit(session, application, idempotency_key=f"{key}:decommit", actor=actor, role="finance",
                               on=on, reason=_("Solde du dossier : dégagement du reliquat"))
        request.decommit_cents = rest.amount_cents if rest is not None else 0
        request.decommit_entry_id = rest.id if rest is not None else None
    request.status = "paid"
    request.paid_at = utcnow()
    session.flush()
    audit.record(session, actor=actor, role="finance", object_type="application", object_id=application.reference,
                 action="pay_payment_request", before=before, after=_describe(request))
    return request


def reverse_payment(session: Session, request: PaymentRequest, *, actor: User, reason: str) -> PaymentRequest:
    """Correct a payment made in error: reversing entries in the ledger (the
    payment, and for the balance its decommitment); the request is marked
    reversed and the applicant may file again."""
    reason = (reason or "").strip()
    if not reason:
        raise PaymentRefused(_("Indiquez le motif de la contrepassation."))
    application = request.application
    _lock(session, application)
    session.refresh(request)
    if request.status != "paid":
        raise PaymentRefused(_("Seul un versement payé peut être contrepassé."), status=409)
    before = _describe(request)
    key = f"payment-request:{request.id}"
    if request.decommit_entry_id is not None:
        ledger.reverse(session, session.get(LedgerEntry, request.decommit_entry_id),
                       idempotency_key=f"{key}:reverse-decommit", actor=actor, role="finance", reason=reason)
    if request.pay_entry_id is not None:
        ledger.reverse(session, session.get(LedgerEntry, request.pay_entry_id), idempotency_key=f"{key}:reverse-pay", actor=actor,
                       role="finance", reason=reason)
    request.status = "reversed"
    if request.kind == "balance":
        application.work_completed_on = None
    session.flush()
    audit.record(session, actor=actor, role="finance", object_type="application", object_id=application.reference,
                 action="reverse_payment_request", before=before, after=_describe(request), reason=reason)
    return request

