"""The minutes (« procès-verbal ») of a committee session in the Region's layout
(``app.documents.Layout``), stored as a versioned document (kind
``minutes:<session id>``), a draft until the next session approves them. The
decision letters fired by ``approve`` and ``reject`` are rendered by
``app.documents.render_decision_letter`` from the file's deliberation number,
decision date and awarded amount, which closing a vote sets."""

from __future__ import annotations

from reportlab.lib.units import mm
from reportlab.platypus import Spacer
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.documents import Layout, store_document
from app.extensions import db
from app.formatting import local_date, local_datetime, money
from app.models import CommitteeSession, Document, User

ATTENDANCE_LABELS = {"present": "Présent(e)", "represented": "Représenté(e)", "absent": "Absent(e)"}
DECISION_LABELS = {"approved": "Aide accordée", "rejected": "Aide refusée"}
CHOICE_LABELS = {"for": "Pour", "against": "Contre", "abstain": "Abstention"}


def minutes_kind(cs: CommitteeSession) -> str:
    return f"minutes:{cs.id}"


def minutes_reference(cs: CommitteeSession) -> str:
    from app.operations.committee import session_date

    return f"PV-{cs.committee.code}-{session_date(cs).isoformat()}"


def render_minutes(session: Session, cs: CommitteeSession) -> bytes:
    from app.operations.committee import participants, quorum, tally

    layout = Layout("Procès-verbal", minutes_reference(cs))
    committee = cs.committee
    names = {u.id: u.name for u in session.execute(select(User).where(User.id.in_(
        [m.user_id for m in committee.members] + [a.proxy_holder_id for a in cs.attendances if a.proxy_holder_id]
    ))).scalars()}
    story: list = [layout.p(f"Procès-verbal — {committee.name}", layout.h1)]
    if cs.status == "minutes_approved":
        approved_in = session.get(CommitteeSession, cs.minutes_approved_in_id) if cs.minutes_approved_in_id else None
        status = "Approuvé" + (f" lors de la séance du {local_date(approved_in.held_at, 'fr')}" if approved_in else "")
    else:
        status = "PROJET — à approuver lors de la prochaine séance"
    story.append(layout.table([
        ["Séance du", local_datetime(cs.held_at, "fr") + " (heure de Paris)"],
        ["Lieu", cs.place],
        ["Président(e)", names.get(committee.chair_id, "—") if committee.chair_id else "—"],
        ["Statut du procès-verbal", status],
    ], [55 * mm, 119 * mm]))

    story.append(layout.p("Présences", layout.h2))
    attendance = {a.user_id: a for a in cs.attendances}
    rows: list[list[object]] = [["Membre", "Présence", "Procuration à"]]
    for member in committee.members_in_office:
        a = attendance.get(member.user_id)
        rows.append([names.get(member.user_id, ""), ATTENDANCE_LABELS[a.status] if a else "Absent(e)",
                     names.get(a.proxy_holder_id, "") if a and a.proxy_holder_id else ""])
    story.append(layout.table(rows, [70 * mm, 45 * mm, 59 * mm], header=True))
    q = quorum(cs)
    story.append(Spacer(1, 2 * mm))
    story.append(layout.p(
        f"Quorum : {q.count} membre(s) présent(s) ou représenté(s) sur {q.in_office} en exercice, "
        f"{q.required} requis — quorum {'atteint' if q.reached else 'non atteint'}."))

    story.append(layout.p("Délibérations", layout.h2))
    if not cs.items:
        story.append(layout.p("Aucun point à l'ordre du jour."))
    for item in cs.items:
        application = item.application
        title = f"Point {item.position} — {application.reference} : {application.title}"
        if item.block:
            title += f" (vote en bloc {item.block})"
        story.append(layout.p(title, layout.label))
        lines = [f"Porteur : {application.organisation.name} — montant proposé : {money(item.proposed_amount_cents, 'fr')}"]
        for w in item.withdrawals:
            lines.append(f"{names.get(w.user_id, '')} ne prend pas part au vote" + (f" ({w.reason})" if w.reason else "")
                         + ".")
        if item.decision is None:
            lines.append("Point non délibéré.")
        else:
            count = tally(item)
            item_quorum = len(participants(cs, item))
            lines.append(f"Votants : {item_quorum} — pour : {count.votes_for}, contre : {count.against}, "
                         f"abstentions : {count.abstain}" + (" — voix prépondérante du président" if item.casting_vote
                                                              else "") + ".")
            decision = f"Décision : {DECISION_LABELS[item.decision]} — délibération n° {item.deliberation_number}"
            if item.decision == "approved":
                decision += f" — montant accordé : {money(item.amount_cents, 'fr')}"
                if item.amount_cents < item.proposed_amount_cents:
                    decision += " (montant réduit par la commission)"
            lines.append(decision + ".")
            if item.decision == "approved" and item.conditions:
                lines.append(f"Conditions : {item.conditions}")
        for line in lines:
            story.append(layout.p(line, layout.answer))
    return layout.build(story)


def generate_minutes(session_id: int, actor_id: int | None = None) -> int:
    """Job: render and store a new version of the session's minutes; returns the document id."""
    cs = db.session.get(CommitteeSession, session_id)
    if cs is None:
        raise LookupError(f"no committee session with id {session_id}")
    document = store_document(db.session, None, minutes_kind(cs), render_minutes(db.session, cs), actor_id)
    db.session.commit()
    return document.id


def latest_minutes(session: Session, cs: CommitteeSession) -> Document | None:
    return session.execute(
        select(Document).where(Document.application_id.is_(None), Document.kind == minutes_kind(cs))
        .order_by(Document.version.desc()).limit(1)
    ).scalar_one_or_none()
