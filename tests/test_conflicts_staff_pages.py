"""Conflicts of interest beyond the instruction pages: staff linked to the
applicant (here, members of its organisation) open neither the committee item
of its file, nor its letters, nor its ledger and payment pages; the same
pages serve the demo staff, who have no link."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.models import AgendaItem, Application, Committee, CommitteeSession, Document, Membership
from tests.factories import TEST_PASSWORD, make_user
from tests.journey import INSTRUCTOR, logged_in, text_of
from tests.test_access import in_db

FINANCE = "demo-finance@guichet.test"
ADMIN = "demo-admin@guichet.test"


@pytest.fixture
def files(app, demo):
    """The first item of the Commission permanente's decided session (its file has a decision
    letter) and a file in payment, with a staff member of each role made a member of each file's
    organisation."""
    with in_db(app) as s:
        committee = s.execute(select(Committee).where(Committee.code == "CP")).scalar_one()
        session = s.execute(select(CommitteeSession).where(CommitteeSession.committee_id == committee.id,
                                                           CommitteeSession.status == "closed")).scalars().first()
        item = s.execute(select(AgendaItem).where(AgendaItem.session_id == session.id)
                         .order_by(AgendaItem.position)).scalars().first()
        decided = s.get(Application, item.application_id)
        document = s.execute(select(Document).where(Document.application_id == decided.id)
                             .order_by(Document.id)).scalars().first()
        letter = s.execute(select(Document).where(Document.application_id == decided.id,
                                                  Document.kind == "decision_letter")).scalars().first()
        in_payment = s.execute(select(Application).where(Application.state == "payments")
                               .order_by(Application.id)).scalars().first()
        linked = {}
        for role in ("instructor", "admin", "finance"):
            user = make_user(s, role, email=f"lie-{role}@region-grandest.fr")
            for application in (decided, in_payment):
                s.add(Membership(user_id=user.id, organisation_id=application.organisation_id))
            linked[role] = user.email
        return {"item": f"/commission/seances/{session.id}/points/{item.id}",
                "document": f"/commission/seances/{session.id}/points/{item.id}/documents/{document.id}",
                "letter": f"/dossiers/{decided.reference}/lettres/decision_letter.pdf" if letter else None,
                "ledger": f"/finances/dossiers/{in_payment.reference}",
                "payments": f"/versements/dossiers-finances/{in_payment.reference}",
                "linked": linked}


def refused(response) -> bool:
    return response.status_code == 403 and "Conflit d'intérêts" in text_of(response)


def test_staff_linked_to_the_applicant_do_not_open_its_committee_item_letters_or_ledger(app, files):
    assert files["letter"], "the demo's decided session has a decision letter"
    for role, paths in (("instructor", ("item", "document", "letter")),
                        ("admin", ("item", "document", "letter", "ledger")),
                        ("finance", ("letter", "ledger", "payments"))):
        client = logged_in(app, files["linked"][role], TEST_PASSWORD)
        for name in paths:
            response = client.get(files[name])
            assert refused(response), (role, name, files[name], response.status_code)
    # The demo staff, with no link to these organisations, are served the same pages.
    for email, paths in ((INSTRUCTOR, ("item", "document", "letter")), (ADMIN, ("item", "ledger")),
                         (FINANCE, ("letter", "ledger", "payments"))):
        client = logged_in(app, email)
        for name in paths:
            response = client.get(files[name])
            assert response.status_code == 200, (email, name, files[name], response.status_code)
