"""Demo data: the plan, its axes, the two calls, one account per role and
files in varied states; ``scale`` adds synthetic files for benchmarks."""

from __future__ import annotations

import random
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session
from stdnum import luhn

from app import audit
from app.models import Application, Axis, Call, Membership, Organisation, Plan, User, utcnow
from app.operations.accounts import DEMO_PASSWORD, create_user
from app.references import next_reference, reserve_numbers
from app.workflow_versions import current_version

PARIS = ZoneInfo("Europe/Paris")
EURO = 100
MILLION = 1_000_000 * EURO

DEMO_ACCOUNTS = [
    ("demo-applicant@guichet.test", "Camille Martin", "applicant"),
    ("demo-applicant2@guichet.test", "Lucas Bernard", "applicant"),
    ("demo-instructor@guichet.test", "Sophie Laurent", "instructor"),
    ("demo-expert@guichet.test", "Thomas Petit", "expert"),
    ("demo-committee@guichet.test", "Isabelle Moreau", "committee"),
    ("demo-finance@guichet.test", "Nicolas Dubois", "finance"),
    ("demo-admin@guichet.test", "Claire Lefèvre", "admin"),
]

AXES = [
    (1, "Booster la compétitivité des entreprises par l'IA"),
    (2, "Soutenir l'excellence scientifique"),
    (3, "Dynamiser les startups de l'IA"),
    (4, "Développer les compétences en IA"),
    (5, "Garantir une IA éthique, transparente et inclusive"),
]

# States shown in the demo, in lifecycle order (names of the workflow definitions).
DEMO_STATES = ["draft", "submitted", "eligibility_check", "corrections_requested", "instruction", "committee", "approved", "rejected"]
SCALE_STATES = [("draft", 10), ("submitted", 10), ("eligibility_check", 15), ("corrections_requested", 5),
                ("instruction", 25), ("committee", 10), ("approved", 15), ("rejected", 8), ("withdrawn", 2)]


def make_siret(siren_body: int, establishment: int = 1) -> str:
    """A valid SIRET from an 8-digit SIREN body and an establishment number."""
    siren8 = f"{siren_body:08d}"[-8:]
    siren = siren8 + luhn.calc_check_digit(siren8)
    body = siren + f"{establishment:04d}"
    return body + luhn.calc_check_digit(body)


def paris(day: datetime, hour: int = 12) -> datetime:
    return datetime.combine(day.astimezone(PARIS).date(), time(hour, 0), tzinfo=PARIS)


def is_seeded(session: Session) -> bool:
    return session.execute(select(func.count(Plan.id))).scalar_one() > 0


def seed_demo(session: Session) -> dict[str, int]:
    """Load the demo. Call only on an empty database (``is_seeded`` is False)."""
    now = utcnow()
    plan = Plan(name="Plan régional Intelligence artificielle Grand Est", start_year=2025, years=5,
                envelope_cents=350 * MILLION, yearly_ceiling_cents=70 * MILLION, leverage_target=6)
    session.add(plan)
    axes = {n: Axis(plan=plan, number=n, title=t) for n, t in AXES}
    session.add_all(axes.values())

    opens = paris(now - timedelta(days=60), 9)
    closes = paris(now + timedelta(days=70), 12)
    ami = Call(
        reference="AMI-ECONUM-2026", file_prefix="AMI",
        title="AMI « Économie Numérique » — défis IA Santé, Industrie, Bioéconomie",
        summary=("Appel à manifestation d'intérêt pour de nouvelles solutions d'intelligence artificielle répondant à des "
                 "défis posés par des acteurs régionaux de la santé, de l'industrie et de la bioéconomie."),
        axis=axes[1], opens_at=opens, closes_at=closes, budget_cents=5 * MILLION, max_aid_cents=500_000 * EURO,
        status="published", workflow_name="ami_numerique",
    )
    pack = Call(
        reference="PACK-IA-2026", file_prefix="PIA", title="Pack IA — premiers projets d'intelligence artificielle",
        summary=("Aide aux entreprises de moins de 2 000 salariés établies dans le Grand Est qui mènent leur premier projet "
                 "d'IA : prestation externe (étude, accompagnement, développement) ou recrutement de compétences en IA."),
        axis=axes[1], opens_at=opens, closes_at=closes, budget_cents=1_750_000 * EURO, max_aid_cents=50_000 * EURO,
        status="published", workflow_name="pack_ia",
    )
    session.add_all([ami, pack])
    session.flush()

    users: dict[str, User] = {}
    for email, name, role in DEMO_ACCOUNTS:
        users[email] = create_user(session, email=email, name=name, password=DEMO_PASSWORD, roles=[(role, None)],
                                   actor=None, actor_role="system", allow_demo_password=True)

    org1 = Organisation(siret=make_siret(81234567), siren=make_siret(81234567)[:9], name="Atelier Numérique de Champagne",
                        legal_form="SAS", headcount=42, turnover_cents=6_800_000 * EURO, balance_sheet_cents=4_100_000 * EURO,
                        department="51", naf_code="2562B", size_category="small")
    org2 = Organisation(siret=make_siret(79876543), siren=make_siret(79876543)[:9], name="BioVosges",
                        legal_form="SARL", headcount=8, turnover_cents=1_200_000 * EURO, balance_sheet_cents=900_000 * EURO,
                        department="88", naf_code="1089Z", size_category="micro")
    session.add_all([org1, org2])
    session.add_all([
        Membership(user=users["demo-applicant@guichet.test"], organisation=org1, is_owner=True),
        Membership(user=users["demo-applicant2@guichet.test"], organisation=org2, is_owner=True),
    ])
    session.flush()

    titles = {
        "PIA": ["Maintenance prédictive de la ligne d'usinage", "Tri automatique des pièces par vision",
                "Prévision de la demande pour l'atelier", "Assistant de devis par IA"],
        "AMI": ["Détection précoce des maladies de la vigne", "Jumeau numérique d'un procédé de fermentation",
                "Aide au diagnostic en imagerie dermatologique", "Optimisation énergétique d'une fonderie"],
    }
    count = 0
    for org, owner, offset in ((org1, users["demo-applicant@guichet.test"], 0),
                               (org2, users["demo-applicant2@guichet.test"], 1)):
        for call in (pack, ami):
            version = current_version(session, call.workflow_name)
            for i, state in enumerate(DEMO_STATES[offset::2] if call is ami else DEMO_STATES[1 - offset::2]):
                created = now - timedelta(days=40 - 3 * i)
                amount = (35_000 + 2_500 * i) * EURO if call is pack else (180_000 + 40_000 * i) * EURO
                application = Application(
                    reference=next_reference(session, call.file_prefix, now.year), call=call, organisation=org,
                    created_by=owner, title=titles[call.file_prefix][i % 4], state=state,
                    requested_amount_cents=amount, workflow_version=version, created_at=created, updated_at=created,
                    submitted_at=None if state == "draft" else created + timedelta(days=2),
                )
                session.add(application)
                session.flush()
                audit.record(session, actor=None, role="system", object_type="application", object_id=application.reference,
                             action="seed", after={"state": state, "call": call.reference})
                count += 1
    audit.record(session, actor=None, role="system", object_type="plan", object_id=plan.id, action="seed_demo",
                 after={"calls": [ami.reference, pack.reference], "files": count})
    return {"users": len(users), "calls": 2, "files": count}


def seed_scale(session: Session, n: int, *, seed: int = 20261122, batch: int = 5000) -> int:
    """Add ``n`` synthetic files spread over the calls and states, in bulk."""
    if n <= 0:
        return 0
    rng = random.Random(seed)
    now = utcnow()
    calls = session.execute(select(Call).where(Call.status != "draft").order_by(Call.id)).scalars().all()
    if not calls:
        raise RuntimeError("seed the demo first: no call to attach files to")
    departments = ["08", "10", "51", "52", "54", "55", "57", "67", "68", "88"]
    sizes = ["micro", "small", "medium", "large"]
    existing_orgs = session.execute(select(func.count(Organisation.id))).scalar_one()
    n_orgs = max(1, n // 20)
    org_rows = []
    for i in range(n_orgs):
        body = 30_000_000 + existing_orgs + i
        siret = make_siret(body)
        org_rows.append({
            "siret": siret, "siren": siret[:9], "name": f"Entreprise synthétique {existing_orgs + i + 1}",
            "legal_form": rng.choice(["SAS", "SARL", "SA", "SASU"]), "headcount": rng.randint(1, 1500),
            "department": rng.choice(departments), "naf_code": "6201Z", "size_category": rng.choice(sizes),
            "created_at": now,
        })
    for start in range(0, len(org_rows), batch):
        session.execute(insert(Organisation), org_rows[start:start + batch])
    org_ids = session.execute(
        select(Organisation.id).order_by(Organisation.id.desc()).limit(n_orgs)
    ).scalars().all()

    states, weights = zip(*SCALE_STATES)
    per_call = {c.id: 0 for c in calls}
    assignment = [calls[i % len(calls)] for i in range(n)]
    for c in assignment:
        per_call[c.id] += 1
    numbers = {c.id: iter(reserve_numbers(session, c.file_prefix, now.year, per_call[c.id])) for c in calls}
    versions = {c.id: current_version(session, c.workflow_name) for c in calls}
    words = ["IA", "vision", "prévision", "maintenance", "qualité", "énergie", "santé", "logistique", "agriculture", "robotique"]
    rows = []
    inserted = 0
    for i, call in enumerate(assignment):
        state = rng.choices(states, weights)[0]
        created = now - timedelta(minutes=rng.randint(60, 60 * 24 * 120))
        rows.append({
            "reference": f"{call.file_prefix}-{now.year}-{next(numbers[call.id]):04d}",
            "call_id": call.id, "organisation_id": rng.choice(org_ids),
            "title": f"Projet {rng.choice(words)} {rng.choice(words)} n°{i + 1}", "state": state,
            "requested_amount_cents": rng.randrange(5_000 * EURO, (call.max_aid_cents or 500_000 * EURO) + 1, 100 * EURO),
            "workflow_version": versions[call.id], "version": 1, "created_at": created, "updated_at": created,
            "submitted_at": None if state == "draft" else created + timedelta(hours=rng.randint(1, 48)),
        })
        if len(rows) >= batch:
            session.execute(insert(Application), rows)
            inserted += len(rows)
            rows = []
    if rows:
        session.execute(insert(Application), rows)
        inserted += len(rows)
    audit.record(session, actor=None, role="system", object_type="application", object_id="*", action="seed_scale",
                 after={"files": inserted, "organisations": n_orgs})
    return inserted
