"""Demo data of the committees (issue 7): the Commission permanente with five
members, one decided session (a proxy, a withdrawal, a grant above 23,000 €
reserved in the ledger through the workflow's ``approve``, a lowered amount, a
rejection) and one upcoming session with a block on its agenda.

The files are placed in the state « committee » directly, with their
instructor's proposal and report (an opinion; the expenses accepted as
declared): the ``propose_to_committee`` transition needs submitted reviews
(``reviews_complete``), which the demo of the instruction seeds on its own.
From there on, everything goes through the real operations: putting a file on
the agenda renders its instruction report PDF, which the members open from
the item's page."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import audit
from app.models import Application, Call, InstructionReport, Organisation, User, utcnow
from app.operations import committee as ops
from app.operations.accounts import DEMO_PASSWORD, create_user
from app.operations.demo import DEMO_CONTACTS, EURO, ami_answers, pack_ia_answers, paris
from app.operations.drafts import current_form
from app.references import next_reference
from app.workflow_versions import current_version

MEMBERS = [
    ("demo-committee@guichet.test", "Isabelle Moreau"),  # from the main demo: the chair
    ("demo-committee2@guichet.test", "Jean-Marc Schaeffer"),
    ("demo-committee3@guichet.test", "Nadia Benali"),
    ("demo-committee4@guichet.test", "Pierre Hoffmann"),
    ("demo-committee5@guichet.test", "Élodie Kieffer"),
]


DEMO_FILES = 5  # files created here (3 decided, 2 on the upcoming agenda)


def _user(session: Session, email: str) -> User:
    return session.execute(select(User).where(User.email == email)).scalar_one()


OPINIONS = {
    "Optimisation énergétique d'une fonderie": "Projet solide, porté par une équipe expérimentée ; gains énergétiques "
                                               "chiffrés et crédibles. Avis favorable.",
    "Tri automatique des pièces par vision": "Premier projet d'IA de l'entreprise, prestataire régional identifié. "
                                             "Avis favorable.",
    "Assistant de devis par IA": "Besoin réel mais cahier des charges encore imprécis et prestataire non retenu. "
                                 "Avis réservé.",
    "Aide au diagnostic en imagerie dermatologique": "Partenariat hospitalier établi, jeu de données disponible. "
                                                     "Avis favorable.",
    "Prévision de la demande pour l'atelier": "Projet modeste et bien cadré, premier usage de l'IA. Avis favorable.",
}


def _file(session: Session, call: Call, org: Organisation, owner: User, title: str, requested: int, proposed: int,
          i: int, instructor: User) -> Application:
    now = utcnow()
    build = pack_ia_answers if call.workflow_name == "pack_ia" else ami_answers
    form = current_form(session, call)
    application = Application(
        reference=next_reference(session, call.file_prefix, now.year), call=call, organisation=org, created_by=owner,
        title=title, state="committee", requested_amount_cents=requested, proposed_amount_cents=proposed,
        workflow_version=current_version(session, call.workflow_name), form_version_id=form.id if form else None,
        answers=build(org, owner, DEMO_CONTACTS[org.department], title, requested, i, now, complete=True),
        created_at=now - timedelta(days=70), submitted_at=now - timedelta(days=68),
    )
    session.add(application)
    session.flush()
    audit.record(session, actor=None, role="system", object_type="application", object_id=application.reference,
                 action="seed", after={"state": "committee", "call": call.reference})
    # The instructor's report: the expenses accepted as declared, an opinion.
    session.add(InstructionReport(application_id=application.id, expense_decisions={}, opinion=OPINIONS.get(title, ""),
                                  updated_by_id=instructor.id))
    session.flush()
    audit.record(session, actor=instructor, role="instructor", object_type="application",
                 object_id=application.reference, action="save_instruction_report",
                 after={"opinion": OPINIONS.get(title, ""), "seed": True})
    return application


def seed_committee_demo(session: Session) -> dict[str, int]:
    """Flushes, never commits; call after the main demo (users, organisations, calls, ledger)."""
    admin = _user(session, "demo-admin@guichet.test")
    instructor = _user(session, "demo-instructor@guichet.test")
    members = []
    for email, name in MEMBERS:
        user = session.execute(select(User).where(User.email == email)).scalar_one_or_none()
        if user is None:
            user = create_user(session, email=email, name=name, password=DEMO_PASSWORD, roles=[("committee", None)],
                               actor=None, actor_role="system", allow_demo_password=True)
        members.append(user)
    chair, second, third, fourth, fifth = members
    cp = ops.create_committee(session, name="Commission permanente du Conseil régional", code="CP",
                              kind="commission_permanente", tie_rule="chair", actor=admin, role="admin")
    for member in members:
        ops.add_member(session, cp, member, actor=admin, role="admin")
    ops.set_chair(session, cp, chair, actor=admin, role="admin")

    ami = session.execute(select(Call).where(Call.reference == "AMI-ECONUM-2026")).scalar_one()
    pack = session.execute(select(Call).where(Call.reference == "PACK-IA-2026")).scalar_one()
    champagne = session.execute(select(Organisation).where(Organisation.name == "Atelier Numérique de Champagne")).scalar_one()
    vosges = session.execute(select(Organisation).where(Organisation.name == "BioVosges")).scalar_one()
    owner1 = _user(session, "demo-applicant@guichet.test")
    owner2 = _user(session, "demo-applicant2@guichet.test")
    # A declared interest: Pierre Hoffmann sits on BioVosges' supervisory board.
    ops.declare_interest(session, fourth, vosges, "Membre du conseil de surveillance")

    now = utcnow()
    # --- the decided session, two weeks ago ----------------------------------
    decided = ops.plan_session(session, cp, held_at=paris(now - timedelta(days=14), 10),
                               place="Hôtel de Région, Strasbourg", actor=admin, role="admin")
    big = _file(session, ami, champagne, owner1, "Optimisation énergétique d'une fonderie", 220_000 * EURO,
                180_000 * EURO, 3, instructor)
    vine = _file(session, pack, vosges, owner2, "Tri automatique des pièces par vision", 42_000 * EURO,
                 40_000 * EURO, 1, instructor)
    quote = _file(session, pack, champagne, owner1, "Assistant de devis par IA", 30_000 * EURO, 28_000 * EURO, 3,
                  instructor)
    items = [ops.add_item(session, decided, f, actor=admin, role="admin") for f in (big, vine, quote)]
    ops.open_session(session, decided, actor=admin, role="admin")
    for member in (chair, second, third, fourth):
        ops.set_attendance(session, decided, member, "present", actor=admin, role="admin")
    ops.set_attendance(session, decided, fifth, "represented", proxy_holder=third, actor=admin, role="admin")
    ops.declare_withdrawal(session, items[1], fourth, reason="Membre du conseil de surveillance de BioVosges",
                           actor=fourth, role="committee")
    ops.set_amount(session, items[0], 160_000 * EURO, actor=admin, role="admin")
    votes = {
        items[0].id: {chair: "for", second: "for", third: "for", fourth: "against", fifth: "for"},
        items[1].id: {chair: "for", second: "for", third: "abstain", fifth: "for"},
        items[2].id: {chair: "against", second: "against", third: "for", fourth: "against", fifth: "abstain"},
    }
    for item in items:
        ops.open_vote(session, [item], actor=admin, role="admin")
        for voter, choice in votes[item.id].items():
            holder = third if voter is fifth else voter
            ops.cast_vote(session, [item], voter, choice, cast_by=holder, actor=holder, role="committee")
        ops.close_vote(session, [item], actor=admin, role="admin")
    ops.close_session(session, decided, actor=admin, role="admin")

    # --- the upcoming session, in ten days, with a block -----------------------
    upcoming = ops.plan_session(session, cp, held_at=paris(now + timedelta(days=10), 14),
                                place="Hôtel de Région, Metz", actor=admin, role="admin")
    health = _file(session, ami, vosges, owner2, "Aide au diagnostic en imagerie dermatologique", 150_000 * EURO,
                   120_000 * EURO, 2, instructor)
    forecast = _file(session, pack, vosges, owner2, "Prévision de la demande pour l'atelier", 25_000 * EURO,
                     25_000 * EURO, 2, instructor)
    for f in (health, forecast):
        ops.add_item(session, upcoming, f, block="A", actor=admin, role="admin")
    return {"committees": 1, "sessions": 2, "decided": len(items)}
