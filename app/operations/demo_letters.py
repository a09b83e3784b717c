"""Demo data for issue 8: the decided demo files get a decision date and a
deliberation number (when nothing else gave them one), their decision letters
are stored, and the demo accounts have a few in-app notifications."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Application, Membership, Notification, User, utcnow


def seed_letters(session: Session) -> int:
    from app.documents import RENDERERS, store_document

    today = utcnow().date()
    decided_on = today - timedelta(days=5)
    prefix = f"CP-{decided_on:%Y-%m}"
    files = session.execute(select(Application).where(Application.state.in_(("approved", "rejected")))
                            .order_by(Application.reference)).scalars().all()
    for n, application in enumerate(files, start=1):
        if application.deliberation_number is None:
            application.deliberation_number = f"{prefix}-{n:04d}"
            application.decided_on = application.decided_on or decided_on
        if application.state == "approved" and application.proposed_amount_cents is None:
            application.proposed_amount_cents = application.requested_amount_cents
        if application.state == "approved" and application.awarded_amount_cents is None:
            application.awarded_amount_cents = application.proposed_amount_cents
    session.flush()
    kind, renderer = RENDERERS["lettre_decision"]
    for application in files:
        store_document(session, application, kind, renderer(session, application))
        owners = session.execute(select(Membership.user_id).where(
            Membership.organisation_id == application.organisation_id)).scalars().all()
        for user_id in owners:
            session.add(Notification(user_id=user_id, subject=f"Décision — dossier {application.reference}",
                                     body="La lettre de notification est disponible sur la page du dossier.",
                                     url=f"/espace/dossiers/{application.reference}", mail_status="sent"))
    finance = session.execute(select(User).where(User.email == "demo-finance@guichet.test")).scalar_one_or_none()
    if finance is not None and files:
        session.add(Notification(user_id=finance.id, subject=f"{len(files)} décision(s) de la séance {prefix}",
                                 body="Les lettres de décision peuvent être exportées en un ZIP.",
                                 url="/finances/exports", mail_status="sent"))
    session.flush()
    return len(files)
