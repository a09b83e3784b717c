"""Demo data for scoring: the AMI « Économie Numérique » gets twelve more files
in instruction (from the two demo companies), and every AMI file in
instruction or at committee gets submitted reviews from the demo expert and
the demo instructor, so its ranking, funding line, disagreement flag and
elimination show. No account or organisation is added.

Called once from ``seed_demo`` (after the ledger); flushes, never commits.
"""

from __future__ import annotations

import random
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

import scoring
from app import audit
from app.models import (Application, Call, ConflictDeclaration, ExpertInvitation, Membership, Organisation, Review, User,
                        utcnow)
from app.references import next_reference
from app.workflow_versions import current_version

EURO = 100
REVIEWERS = ("demo-instructor@guichet.test", "demo-expert@guichet.test")

# title, challenge of the AMI form whose answers are reused, requested amount (€), quality 0–10
PROJECTS = [
    ("Prévision des rendements viticoles par imagerie satellite", "Détection précoce des maladies de la vigne", 420_000, 8),
    ("Contrôle qualité des bouteilles par vision", "Détection précoce des maladies de la vigne", 380_000, 6),
    ("Optimisation des moules de fonderie par apprentissage", "Optimisation énergétique d'une fonderie", 480_000, 7),
    ("Maintenance prédictive des fours à induction", "Optimisation énergétique d'une fonderie", 450_000, 7),
    ("Tri des urgences par analyse des comptes rendus", "Aide au diagnostic en imagerie dermatologique", 470_000, 9),
    ("Détection des chutes en EHPAD par capteurs", "Aide au diagnostic en imagerie dermatologique", 350_000, 4),
    ("Pilotage de bioréacteurs par jumeau numérique", "Jumeau numérique d'un procédé de fermentation", 490_000, 8),
    ("Valorisation des coproduits agricoles par IA", "Jumeau numérique d'un procédé de fermentation", 400_000, 5),
    ("Planification des vendanges par prévision météo locale", "Détection précoce des maladies de la vigne", 440_000, 6),
    ("Détection des défauts de coulée par radiographie", "Optimisation énergétique d'une fonderie", 460_000, 7),
    ("Lecture assistée des radiographies pulmonaires", "Aide au diagnostic en imagerie dermatologique", 480_000, 6),
    ("Prévision de la qualité des biomasses par spectrométrie", "Jumeau numérique d'un procédé de fermentation", 430_000, 6),
]
DISSENT = "Détection des chutes en EHPAD par capteurs"  # one reviewer far above the other
ELIMINATED = "Valorisation des coproduits agricoles par IA"  # « Éthique » below its threshold


def _add_files(session: Session, call: Call) -> None:
    from app.operations.demo import DEMO_CONTACTS, ami_answers

    now = utcnow()
    version = current_version(session, call.workflow_name)
    form = call.current_form
    owners = session.execute(
        select(Organisation, User).join(Membership, Membership.organisation_id == Organisation.id)
        .join(User, User.id == Membership.user_id).where(Membership.is_owner.is_(True)).order_by(Organisation.id)
    ).all()
    for i, (title, template, amount, _quality) in enumerate(PROJECTS):
        org, owner = owners[i % len(owners)]
        answers = ami_answers(org, owner, DEMO_CONTACTS[org.department], template, amount * EURO, i, now, complete=True)
        answers.update({"titre_projet": title,
                        "resume": f"{title} : une solution d'intelligence artificielle conçue avec des acteurs "
                                  "régionaux et expérimentée en conditions réelles dans le Grand Est."})
        created = now - timedelta(days=50 - i)
        application = Application(
            reference=next_reference(session, call.file_prefix, now.year), call=call, organisation=org,
            created_by=owner, title=title, state="instruction", requested_amount_cents=amount * EURO,
            workflow_version=version, created_at=created, updated_at=created,
            submitted_at=created + timedelta(days=1), form_version_id=form.id if form else None, answers=answers,
        )
        session.add(application)
        session.flush()
        audit.record(session, actor=None, role="system", object_type="application", object_id=application.reference,
                     action="seed", after={"state": "instruction", "call": call.reference})


def _scores(grid: scoring.Grid, quality: int, rng: random.Random, bias: int) -> tuple[dict[str, int], dict[str, str]]:
    scores = {c.code: max(grid.scale.min, min(grid.scale.max, quality + bias + rng.randint(-1, 1))) for c in grid.criteria}
    comments = {}
    for c in grid.criteria:
        if c.comment_required_below is not None and scores[c.code] < c.comment_required_below:
            comments[c.code] = f"{c.label} : insuffisant au regard des attendus de l'appel."
    return scores, comments


def seed_scoring(session: Session) -> dict[str, int]:
    """More AMI files in instruction, and submitted reviews on every scorable AMI file."""
    call = session.execute(select(Call).where(Call.reference == "AMI-ECONUM-2026")).scalar_one()
    grid = scoring.load_grid(call.workflow_name)
    reviewers = [session.execute(select(User).where(User.email == e)).scalar_one() for e in REVIEWERS]
    _add_files(session, call)
    qualities = {title: quality for title, _t, _a, quality in PROJECTS}
    files = session.execute(
        select(Application).where(Application.call_id == call.id, Application.state.in_(("instruction", "committee")))
        .order_by(Application.id)
    ).scalars().all()
    rng = random.Random(20261122)
    count = 0
    for k, application in enumerate(files):
        quality = qualities.get(application.title, 7)
        for j, reviewer in enumerate(reviewers):
            # Reviewers are invited (experts) and have declared no conflict of interest before scoring.
            role = "instructor" if reviewer.email == REVIEWERS[0] else "expert"
            if role == "expert":
                session.add(ExpertInvitation(application_id=application.id, expert_id=reviewer.id,
                                             invited_by_id=reviewers[0].id, due_on=utcnow().date() + timedelta(days=14)))
            session.add(ConflictDeclaration(application_id=application.id, user_id=reviewer.id, role=role,
                                            has_conflict=False))
            if k == 0 and reviewer.email == "demo-expert@guichet.test":
                # Left for the demo expert to finish: a partial draft, listed in « Mes avis ».
                session.add(Review(application_id=application.id, reviewer_id=reviewer.id, reviewer_role="expert",
                                   grid_name=grid.name, scores={"reponse_defi": 7, "innovation": 6}, comments={},
                                   status="draft", opinion=""))
                continue
            bias = 5 if application.title == DISSENT and j == 1 else (0, 1)[j]
            scores, comments = _scores(grid, quality, rng, bias)
            if application.title == ELIMINATED:
                scores["ethique"] = 1
                comments["ethique"] = "Aucune analyse des biais ni de la protection des données."
            assert not scoring.validate_review(grid, scores, comments)
            review = Review(application_id=application.id, reviewer_id=reviewer.id,
                            reviewer_role="instructor" if reviewer.email == REVIEWERS[0] else "expert",
                            grid_name=grid.name, scores=scores, comments=comments, status="submitted",
                            submitted_at=utcnow() - timedelta(days=5 - j), opinion=_opinion(quality + bias))
            session.add(review)
            count += 1
    session.flush()
    audit.record(session, actor=None, role="system", object_type="call", object_id=call.reference,
                 action="seed_reviews", after={"files": len(files), "reviews": count})
    return {"files": len(files), "reviews": count}


def _opinion(level: int) -> str:
    if level >= 8:
        return "Projet remarquable : défi bien compris, équipe solide, impact régional fort. Avis très favorable."
    if level >= 6:
        return "Projet sérieux et cohérent ; le plan de travail mériterait des jalons plus précis. Avis favorable."
    if level >= 4:
        return "Projet intéressant mais fragile sur la faisabilité et l'accès aux données. Avis réservé."
    return "Le projet ne répond pas au défi posé. Avis défavorable."
