"""Notifications named by the workflow definitions (``notify`` effects), sent
after the commit by the job queue, and outgoing webhooks."""

from __future__ import annotations

import json
import logging
import secrets
import urllib.request
from dataclasses import dataclass

from flask import current_app, url_for
from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError

from app.extensions import db
from app.jobs import enqueue_after_commit
from app.mail import deliver
from app.models import Application, Membership, RoleAssignment, User

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Template:
    subject: str
    body: str


_FOLLOW = "Suivez votre dossier : {url}\n"
_STAFF = "Le dossier : {url}\n"

# Texts in French (the applicants' language); {reference}, {title}, {call},
# {organisation}, {reason} and {url} are filled in.
TEMPLATES: dict[str, Template] = {
    "accuse_reception": Template(
        "Accusé de réception — dossier {reference}",
        "Bonjour,\n\nVotre dossier {reference} « {title} » a bien été déposé sur l'appel « {call} ».\n"
        "L'accusé de réception (PDF) est disponible sur la page de suivi du dossier.\n\n" + _FOLLOW),
    "nouveau_depot": Template(
        "Nouveau dossier déposé — {reference}",
        "Bonjour,\n\n{organisation} a déposé le dossier {reference} « {title} » sur l'appel « {call} ».\n\n" + _STAFF),
    "brouillon_gele": Template(
        "Appel clos — brouillon {reference} non déposé",
        "Bonjour,\n\nL'appel « {call} » est clos. Votre brouillon {reference} n'a pas été déposé avant la date limite : "
        "il est classé sans suite.\n\n" + _FOLLOW),
    "demande_complements": Template(
        "Compléments demandés — dossier {reference}",
        "Bonjour,\n\nL'instruction de votre dossier {reference} demande des compléments :\n\n{reason}\n\n"
        "Les délais d'instruction sont suspendus jusqu'à votre nouveau dépôt.\n\n" + _FOLLOW),
    "complements_recus": Template(
        "Compléments reçus — dossier {reference}",
        "Bonjour,\n\n{organisation} a complété et redéposé le dossier {reference}.\n\n" + _STAFF),
    "classement_sans_suite": Template(
        "Dossier {reference} classé sans suite",
        "Bonjour,\n\nVotre dossier {reference} est classé sans suite.\n{reason}\n\n" + _FOLLOW),
    "ineligibilite": Template(
        "Dossier {reference} non éligible",
        "Bonjour,\n\nVotre dossier {reference} ne remplit pas les conditions d'éligibilité de l'appel « {call} ».\n"
        "{reason}\n\n" + _FOLLOW),
    "dossier_recevable": Template(
        "Dossier {reference} recevable",
        "Bonjour,\n\nVotre dossier {reference} est éligible : son instruction commence.\n\n" + _FOLLOW),
    "decision_favorable": Template(
        "Décision — dossier {reference}",
        "Bonjour,\n\nLa Région a décidé d'attribuer une aide à votre projet « {title} » ({reference}). "
        "La lettre de notification est disponible sur la page du dossier.\n\n" + _FOLLOW),
    "decision_defavorable": Template(
        "Décision — dossier {reference}",
        "Bonjour,\n\nLa Région n'a pas retenu votre projet « {title} » ({reference}). "
        "La lettre de notification, qui indique les voies et délais de recours, est disponible sur la page du dossier.\n\n" + _FOLLOW),
    "dossier_ajourne": Template(
        "Dossier {reference} ajourné par la commission",
        "Bonjour,\n\nLa commission a ajourné le dossier {reference}.\n{reason}\n\n" + _STAFF),
    "retrait_confirme": Template(
        "Retrait du dossier {reference}",
        "Bonjour,\n\nVotre dossier {reference} « {title} » est retiré, comme vous l'avez demandé.\nMotif : {reason}\n\n" + _FOLLOW),
    "retrait_dossier": Template(
        "Dossier {reference} retiré par le demandeur",
        "Bonjour,\n\n{organisation} a retiré le dossier {reference}.\nMotif : {reason}\n\n" + _STAFF),
    "convention_a_signer": Template(
        "Convention à signer — dossier {reference}",
        "Bonjour,\n\nLa convention de votre aide ({reference}) est prête : signez-la depuis la page du dossier.\n\n" + _FOLLOW),
    "decision_vaut_convention": Template(
        "Modalités de votre aide — dossier {reference}",
        "Bonjour,\n\nVotre aide ({reference}) n'excède pas le seuil de la convention : la lettre de notification de la "
        "décision en tient lieu et fixe ses modalités de versement. La Région enregistre ces modalités ; vous pourrez "
        "ensuite demander le versement.\n\n" + _FOLLOW),
    "modalites_versement_enregistrees": Template(
        "Aide engagée — dossier {reference}",
        "Bonjour,\n\nLes modalités de versement de votre aide ({reference}) sont enregistrées et l'aide est engagée. "
        "Elle est versée en une fois : demandez le solde, avec l'état des dépenses et leurs justificatifs.\n\n" + _FOLLOW),
    "convention_signee": Template(
        "Convention signée — dossier {reference}",
        "Bonjour,\n\nLa convention de votre aide ({reference}) est signée. Vous pouvez demander les versements.\n\n" + _FOLLOW),
    "dossier_solde": Template(
        "Dossier {reference} soldé",
        "Bonjour,\n\nLe solde de votre aide ({reference}) a été versé : le dossier est clos.\n\n" + _FOLLOW),
    "caducite": Template(
        "Caducité — dossier {reference}",
        "Bonjour,\n\nL'aide attribuée au dossier {reference} est devenue caduque.\n{reason}\n\n" + _FOLLOW),
    "invitation_expertise": Template(
        "Invitation à expertiser le dossier {reference}",
        "Bonjour,\n\nVous êtes invité à donner votre avis sur le dossier {reference} « {title} ».\n\n" + _STAFF),
    "ordre_du_jour": Template(
        "Dossier {reference} inscrit en commission",
        "Bonjour,\n\nLe dossier {reference} « {title} » est prêt pour la commission.\n\n" + _STAFF),
}

_STAFF_ROLES = {"instructors": "instructor", "experts": "expert", "committee": "committee", "finance": "finance", "admins": "admin"}


def recipients(application: Application, audience: str) -> list[str]:
    """E-mail addresses of the file's audience (active accounts only)."""
    if audience == "applicant":
        stmt = select(User.email).join(Membership, Membership.user_id == User.id).where(
            Membership.organisation_id == application.organisation_id)
    else:
        role = _STAFF_ROLES[audience]
        stmt = select(User.email).join(RoleAssignment, RoleAssignment.user_id == User.id).where(
            RoleAssignment.role == role,
            or_(RoleAssignment.call_id.is_(None), RoleAssignment.call_id == application.call_id))
    return sorted(set(db.session.execute(stmt.where(User.active.is_(True))).scalars()))


def recipient_users(application: Application, audience: str) -> list[User]:
    """The accounts of the file's audience (active accounts only), by e-mail."""
    if audience == "applicant":
        stmt = select(User).join(Membership, Membership.user_id == User.id).where(
            Membership.organisation_id == application.organisation_id)
    else:
        role = _STAFF_ROLES[audience]
        stmt = select(User).join(RoleAssignment, RoleAssignment.user_id == User.id).where(
            RoleAssignment.role == role,
            or_(RoleAssignment.call_id.is_(None), RoleAssignment.call_id == application.call_id))
    return sorted(set(db.session.execute(stmt.where(User.active.is_(True))).scalars()), key=lambda u: u.email)


def render(template: str, application: Application, reason: str | None, audience: str,
           locale: str = "fr") -> tuple[str, str]:
    """Subject and body in ``locale`` (the French text is the msgid)."""
    from flask_babel import force_locale, gettext

    text = TEMPLATES[template]
    endpoint = "applicant.application_detail" if audience == "applicant" else "instruction.application_detail"
    values = {
        "reference": application.reference,
        "title": application.title,
        "call": application.call.title,
        "organisation": application.organisation.name,
        "reason": reason or "",
        "url": url_for(endpoint, reference=application.reference, _external=True),
    }
    with force_locale(locale):
        subject, body = gettext(text.subject), gettext(text.body)
    return subject.format(**values), body.format(**values)


def mail_mode(user: User) -> str:
    """How ``user`` receives notifications by e-mail: applicants always at once;
    staff as they chose (instant, digest, none)."""
    from app.models import NotificationPreference

    if not user.is_staff:
        return "instant"
    pref = db.session.get(NotificationPreference, user.id)
    return pref.mode if pref is not None else "instant"


def queue_notification(application_id: int, template: str, audience: str, reason: str | None = None) -> str:
    """Queue ``send_notification`` after the commit, under a key of its own: a
    retry of that job finds what it already wrote and sent. Returns the key."""
    key = secrets.token_hex(16)
    enqueue_after_commit(send_notification, application_id, template, audience, reason, key, queue="mail")
    return key


def _job_key() -> str:
    """The running RQ job's id (stable across its retries), else a new key."""
    from rq import get_current_job

    job = get_current_job()
    return job.id if job is not None else secrets.token_hex(16)


def send_notification(application_id: int, template: str, audience: str, reason: str | None = None,
                      key: str | None = None) -> int:
    """Job: notify the file's ``audience`` of ``template``: an in-app
    notification for each account, and an e-mail in the account's language at
    once, in the daily digest or not at all (staff preferences). Returns the
    number of e-mails sent by this run.

    Idempotent under ``key`` (given by ``queue_notification``; else the RQ job's
    id): the rows are written once per account and key; an instant e-mail waits
    as ``queued`` and each is claimed (``queued`` → ``sent``, one conditional
    UPDATE, committed) just before it is handed to the mail server, so a retried
    or duplicated job mails only what no run has claimed. A delivery that fails
    gives its row back (``queued``); the others are still sent, then the job
    fails, to be retried."""
    from app.models import Notification

    application = db.session.get(Application, application_id)
    if application is None:
        return 0
    if template not in TEMPLATES:
        raise KeyError(f"unknown notification template {template!r}")
    key = key or _job_key()
    written = set(db.session.execute(select(Notification.user_id).where(Notification.job_key == key)).scalars())
    for user in recipient_users(application, audience):
        if user.id in written:
            continue  # a previous run of this job wrote it
        locale = user.locale if user.locale in current_app.config["LANGUAGES"] else "fr"
        with current_app.test_request_context(base_url=_base_url()):
            subject, body = render(template, application, reason, audience, locale)
            endpoint = "applicant.application_detail" if audience == "applicant" else "instruction.application_detail"
            path = url_for(endpoint, reference=application.reference)
        status = {"instant": "queued", "digest": "digest_pending", "none": "skipped"}[mail_mode(user)]
        db.session.add(Notification(user_id=user.id, subject=subject, body=body, url=path, mail_status=status,
                                    job_key=key))
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()  # a concurrent run of the same job wrote them first: send what is left
    return _send_queued(key)


def _send_queued(key: str) -> int:
    from app.models import Notification

    waiting = db.session.execute(
        select(Notification.id, User.email, Notification.subject, Notification.body)
        .join(User, User.id == Notification.user_id)
        .where(Notification.job_key == key, Notification.mail_status == "queued").order_by(Notification.id)).all()
    sent = 0
    failure: Exception | None = None
    for notification_id, address, subject, body in waiting:
        claimed = db.session.execute(
            update(Notification).where(Notification.id == notification_id, Notification.mail_status == "queued")
            .values(mail_status="sent")).rowcount
        db.session.commit()
        if claimed != 1:
            continue  # another run claimed it
        try:
            deliver(address, subject, body)
        except Exception as exc:  # noqa: BLE001 - given back, the others still go, then the job fails
            log.warning("notification %s not delivered to %s: %s", notification_id, address, exc)
            db.session.rollback()
            db.session.execute(update(Notification).where(Notification.id == notification_id)
                               .values(mail_status="queued"))
            db.session.commit()
            failure = failure or exc
            continue
        sent += 1
    if failure is not None:
        raise failure
    return sent


def send_digests(session) -> int:
    """Mail each staff member who chose the daily digest the notifications
    waiting for it (once a day, from ``DIGEST_HOUR`` Paris time); run by the
    tick. The mails go through the queue after the caller's commit."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from flask_babel import force_locale, gettext

    from app.mail import queue_mail
    from app.models import Notification, NotificationPreference, utcnow

    paris = ZoneInfo("Europe/Paris")
    now = utcnow()
    local_now = now.astimezone(paris)
    if local_now.hour < current_app.config["DIGEST_HOUR"]:
        return 0
    today_start = datetime(local_now.year, local_now.month, local_now.day, tzinfo=paris)
    sent = 0
    prefs = session.execute(select(NotificationPreference).where(NotificationPreference.mode == "digest")).scalars().all()
    for pref in prefs:
        if pref.last_digest_at is not None and pref.last_digest_at.astimezone(paris) >= today_start:
            continue
        pending = session.execute(select(Notification).where(
            Notification.user_id == pref.user_id, Notification.mail_status == "digest_pending")
            .order_by(Notification.id)).scalars().all()
        pref.last_digest_at = now
        if not pending:
            continue
        user = session.get(User, pref.user_id)
        if user is None or not user.active:
            continue
        with force_locale(user.locale if user.locale in current_app.config["LANGUAGES"] else "fr"):
            subject = gettext("Guichet — vos notifications du jour (%(n)s)", n=len(pending))
            intro = gettext("Bonjour,\n\nVoici les notifications reçues depuis votre dernier récapitulatif :")
        lines = [intro, ""] + [f"• {n.subject}" for n in pending]
        for n in pending:
            n.mail_status = "digested"
        queue_mail(user.email, subject, "\n".join(lines) + "\n")
        sent += 1
    session.flush()
    return sent


def _base_url() -> str:
    server = current_app.config.get("SERVER_NAME") or "127.0.0.1:5000"
    return f"{current_app.config['PREFERRED_URL_SCHEME']}://{server}"


def post_webhook(application_id: int, event: str) -> bool:
    """Job: POST the event to ``WEBHOOK_URL`` when one is configured."""
    url = current_app.config.get("WEBHOOK_URL")
    if not url:
        return False
    application = db.session.get(Application, application_id)
    if application is None:
        return False
    body = json.dumps({"event": event, "reference": application.reference, "state": application.state}).encode()
    request = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - configured by the operator
        return 200 <= response.status < 300
