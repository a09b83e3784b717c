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
from app.callforms import builtin_definition
from app.operations.accounts import DEMO_PASSWORD, create_user
from app.operations.demo_instruction import seed_instruction
from app.operations.drafts import current_form, publish_form
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
        status="published", workflow_name="ami_numerique", aid_regime="gber:25",
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
    forms = {
        ami.id: publish_form(session, ami, builtin_definition("ami_numerique"), actor=None),
        pack.id: publish_form(session, pack, builtin_definition("pack_ia"), actor=None),
    }

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
        people = DEMO_CONTACTS[org.department]
        for call in (pack, ami):
            version = current_version(session, call.workflow_name)
            for i, state in enumerate(DEMO_STATES[offset::2] if call is ami else DEMO_STATES[1 - offset::2]):
                created = now - timedelta(days=40 - 3 * i)
                amount = (35_000 + 2_500 * i) * EURO if call is pack else (180_000 + 40_000 * i) * EURO
                title = titles[call.file_prefix][i % 4]
                build = pack_ia_answers if call is pack else ami_answers
                answers = build(org, owner, people, title, amount, i, now, complete=state != "draft")
                application = Application(
                    reference=next_reference(session, call.file_prefix, now.year), call=call, organisation=org,
                    created_by=owner, title=title, state=state,
                    requested_amount_cents=amount,
                    workflow_version=version, created_at=created, updated_at=created,
                    submitted_at=None if state == "draft" else created + timedelta(days=2),
                    form_version_id=forms[call.id].id, answers=answers,
                )
                session.add(application)
                session.flush()
                audit.record(session, actor=None, role="system", object_type="application", object_id=application.reference,
                             action="seed", after={"state": state, "call": call.reference})
                count += 1
    from app.ledger.demo import seed_envelopes, seed_ledger
    from app.operations.demo_committee import seed_committee_demo
    from app.operations.demo_finance import seed_finance
    from app.operations.demo_letters import seed_letters
    from app.operations.demo_payments import seed_payments
    from app.operations.demo_scoring import seed_scoring

    seed_ledger(session, plan)  # accounts, reservations and commitments of approved files, advances
    seed_scoring(session)  # more AMI files in instruction, submitted reviews: the ranking shows
    seed_finance(session, plan, [ami, pack], [org1, org2], users)  # decided files, commitments and payments
    seed_payments(session, plan)  # agreements, payment requests at several stages, co-financing
    seed_committee_demo(session)  # committee members, a decided session, an upcoming agenda
    seed_instruction(session)  # assignments, expert invitations, a private note, a saved view
    seed_letters(session)  # deliberation numbers where none, decision letters, notifications
    seed_envelopes(session, plan, org1)  # axis budgets, payment credits, a holding linked to a company
    audit.record(session, actor=None, role="system", object_type="plan", object_id=plan.id, action="seed_demo",
                 after={"calls": [ami.reference, pack.reference], "files": count})
    return {"users": len(users), "calls": 2, "files": count}


# Contact people and bank accounts of the demo organisations, by department.
DEMO_CONTACTS = {
    "51": {"fonction": "Directrice des opérations", "telephone": "03 26 47 21 90",
           "iban": "FR1710278010010002345678912"},
    "88": {"fonction": "Gérant", "telephone": "03 29 64 18 35", "iban": "FR7017906000320008765432155"},
}

PACK_DESCRIPTIONS = {
    "Maintenance prédictive de la ligne d'usinage": (
        "Nos centres d'usinage s'arrêtent en moyenne six fois par an sur panne de broche. Le projet consiste à "
        "exploiter les données de vibration et de courant déjà collectées pour prédire ces pannes trois semaines à "
        "l'avance, avec un prestataire spécialisé qui développera et déploiera le modèle, puis formera nos équipes."),
    "Tri automatique des pièces par vision": (
        "Le contrôle visuel des pièces en sortie de ligne est fait à la main. Une caméra et un modèle de vision "
        "entraîné sur nos défauts (rayures, bavures, porosités) trieront les pièces non conformes en temps réel."),
    "Prévision de la demande pour l'atelier": (
        "Les commandes de nos clients varient fortement d'un mois à l'autre. Un modèle de prévision entraîné sur "
        "cinq ans d'historique de ventes nous permettra de planifier la production et les achats de matière."),
    "Assistant de devis par IA": (
        "La rédaction d'un devis prend en moyenne deux heures. Un assistant entraîné sur nos devis passés proposera "
        "temps de cycle, matière et prix à partir des plans des clients, validés ensuite par un technicien."),
}
AMI_DEFIS = {
    "Détection précoce des maladies de la vigne": "bioeconomie",
    "Jumeau numérique d'un procédé de fermentation": "bioeconomie",
    "Aide au diagnostic en imagerie dermatologique": "sante",
    "Optimisation énergétique d'une fonderie": "industrie",
}


def _split(total: int, shares: list[int]) -> list[int]:
    """``total`` cents in parts proportional to ``shares`` (percent), summing exactly."""
    parts = [total * s // 100 for s in shares[:-1]]
    return [*parts, total - sum(parts)]


def _contact(owner: User, people: dict[str, str]) -> dict[str, object]:
    return {"contact_nom": owner.name, "contact_email": owner.email, "contact_telephone": people["telephone"],
            "iban": people["iban"]}


def pack_ia_answers(org: Organisation, owner: User, people: dict[str, str], title: str, amount: int, i: int,
                    now: datetime, *, complete: bool) -> dict[str, object]:
    """Plausible answers to the Pack IA form; a draft has only its first sections."""
    start = (now + timedelta(days=60 + 15 * i)).astimezone(PARIS).date().isoformat()
    answers: dict[str, object] = {
        "siret_etablissement": org.siret, "departement_etablissement": org.department, "effectif": org.headcount,
        "chiffre_affaires": org.turnover_cents, "code_naf": org.naf_code, "date_creation": "2009-04-01",
        "jamais_aidee_ia": True, "pas_startup": True, "pas_en_difficulte": True, "finances_saines": True,
        "aides_de_minimis_3_ans": 2_000_000 * (i % 3),
        "diagnostic_ia_realise": i % 2 == 0,
        "titre_projet": title, "description_projet": PACK_DESCRIPTIONS[title],
    }
    if i % 2 == 0:
        answers.update({"diagnostic_ia_organisme": "Grand E-nov+ (diagnostic IA)", "diagnostic_ia_date": "2025-10-14"})
    if not complete:
        answers.update({"nature_projet": "prestation", "aide_demandee": amount})
        return answers
    expenses = amount * 2  # the aid covers half of the costs
    lines = _split(expenses, [70, 20, 10])
    answers.update({
        "nature_projet": "prestation", "prestataire_nom": "Datavosges Conseil", "prestataire_grand_est": True,
        "prestataire_siret": make_siret(44556677), "date_debut": start, "duree_mois": 12,
        "depenses": [
            {"categorie": "prestation_externe", "description": "Développement et déploiement du modèle", "montant_ht": lines[0]},
            {"categorie": "prestation_externe", "description": "Accompagnement et formation des équipes", "montant_ht": lines[1]},
            {"categorie": "autre", "description": "Capteurs et stockage des données", "montant_ht": lines[2]},
        ],
        "aide_demandee": amount,
        "contact_fonction": people["fonction"],
        **_contact(owner, people),
    })
    return answers


def ami_answers(org: Organisation, owner: User, people: dict[str, str], title: str, amount: int, i: int,
                now: datetime, *, complete: bool) -> dict[str, object]:
    """Plausible answers to the AMI « Économie Numérique » form."""
    defi = AMI_DEFIS[title]
    answers: dict[str, object] = {
        "siret_porteur": org.siret, "type_structure": "entreprise", "departement_porteur": org.department,
        "effectif": org.headcount, "defi": defi, "titre_projet": title,
        "resume": f"{title} : une solution d'intelligence artificielle conçue avec des acteurs régionaux et "
                  "expérimentée en conditions réelles dans le Grand Est.",
    }
    if defi == "sante":
        answers.update({"donnees_sante": True, "hebergeur_hds": True,
                        "etablissement_partenaire": "CHU de Reims — service de dermatologie"})
    elif defi == "industrie":
        answers["etablissement_partenaire"] = "Fonderie de l'Est, site de Hayange"
    if not complete:
        answers["aide_demandee"] = amount
        return answers
    expenses = amount * 5 // 2  # the Region funds 40 %
    lines = _split(expenses, [55, 25, 12, 8])
    cofinancing = expenses * 30 // 100
    answers.update({
        "secteurs_applicatifs": ["vision", "prevision"],
        "description_technique": (
            "État de l'art : les approches actuelles reposent sur des règles expertes peu robustes. Verrou : disposer "
            "de données annotées en quantité suffisante. Solution : un apprentissage semi-supervisé sur les données "
            "des partenaires, validé sur un site pilote. Plan de travail en quatre lots sur 24 mois."),
        "trl_initial": 3, "trl_vise": 6, "date_debut": (now + timedelta(days=90)).astimezone(PARIS).date().isoformat(),
        "duree_mois": 24, "part_grand_est": "85",
        "en_consortium": True,
        "partenaires": [
            {"nom": "Laboratoire lorrain de recherche en informatique", "siret": None, "type": "laboratoire",
             "role": "Conception des modèles et publication des résultats"},
            {"nom": "Coopérative agricole de la Marne", "siret": make_siret(77889900), "type": "entreprise",
             "role": "Fourniture et annotation des données, site pilote"},
        ],
        "depenses": [
            {"categorie": "personnel", "description": "Ingénieurs en apprentissage automatique (2 ETP)", "montant_ht": lines[0]},
            {"categorie": "prestation_externe", "description": "Annotation des données", "montant_ht": lines[1]},
            {"categorie": "equipement", "description": "Serveur de calcul GPU", "montant_ht": lines[2]},
            {"categorie": "frais_generaux", "description": "Frais généraux forfaitaires", "montant_ht": lines[3]},
        ],
        "cofinancements": [
            {"financeur": "etat_france_2030", "montant": cofinancing * 2 // 3, "statut": "sollicite"},
            {"financeur": "industriel", "montant": cofinancing - cofinancing * 2 // 3, "statut": "acquis"},
        ],
        "aide_demandee": amount,
        **_contact(owner, people),
    })
    return answers


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
    form_ids = {c.id: (form.id if (form := current_form(session, c)) is not None else None) for c in calls}
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
            "workflow_version": versions[call.id], "form_version_id": form_ids[call.id], "answers": {},
            "version": 1, "created_at": created, "updated_at": created,
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
