"""Demo data of the instruction workspace: files assigned to the demo
instructor, an expert invited on two AMI files, a private note and a saved view."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.models import Annotation, Application, Call, ExpertInvitation, SavedView, User
from app.operations.experts import today


def seed_instruction(session: Session) -> None:
    instructor = session.execute(select(User).where(User.email == "demo-instructor@guichet.test")).scalar_one_or_none()
    expert = session.execute(select(User).where(User.email == "demo-expert@guichet.test")).scalar_one_or_none()
    if instructor is None or expert is None:
        return
    files = session.execute(
        select(Application).join(Call).where(Application.state != "draft").order_by(Call.reference, Application.id)
    ).scalars().all()
    for application in files[::2]:
        application.assigned_instructor_id = instructor.id
    ami_files = [a for a in files if a.call.workflow_name == "ami_numerique"
                 and a.state in ("submitted", "eligibility_check", "instruction")][:2]
    invited = set(session.execute(select(ExpertInvitation.application_id)
                                  .where(ExpertInvitation.expert_id == expert.id)).scalars())
    for application in ami_files:
        if application.id in invited:  # demo_scoring invited the expert already
            continue
        session.add(ExpertInvitation(application_id=application.id, expert_id=expert.id, invited_by_id=instructor.id,
                                     due_on=today() + timedelta(days=14)))
    if files:
        session.add(Annotation(application_id=files[0].id, author_id=instructor.id,
                               body="Note interne : vérifier l'attestation de minimis avec le service juridique."))
    session.add(SavedView(user_id=instructor.id, name="Mes dossiers", filters={"instructor": "me"}))
    session.flush()
