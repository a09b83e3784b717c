"""Every state change of a file goes through ``transition()``.

The workflow engine (``workflows``, pure) decides whether the transition is
allowed for the actor's role and guards, on the definition version the file
runs on. This module applies it in the current transaction: new state, the
in-transaction effects, one hash-chained audit row; and queues the effects that
leave the database (mail, PDF, webhook) for after the commit.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date
from typing import Any, Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

import workflows
from app import audit
from app.errors import Conflict, UserFacingError
from app.formatting import PARIS
from app.formatting import translate as _
from app.jobs import enqueue_after_commit
from app.models import Application, ClockPause, User, utcnow
from app.operations.deadlines import update_due_date
from app.workflow_versions import definition_for


class TransitionRefused(UserFacingError):
    """Guards refused the transition; ``messages`` lists every reason (French)."""

    status = 422

    def __init__(self, messages: list[str]) -> None:
        super().__init__(" ".join(messages))
        self.messages = messages


class AppFileContext:
    """``workflows.FileContext`` over one file, read from the database.

    Facts that later parts of Guichet record (reviews,
    committee decisions, agreements, payments) read as "not yet": the guards
    that need them refuse until those records exist."""

    def __init__(self, session: Session, application: Application, reason: str | None = None) -> None:
        self.session = session
        self.application = application
        self._reason = reason.strip() if reason and reason.strip() else None

    @property
    def reason(self) -> str | None:
        return self._reason

    @property
    def amount_cents(self) -> int | None:
        """The amount at stake: voted by the committee, else proposed by the instructor."""
        if self.application.awarded_amount_cents is not None:
            return self.application.awarded_amount_cents
        return self.application.proposed_amount_cents

    def document_kinds(self) -> set[str]:
        from app.operations.attachments import present_file_keys

        return present_file_keys(self.session, self.application)

    def eligibility_passed(self) -> bool | None:
        from app.operations.eligibility import latest_decision, latest_run

        decision = latest_decision(self.session, self.application)
        if decision is None or decision.run != latest_run(self.session, self.application):
            return None  # not decided since the last checks (e.g. after corrections)
        return decision.eligible

    def submitted_review_count(self) -> int:
        from app.operations.reviews import submitted_count

        return submitted_count(self.session, self.application)

    def committee_decision(self) -> str | None:
        from app.operations.committee import decision_of

        return decision_of(self.session, self.application)

    def call_is_open(self) -> bool:
        return self.application.call.is_open(utcnow())

    def agreement_signed(self) -> bool:
        from app.operations.payments import agreement_of

        return agreement_of(self.session, self.application) is not None

    def balance_paid(self) -> bool:
        from app.operations.payments import balance_paid

        return balance_paid(self.session, self.application)

    def lapse_due(self) -> bool:
        return lapse_due(self.application, utcnow().astimezone(PARIS).date())


def lapse_due(application: Application, today: date) -> bool:
    """DOMAIN.md §4: an aid lapses when the work has not started within
    ``LAPSE_START_MONTHS`` of the decision, or is not completed within
    ``LAPSE_COMPLETION_MONTHS``."""
    from flask import current_app

    if application.decided_on is None:
        return False
    start_limit = add_months(application.decided_on, current_app.config["LAPSE_START_MONTHS"])
    completion_limit = add_months(application.decided_on, current_app.config["LAPSE_COMPLETION_MONTHS"])
    if application.work_started_on is None and today > start_limit:
        return True
    return application.work_completed_on is None and today > completion_limit


def add_months(day: date, months: int) -> date:
    """``day`` plus ``months``; the 29–31st of a shorter month becomes its last day."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


# --- effects run inside the transaction -------------------------------------

def _ledger_args(application: Application, effect: str, actor: User | None, role: str) -> dict[str, Any]:
    # application.version is the version before this transition's UPDATE: the
    # key is unique per transition, and a retried request finds its entry.
    return {"idempotency_key": f"transition:{application.id}:{application.version}:{effect}", "actor": actor,
            "role": role}


def _ledger_amount(application: Application, payload: dict[str, Any]) -> int:
    amount = payload.get("amount_cents") or application.awarded_amount_cents or application.proposed_amount_cents
    if not amount:
        raise UserFacingError(_("Aucun montant n'est fixé pour ce dossier : proposez un montant avant la décision."))
    return int(amount)


def _decision_year() -> int:
    return utcnow().astimezone(PARIS).year


def _reservation_year(application: Application) -> int:
    """The year of the decision the reservation follows: the committee session's
    date in Europe/Paris (``decided_on``, set when the vote is closed), today's
    year for a file reserved without a decision date."""
    return application.decided_on.year if application.decided_on is not None else _decision_year()


def _ledger_reserve(session: Session, application: Application, payload: dict[str, Any], actor: User | None, role: str) -> None:
    from app import ledger

    # De minimis counts an aid at the date it is granted (DOMAIN.md §5): the session's date when there is one.
    ledger.reserve(session, application, _ledger_amount(application, payload), year=_reservation_year(application),
                   regime=application.call.aid_regime, on=application.decided_on,
                   **_ledger_args(application, "reserve", actor, role))


def _ledger_commit(session: Session, application: Application, payload: dict[str, Any], actor: User | None, role: str) -> None:
    from app import ledger

    ledger.commit(session, application, _ledger_amount(application, payload), year=_decision_year(),
                  **_ledger_args(application, "commit", actor, role))


def _ledger_release(session: Session, application: Application, payload: dict[str, Any], actor: User | None, role: str) -> None:
    from app import ledger

    ledger.release_remaining(session, application, **_ledger_args(application, "release", actor, role))


def _clock_pause(session: Session, application: Application, payload: dict[str, Any], actor: User | None = None,
                 role: str = "") -> None:
    open_pause = _open_pause(session, application)
    if open_pause is None:
        session.add(ClockPause(application_id=application.id, started_at=utcnow()))


def _clock_resume(session: Session, application: Application, payload: dict[str, Any], actor: User | None = None,
                  role: str = "") -> None:
    open_pause = _open_pause(session, application)
    if open_pause is not None:
        open_pause.ended_at = utcnow()


def _open_pause(session: Session, application: Application) -> ClockPause | None:
    return session.execute(
        select(ClockPause).where(ClockPause.application_id == application.id, ClockPause.ended_at.is_(None))
    ).scalar_one_or_none()


IN_TRANSACTION_HANDLERS: dict[str, Callable[..., None]] = {
    "clock_pause": _clock_pause,
    "clock_resume": _clock_resume,
    "ledger_reserve": _ledger_reserve,
    "ledger_commit": _ledger_commit,
    "ledger_release": _ledger_release,
}


# --- effects run after the commit (jobs take ids and plain values) ----------

# DOMAIN.md §5: an agreement (« convention ») is mandatory above AGREEMENT_THRESHOLD_EUROS
# (23,000 €). At or below it, the decision notification, with its payment terms, serves
# as the agreement: the workflow's ``pdf: convention`` effect renders nothing, and the
# notifications that speak of a convention are replaced by these ones.
AGREEMENT_TEMPLATE = "convention"
NOTICES_WITHOUT_AGREEMENT = {
    "convention_a_signer": "decision_vaut_convention",
    "convention_signee": "modalites_versement_enregistrees",
}


def _after_commit_payloads(session: Session, application: Application, effects: list[workflows.EffectCall],
                           actor: User | None, role: str) -> list[tuple[str, dict[str, Any]]]:
    """The after-commit effects to queue, as (name, payload). For an aid that needs no
    agreement, the convention is not rendered (an audit row, in this transaction, records
    that the decision serves as agreement) and the convention notices are swapped."""
    from flask import current_app

    from app.letters import decision_amount, needs_agreement

    calls = [(effect.name, dict(effect.payload)) for effect in effects]
    amount = decision_amount(application)
    if needs_agreement(amount):
        return calls
    kept: list[tuple[str, dict[str, Any]]] = []
    waived = False
    for name, payload in calls:
        if name == "pdf" and payload.get("template") == AGREEMENT_TEMPLATE:
            waived = True
            continue
        if name == "notify" and payload.get("template") in NOTICES_WITHOUT_AGREEMENT:
            payload["template"] = NOTICES_WITHOUT_AGREEMENT[payload["template"]]
        kept.append((name, payload))
    if waived:
        audit.record(session, actor=actor, role=role, object_type="application", object_id=application.reference,
                     action="decision_serves_as_agreement",
                     after={"amount_cents": amount,
                            "threshold_cents": current_app.config["AGREEMENT_THRESHOLD_CENTS"]})
    return kept


def _queue_after_commit(application: Application, name: str, payload: dict[str, Any], actor: User | None) -> None:
    from app import notifications

    if name == "notify":
        notifications.queue_notification(application.id, payload["template"], payload["to"], payload.get("reason"))
    elif name == "pdf":
        from app.documents import generate_document

        enqueue_after_commit(generate_document, application.id, payload["template"], actor.id if actor else None,
                             queue="documents")
    elif name == "webhook":
        enqueue_after_commit(notifications.post_webhook, application.id, payload["event"], queue="default")
    else:
        raise RuntimeError(f"no handler for the after-commit effect {name!r}")


@dataclass
class TransitionDone:
    from_state: str
    to_state: str
    name: str


def transition(
    session: Session,
    application: Application,
    name: str,
    *,
    actor: User | None,
    role: str,
    reason: str | None = None,
    expected_version: int | None = None,
) -> TransitionDone:
    """Fire ``name`` on ``application`` as ``actor`` acting in ``role``.

    ``expected_version`` is the file's version the actor saw: if someone else
    changed the file since, nothing happens and ``Conflict`` is raised. The
    UPDATE itself is also guarded by the version column, so two concurrent
    transitions can never both apply."""
    if expected_version is not None and expected_version != application.version:
        raise Conflict(_("Ce dossier a été modifié par quelqu'un d'autre entre-temps : rechargez la page et recommencez."))
    definition = definition_for(session, application.workflow_version)
    context = AppFileContext(session, application, reason)
    try:
        result = workflows.fire(definition, application.state, name, {role}, context)
    except workflows.GuardFailed as exc:
        raise TransitionRefused(exc.messages) from None
    except (workflows.TransitionNotAllowed, workflows.UnknownTransition, workflows.UnknownState):
        raise UserFacingError(_("Cette action n'est pas possible sur ce dossier dans son état actuel."), status=403) from None

    application.state = result.to_state
    now = utcnow()
    if result.to_state == "submitted" and application.submitted_at is None:
        application.submitted_at = now
    application.updated_at = now
    for effect in result.in_transaction_effects:
        handler = IN_TRANSACTION_HANDLERS.get(effect.name)
        if handler is None:
            raise RuntimeError(f"no handler for the in-transaction effect {effect.name!r}")
        handler(session, application, dict(effect.payload), actor, role)
    if application.state == "corrections_requested":  # the applicant's due date is on the request
        application.due_date, application.due_state = None, None
    else:
        update_due_date(session, application)
    session.flush()  # the version check happens here: a concurrent change raises StaleDataError
    fields = result.audit_fields()
    audit.record(
        session,
        actor=actor,
        role=role,
        object_type="application",
        object_id=application.reference,
        action=f"transition:{name}",
        before={"state": result.from_state},
        after={"state": result.to_state, "workflow": fields["workflow"], "workflow_version": fields["workflow_hash"]},
        reason=context.reason,
    )
    for effect_name, payload in _after_commit_payloads(session, application, list(result.after_commit_effects),
                                                       actor, role):
        _queue_after_commit(application, effect_name, payload, actor)
    return TransitionDone(result.from_state, result.to_state, name)


def available_transitions(session: Session, application: Application, role: str) -> list[workflows.Option]:
    """What ``role`` may fire now on the file, each with what currently blocks it."""
    definition = definition_for(session, application.workflow_version)
    return workflows.available(definition, application.state, {role}, AppFileContext(session, application))
