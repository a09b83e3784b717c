"""Experts invited on files: invitation by e-mail with a due date, reminders
from the tick, revocation; what an expert may see of a file.

An expert sees only the files with an active invitation, and of each file
only the form fields the call's form marks ``share_with_experts: true``.
"""

from __future__ import annotations

import secrets
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from flask import current_app, url_for
from sqlalchemy import select
from sqlalchemy.orm import Session

from app import audit
from app.errors import UserFacingError
from app.formatting import PARIS, local_date
from app.formatting import translate as _
from app.mail import queue_mail
from app.models import Application, ExpertInvitation, Review, User, utcnow
from app.operations import accounts, conflicts

if TYPE_CHECKING:
    from app.operations.schedule import TickReport


def file_link(reference: str) -> str:
    """The expert's page of the file, absolute (also from the tick, outside a request)."""
    from flask import has_request_context

    if has_request_context():
        return url_for("experts.file", reference=reference, _external=True)
    from app.notifications import _base_url

    with current_app.test_request_context(base_url=_base_url()):
        return url_for("experts.file", reference=reference, _external=True)


def today() -> date:
    return utcnow().astimezone(PARIS).date()


def active_invitation(session: Session, user: User, application: Application) -> ExpertInvitation | None:
    return session.execute(
        select(ExpertInvitation).where(ExpertInvitation.application_id == application.id,
                                       ExpertInvitation.expert_id == user.id, ExpertInvitation.revoked_at.is_(None))
        .order_by(ExpertInvitation.id.desc()).limit(1)
    ).scalar_one_or_none()


def invitations_of(session: Session, application: Application) -> list[ExpertInvitation]:
    return list(session.execute(
        select(ExpertInvitation).where(ExpertInvitation.application_id == application.id)
        .order_by(ExpertInvitation.id)
    ).scalars())


def _expert_account(session: Session, email: str, application: Application, actor: User) -> tuple[User, bool]:
    """The account behind ``email``, created (expert of the file's call) when missing."""
    email = accounts.normalise_email(email)
    if not email or "@" not in email or email.startswith("@") or email.endswith("@"):
        raise UserFacingError(_("Adresse e-mail invalide."))
    user = accounts.find_user(session, email)
    created = False
    if user is None:
        user = accounts.create_user(session, email=email, name=email.partition("@")[0], password=secrets.token_urlsafe(24),
                                    roles=[("expert", application.call_id)], actor=actor, actor_role="instructor")
        created = True
    elif not user.active:
        raise UserFacingError(_("Le compte %(email)s est désactivé.", email=email))
    elif not user.has_role("expert", application.call_id):
        accounts.grant_role(session, user, "expert", application.call_id, actor=actor, actor_role="instructor")
    return user, created


def invite(session: Session, application: Application, email: str, due_on: date, *, actor: User) -> ExpertInvitation:
    """Invite the person at ``email`` to review ``application`` before ``due_on``
    (an expert account is created when none exists); the e-mail leaves after the commit."""
    if application.state == "draft":
        raise UserFacingError(_("Un brouillon ne peut pas être soumis à un expert."))
    if due_on <= today():
        raise UserFacingError(_("La date limite de l'expertise doit être postérieure à aujourd'hui."))
    user, created = _expert_account(session, email, application, actor)
    if active_invitation(session, user, application) is not None:
        raise UserFacingError(_("%(email)s est déjà invité sur ce dossier.", email=user.email))
    status = conflicts.conflict_status(session, user, application)
    if status.conflicted:
        raise UserFacingError(_("%(email)s est en conflit d'intérêts sur ce dossier : %(reasons)s", email=user.email,
                                reasons=" ".join(status.reasons)), status=403)
    invitation = ExpertInvitation(application_id=application.id, expert_id=user.id, invited_by_id=actor.id, due_on=due_on)
    session.add(invitation)
    session.flush()
    audit.record(session, actor=actor, role="instructor", object_type="application", object_id=application.reference,
                 action="invite_expert", after={"expert": user.email, "due_on": due_on.isoformat(),
                                                "invitation": invitation.id})
    link = file_link(application.reference)
    body = _("Bonjour,\n\nLa Région Grand Est vous invite à expertiser le dossier %(ref)s « %(title)s » avant le "
             "%(due)s.\nAvant de l'ouvrir, vous déclarerez l'absence ou l'existence d'un conflit d'intérêts.\n\n%(link)s\n",
             ref=application.reference, title=application.title, due=local_date(due_on, user.locale), link=link)
    if created:
        reset = url_for("auth.reset_password", token=accounts.make_reset_token(user), _external=True)
        body += _("\nUn compte expert a été créé pour vous. Choisissez votre mot de passe dans les 2 heures :\n%(link)s\n"
                  "(passé ce délai, utilisez « Mot de passe oublié » sur la page de connexion).\n", link=reset)
    queue_mail(user.email, _("Invitation à expertiser le dossier %(ref)s", ref=application.reference), body)
    return invitation


def revoke(session: Session, invitation: ExpertInvitation, *, actor: User) -> None:
    if invitation.revoked_at is not None:
        raise UserFacingError(_("Cette invitation est déjà révoquée."))
    invitation.revoked_at = utcnow()
    invitation.revoked_by_id = actor.id
    session.flush()
    application = invitation.application
    audit.record(session, actor=actor, role="instructor", object_type="application", object_id=application.reference,
                 action="revoke_expert", before={"invitation": invitation.id, "expert": invitation.expert.email})
    queue_mail(invitation.expert.email, _("Invitation retirée — dossier %(ref)s", ref=application.reference),
               _("Bonjour,\n\nVotre invitation à expertiser le dossier %(ref)s est retirée. Vous n'y avez plus accès.\n",
                 ref=application.reference))


def shared_answers(application: Application, locale: str = "fr") -> list[tuple[str, list[tuple[str, str]]]]:
    """``[(section title, [(label, value)])]`` of the fields shared with experts (and shown by the form's rules)."""
    if application.form_version is None:
        return []
    from app.callforms import load_definition
    from app.callforms.answers import rows_display, visible_keys
    from app.callforms.values import display_value

    definition = load_definition(application.form_version.definition)
    answers: dict[str, Any] = application.answers or {}
    shown = visible_keys(definition, answers)
    out = []
    for section in definition.sections:
        items = [(f.label, rows_display(f, answers.get(f.key), locale) if f.type == "rows"
                  else display_value(f, answers.get(f.key), locale))
                 for f in section.fields if f.share_with_experts and f.type != "file" and f.key in shown]
        if items:
            out.append((section.title, items))
    return out


def remind_experts(session: Session, report: "TickReport") -> None:
    """The tick's hook: remind each active invitation once when its due date is
    within EXPERT_REMINDER_DAYS, and once more when it is past."""
    day = today()
    horizon = day + timedelta(days=current_app.config["EXPERT_REMINDER_DAYS"])
    submitted = select(Review.id).where(Review.application_id == ExpertInvitation.application_id,
                                        Review.reviewer_id == ExpertInvitation.expert_id, Review.status == "submitted")
    rows = session.execute(
        select(ExpertInvitation).where(ExpertInvitation.revoked_at.is_(None), ExpertInvitation.due_on <= horizon,
                                       ExpertInvitation.reminders_sent < 2, ~submitted.exists())
    ).scalars().all()
    for invitation in rows:
        late = invitation.due_on < day
        if invitation.reminders_sent >= (2 if late else 1):
            continue
        application = invitation.application
        expert = invitation.expert
        subject = (_("Expertise en retard — dossier %(ref)s", ref=application.reference) if late
                   else _("Rappel : expertise du dossier %(ref)s", ref=application.reference))
        queue_mail(expert.email, subject, _(
            "Bonjour,\n\nVotre expertise du dossier %(ref)s « %(title)s » est attendue pour le %(due)s.\n\n%(link)s\n",
            ref=application.reference, title=application.title, due=local_date(invitation.due_on, expert.locale),
            link=file_link(application.reference)))
        invitation.reminders_sent = 2 if late else 1
        invitation.last_reminded_on = day
        audit.record(session, actor=None, role="system", object_type="application", object_id=application.reference,
                     action="remind_expert", after={"invitation": invitation.id, "late": late})
        session.commit()
        report.reminders.append((application.reference, -1))
