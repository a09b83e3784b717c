"""Creating files. Submission and every later transition go through the
workflow engine (issue 4); this module only creates drafts."""

from __future__ import annotations

from sqlalchemy.orm import Session

from app import audit
from app.errors import UserFacingError
from app.formatting import translate as _
from app.models import Application, Call, Organisation, User, utcnow
from app.references import next_reference
from app.workflow_versions import current_version


def create_draft(session: Session, *, call: Call, organisation: Organisation, author: User, title: str, requested_amount_cents: int = 0) -> Application:
    now = utcnow()
    if not call.is_open(now):
        raise UserFacingError(_("Cet appel n'est pas ouvert aux candidatures."))
    if requested_amount_cents < 0:
        raise UserFacingError(_("Le montant demandé ne peut pas être négatif."))
    if call.max_aid_cents is not None and requested_amount_cents > call.max_aid_cents:
        raise UserFacingError(_("Le montant demandé dépasse le plafond de l'appel."))
    application = Application(
        reference=next_reference(session, call.file_prefix, now.year),
        call=call,
        organisation=organisation,
        created_by=author,
        title=title.strip(),
        state="draft",
        requested_amount_cents=requested_amount_cents,
        workflow_version=current_version(session, call.workflow_name),
    )
    session.add(application)
    session.flush()
    audit.record(session, actor=author, role="applicant", object_type="application", object_id=application.reference,
                 action="create_draft", after={"state": "draft", "call": call.reference, "title": application.title})
    return application
