"""Committee operations (DOMAIN.md §6): committees and members, sessions and
agendas, attendance and proxies, withdrawals (« déport »), votes, decisions
and minutes. They flush, never commit; each writes its audit row.

Rules
    * Quorum: ``Committee.quorum`` members present or represented, by default
      the majority of the members in office. A member takes part in an item
      when in office, not withdrawn from it, and present — or represented by a
      proxy holder who is present and not withdrawn from it. The quorum of an
      item counts the members taking part in it: a withdrawal can break it.
    * A member holds at most one proxy, for one session (unique constraint).
    * Result: majority of the votes cast (for vs against), abstentions left
      out; a tie follows the committee's rule: the chair's casting vote (the
      chair's own vote for or against decides; otherwise rejection) or
      rejection.
    * The committee may lower the amount, never raise it above the proposal.
    * Closing a vote decides each item in one SAVEPOINT: deliberation number,
      the file's decision fields, the workflow's ``approve`` (ledger
      reservation) or ``reject`` transition, the audit rows. A refusal of the
      ledger rolls the whole closing back and is reported with its reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Iterable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app import audit
from app.access import staff_call_ids
from app.errors import UserFacingError
from app.formatting import PARIS, money
from app.formatting import translate as _
from app.jobs import enqueue_after_commit
from app.models import (AgendaItem, Application, Attendance, Committee, CommitteeMember, CommitteeSession,
                        InterestDeclaration, Membership, Organisation, User, Vote, Withdrawal, utcnow)
from app.models.committee import ATTENDANCE_STATUSES, COMMITTEE_KINDS, TIE_RULES, VOTE_CHOICES

STAFF_ROLES = ("admin", "instructor")
# Staff who read sessions (finance follows the decisions).
READER_ROLES = ("admin", "instructor", "finance")
# Public webmail domains: sharing one of them says nothing about a link.
WEBMAIL_DOMAINS = frozenset({
    "gmail.com", "googlemail.com", "yahoo.fr", "yahoo.com", "hotmail.fr", "hotmail.com", "outlook.fr", "outlook.com",
    "live.fr", "live.com", "msn.com", "orange.fr", "wanadoo.fr", "free.fr", "sfr.fr", "neuf.fr", "laposte.net",
    "bbox.fr", "icloud.com", "me.com", "aol.com", "gmx.fr", "gmx.com", "protonmail.com", "proton.me", "tutanota.com",
})


class CommitteeError(UserFacingError):
    status = 422


# --- committees and members -----------------------------------------------------

def create_committee(session: Session, *, name: str, code: str, kind: str = "commission_permanente",
                     quorum: int | None = None, tie_rule: str = "chair", chair: User | None = None,
                     actor: User | None, role: str) -> Committee:
    code = code.strip().upper()
    if not name.strip() or not code:
        raise CommitteeError(_("Indiquez le nom et le code de la commission."))
    if kind not in COMMITTEE_KINDS or tie_rule not in TIE_RULES:
        raise CommitteeError(_("Type de commission ou règle de partage inconnus."))
    if quorum is not None and quorum < 1:
        raise CommitteeError(_("Le quorum doit être d'au moins un membre."))
    if session.execute(select(Committee.id).where(Committee.code == code)).scalar() is not None:
        raise CommitteeError(_("Le code %(code)s est déjà celui d'une autre commission.", code=code))
    committee = Committee(name=name.strip(), code=code, kind=kind, quorum=quorum, tie_rule=tie_rule,
                          chair_id=chair.id if chair else None)
    session.add(committee)
    session.flush()
    audit.record(session, actor=actor, role=role, object_type="committee", object_id=committee.id,
                 action="create_committee", after={"name": committee.name, "code": code, "kind": kind,
                                                   "quorum": quorum, "tie_rule": tie_rule})
    return committee


def add_member(session: Session, committee: Committee, user: User, *, actor: User | None, role: str,
               since: date | None = None) -> CommitteeMember:
    if not user.has_role("committee"):
        raise CommitteeError(_("%(name)s n'a pas le rôle « commission ».", name=user.name))
    existing = next((m for m in committee.members if m.user_id == user.id), None)
    if existing is not None:
        if existing.in_office:
            raise CommitteeError(_("%(name)s est déjà membre de cette commission.", name=user.name))
        existing.in_office = True
        member = existing
    else:
        member = CommitteeMember(committee=committee, user=user, since=since)
        session.add(member)
    session.flush()
    audit.record(session, actor=actor, role=role, object_type="committee", object_id=committee.id,
                 action="add_member", after={"user": user.id})
    return member


def end_mandate(session: Session, member: CommitteeMember, *, actor: User | None, role: str) -> None:
    member.in_office = False
    session.flush()
    audit.record(session, actor=actor, role=role, object_type="committee", object_id=member.committee_id,
                 action="end_mandate", after={"user": member.user_id})


def set_chair(session: Session, committee: Committee, user: User, *, actor: User | None, role: str) -> None:
    if not is_member(committee, user):
        raise CommitteeError(_("%(name)s n'est pas membre en exercice de cette commission.", name=user.name))
    before = committee.chair_id
    committee.chair_id = user.id
    session.flush()
    audit.record(session, actor=actor, role=role, object_type="committee", object_id=committee.id,
                 action="set_chair", before={"chair": before}, after={"chair": user.id})


def is_member(committee: Committee, user: User) -> bool:
    return any(m.user_id == user.id and m.in_office for m in committee.members)


def committees_of(session: Session, user: User) -> list[Committee]:
    return list(session.execute(
        select(Committee).join(CommitteeMember).where(CommitteeMember.user_id == user.id,
                                                      CommitteeMember.in_office.is_(True)).order_by(Committee.name)
    ).scalars())


# --- sessions and agendas ---------------------------------------------------------

def plan_session(session: Session, committee: Committee, *, held_at: datetime, place: str, actor: User | None,
                 role: str) -> CommitteeSession:
    if not place.strip():
        raise CommitteeError(_("Indiquez le lieu de la séance."))
    cs = CommitteeSession(committee=committee, held_at=held_at, place=place.strip(), status="planned")
    session.add(cs)
    session.flush()
    audit.record(session, actor=actor, role=role, object_type="committee_session", object_id=cs.id,
                 action="plan_session", after={"committee": committee.code, "held_at": held_at.isoformat(),
                                               "place": cs.place})
    return cs


def session_date(cs: CommitteeSession) -> date:
    return cs.held_at.astimezone(PARIS).date()


def _editable(cs: CommitteeSession) -> None:
    if cs.status not in ("planned", "open"):
        raise CommitteeError(_("La séance est close : son ordre du jour ne change plus."))


def files_ready(session: Session) -> list[Application]:
    """Files in the state « committee » with a proposed amount, not on an agenda whose vote is still to come."""
    pending = select(AgendaItem.application_id).where(AgendaItem.vote_status != "closed")
    return list(session.execute(
        select(Application).where(Application.state == "committee", Application.proposed_amount_cents.is_not(None),
                                  Application.id.not_in(pending)).order_by(Application.reference)
    ).scalars())


def add_item(session: Session, cs: CommitteeSession, application: Application, *, actor: User | None, role: str,
             block: str | None = None) -> AgendaItem:
    _editable(cs)
    if application.state != "committee":
        raise CommitteeError(_("Le dossier %(ref)s n'est pas prêt pour la commission.", ref=application.reference))
    if not application.proposed_amount_cents:
        raise CommitteeError(_("Le dossier %(ref)s n'a pas de montant proposé.", ref=application.reference))
    pending = session.execute(select(AgendaItem.id).where(AgendaItem.application_id == application.id,
                                                          AgendaItem.vote_status != "closed")).scalar()
    if pending is not None:
        raise CommitteeError(_("Le dossier %(ref)s est déjà inscrit à un ordre du jour.", ref=application.reference))
    position = (session.execute(select(func.max(AgendaItem.position)).where(AgendaItem.session_id == cs.id)).scalar()
                or 0) + 1
    item = AgendaItem(session=cs, application=application, position=position, block=_block(block),
                      proposed_amount_cents=application.proposed_amount_cents,
                      amount_cents=application.proposed_amount_cents, vote_status="pending")
    session.add(item)
    session.flush()
    audit.record(session, actor=actor, role=role, object_type="committee_session", object_id=cs.id,
                 action="add_agenda_item", after={"application": application.reference, "position": position,
                                                  "block": item.block})
    return item


def _block(value: str | None) -> str | None:
    value = (value or "").strip()
    return value[:20] or None


def set_block(session: Session, item: AgendaItem, block: str | None, *, actor: User | None, role: str) -> None:
    _editable(item.session)
    if item.vote_status != "pending":
        raise CommitteeError(_("Le vote sur ce point est ouvert ou clos : il ne change plus de bloc."))
    before = item.block
    item.block = _block(block)
    session.flush()
    audit.record(session, actor=actor, role=role, object_type="agenda_item", object_id=item.id, action="set_block",
                 before={"block": before}, after={"block": item.block})


def set_amount(session: Session, item: AgendaItem, amount_cents: int, *, actor: User | None, role: str) -> None:
    """The committee may lower the amount put to the vote, never raise it above the proposal."""
    if item.vote_status == "closed":
        raise CommitteeError(_("Le vote sur ce point est clos."))
    if amount_cents <= 0:
        raise CommitteeError(_("Le montant doit être positif."))
    if amount_cents > item.proposed_amount_cents:
        raise CommitteeError(_("La commission peut baisser le montant, pas le porter au-delà de la proposition "
                               "(%(amount)s).", amount=money(item.proposed_amount_cents)))
    before = item.amount_cents
    item.amount_cents = amount_cents
    session.flush()
    audit.record(session, actor=actor, role=role, object_type="agenda_item", object_id=item.id, action="set_amount",
                 before={"amount_cents": before}, after={"amount_cents": amount_cents})


def open_session(session: Session, cs: CommitteeSession, *, actor: User | None, role: str) -> None:
    if cs.status != "planned":
        raise CommitteeError(_("Seule une séance prévue peut être ouverte."))
    cs.status = "open"
    session.flush()
    audit.record(session, actor=actor, role=role, object_type="committee_session", object_id=cs.id,
                 action="open_session", before={"status": "planned"}, after={"status": "open"})


def close_session(session: Session, cs: CommitteeSession, *, actor: User | None, role: str) -> None:
    """Close the session; its minutes are drafted (after the commit) until the next session approves them."""
    if cs.status != "open":
        raise CommitteeError(_("Seule une séance ouverte peut être close."))
    if any(item.vote_status == "open" for item in cs.items):
        raise CommitteeError(_("Un vote est encore ouvert : clôturez-le avant de clore la séance."))
    cs.status = "closed"
    session.flush()
    audit.record(session, actor=actor, role=role, object_type="committee_session", object_id=cs.id,
                 action="close_session", before={"status": "open"}, after={"status": "closed"})
    from app.committee_minutes import generate_minutes

    enqueue_after_commit(generate_minutes, cs.id, getattr(actor, "id", None), queue="documents")


def previous_session_to_approve(session: Session, cs: CommitteeSession) -> CommitteeSession | None:
    """The latest closed session of the same committee before ``cs`` whose minutes await approval."""
    return session.execute(
        select(CommitteeSession).where(CommitteeSession.committee_id == cs.committee_id,
                                       CommitteeSession.status == "closed", CommitteeSession.held_at < cs.held_at)
        .order_by(CommitteeSession.held_at.desc()).limit(1)
    ).scalar_one_or_none()


def approve_minutes(session: Session, previous: CommitteeSession, at: CommitteeSession, *, actor: User | None,
                    role: str) -> None:
    """The minutes of ``previous`` are approved at the session ``at`` (the next one, open)."""
    if at.status != "open":
        raise CommitteeError(_("Les procès-verbaux s'approuvent en séance ouverte."))
    if previous.committee_id != at.committee_id or previous.held_at >= at.held_at:
        raise CommitteeError(_("Un procès-verbal s'approuve lors d'une séance suivante de la même commission."))
    if previous.status != "closed":
        raise CommitteeError(_("Ce procès-verbal n'est pas en attente d'approbation."))
    if quorum(at).reached is False:
        raise CommitteeError(_("Le quorum n'est pas atteint."))
    previous.status = "minutes_approved"
    previous.minutes_approved_at = utcnow()
    previous.minutes_approved_in_id = at.id
    session.flush()
    audit.record(session, actor=actor, role=role, object_type="committee_session", object_id=previous.id,
                 action="approve_minutes", before={"status": "closed"},
                 after={"status": "minutes_approved", "approved_in": at.id})
    from app.committee_minutes import generate_minutes

    enqueue_after_commit(generate_minutes, previous.id, getattr(actor, "id", None), queue="documents")


# --- attendance, proxies ------------------------------------------------------------

def attendance_of(cs: CommitteeSession, user_id: int) -> Attendance | None:
    return next((a for a in cs.attendances if a.user_id == user_id), None)


def set_attendance(session: Session, cs: CommitteeSession, member: User, status: str, *,
                   proxy_holder: User | None = None, actor: User | None, role: str) -> Attendance:
    """Present, absent, or represented by ``proxy_holder`` (a member in office, who
    holds no other proxy for this session and is not represented himself)."""
    if cs.status not in ("planned", "open"):
        raise CommitteeError(_("La séance est close : la feuille de présence ne change plus."))
    if status not in ATTENDANCE_STATUSES:
        raise CommitteeError(_("Présence inconnue."))
    committee = cs.committee
    if not is_member(committee, member):
        raise CommitteeError(_("%(name)s n'est pas membre en exercice de cette commission.", name=member.name))
    if status == "represented":
        if proxy_holder is None:
            raise CommitteeError(_("Indiquez le membre qui reçoit la procuration."))
        if proxy_holder.id == member.id:
            raise CommitteeError(_("Un membre ne peut pas se donner procuration à lui-même."))
        if not is_member(committee, proxy_holder):
            raise CommitteeError(_("%(name)s n'est pas membre en exercice de cette commission.", name=proxy_holder.name))
        holder_att = attendance_of(cs, proxy_holder.id)
        if holder_att is not None and holder_att.status != "present":
            raise CommitteeError(_("%(name)s n'est pas présent(e) : la procuration ne peut pas lui être donnée.",
                                   name=proxy_holder.name))
        if any(a.proxy_holder_id == proxy_holder.id and a.user_id != member.id for a in cs.attendances):
            raise CommitteeError(_("%(name)s détient déjà une procuration pour cette séance (une seule par membre).",
                                   name=proxy_holder.name))
    else:
        proxy_holder = None
    if status != "present" and any(a.proxy_holder_id == member.id for a in cs.attendances):
        raise CommitteeError(_("%(name)s détient une procuration : retirez-la avant de le (la) déclarer absent(e) "
                               "ou représenté(e).", name=member.name))
    attendance = attendance_of(cs, member.id)
    before = {"status": attendance.status, "proxy_holder": attendance.proxy_holder_id} if attendance else None
    if attendance is None:
        attendance = Attendance(session=cs, user_id=member.id, status=status)
        session.add(attendance)
    attendance.status = status
    attendance.proxy_holder_id = proxy_holder.id if proxy_holder else None
    attendance.recorded_at = utcnow()
    session.flush()
    audit.record(session, actor=actor, role=role, object_type="committee_session", object_id=cs.id,
                 action="set_attendance", before=before,
                 after={"user": member.id, "status": status, "proxy_holder": attendance.proxy_holder_id})
    return attendance


@dataclass(frozen=True)
class Quorum:
    count: int
    required: int
    in_office: int

    @property
    def reached(self) -> bool:
        return self.count >= self.required


def participants(cs: CommitteeSession, item: AgendaItem | None = None) -> dict[int, int]:
    """Members taking part (in ``item``, or in the session): voter id → id of who casts the vote."""
    withdrawn = {w.user_id for w in item.withdrawals} if item is not None else set()
    in_office = {m.user_id for m in cs.committee.members_in_office}
    attendance = {a.user_id: a for a in cs.attendances}
    result: dict[int, int] = {}
    for user_id in in_office - withdrawn:
        a = attendance.get(user_id)
        if a is None:
            continue
        if a.status == "present":
            result[user_id] = user_id
        elif a.status == "represented":
            holder = attendance.get(a.proxy_holder_id)
            if (a.proxy_holder_id in in_office and a.proxy_holder_id not in withdrawn and holder is not None
                    and holder.status == "present"):
                result[user_id] = a.proxy_holder_id
    return result


def quorum(cs: CommitteeSession, item: AgendaItem | None = None) -> Quorum:
    committee = cs.committee
    return Quorum(count=len(participants(cs, item)), required=committee.required_quorum,
                  in_office=len(committee.members_in_office))


# --- links and withdrawals ------------------------------------------------------------

def link_flags(session: Session, item: AgendaItem, users: Iterable[User]) -> dict[int, list[str]]:
    """Obvious links between members and the applicant organisation: membership,
    an e-mail domain shared with its users (public webmail aside), a declared interest."""
    users = list(users)
    org = item.application.organisation
    flags: dict[int, list[str]] = {u.id: [] for u in users}
    member_ids = set(session.execute(select(Membership.user_id).where(Membership.organisation_id == org.id)).scalars())
    org_emails = session.execute(select(User.email).join(Membership, Membership.user_id == User.id)
                                 .where(Membership.organisation_id == org.id)).scalars()
    domains = {e.rsplit("@", 1)[-1] for e in org_emails} - WEBMAIL_DOMAINS
    declared = set(session.execute(
        select(InterestDeclaration.user_id).join(Organisation, Organisation.id == InterestDeclaration.organisation_id)
        .where(Organisation.siren == org.siren)
    ).scalars())
    for user in users:
        if user.id in member_ids:
            flags[user.id].append(_("membre de l'organisation %(org)s", org=org.name))
        elif user.email.rsplit("@", 1)[-1] in domains:
            flags[user.id].append(_("même domaine de messagerie que %(org)s", org=org.name))
        if user.id in declared:
            flags[user.id].append(_("intérêt déclaré pour %(org)s", org=org.name))
    return flags


def declare_withdrawal(session: Session, item: AgendaItem, member: User, *, reason: str, actor: User | None,
                       role: str) -> Withdrawal:
    if item.vote_status == "closed":
        raise CommitteeError(_("Le vote sur ce point est clos."))
    if not is_member(item.session.committee, member):
        raise CommitteeError(_("%(name)s n'est pas membre en exercice de cette commission.", name=member.name))
    if any(w.user_id == member.id for w in item.withdrawals):
        raise CommitteeError(_("Ce déport est déjà enregistré."))
    if any(v.voter_id == member.id or v.cast_by_id == member.id for v in item.votes):
        raise CommitteeError(_("%(name)s a déjà voté sur ce point : le déport se déclare avant le vote.",
                               name=member.name))
    withdrawal = Withdrawal(item=item, user_id=member.id, reason=(reason or "").strip())
    session.add(withdrawal)
    session.flush()
    session.refresh(item, ["withdrawals"])
    audit.record(session, actor=actor, role=role, object_type="agenda_item", object_id=item.id,
                 action="declare_withdrawal", after={"user": member.id, "application": item.application.reference},
                 reason=withdrawal.reason or None)
    return withdrawal


def declare_interest(session: Session, user: User, organisation: Organisation, description: str) -> InterestDeclaration:
    if not description.strip():
        raise CommitteeError(_("Décrivez l'intérêt déclaré."))
    declaration = InterestDeclaration(user_id=user.id, organisation_id=organisation.id, description=description.strip())
    session.add(declaration)
    session.flush()
    audit.record(session, actor=user, role="committee", object_type="interest_declaration", object_id=declaration.id,
                 action="declare_interest", after={"organisation": organisation.siret})
    return declaration


# --- votes -------------------------------------------------------------------------------

def items_for(cs: CommitteeSession, key: str) -> list[AgendaItem]:
    """``item:<id>`` or ``block:<label>`` → the items voted together."""
    kind, _sep, value = key.partition(":")
    if kind == "item" and value.isdigit():
        items = [i for i in cs.items if i.id == int(value)]
    elif kind == "block" and value:
        items = [i for i in cs.items if i.block == value]
    else:
        items = []
    if not items:
        raise CommitteeError(_("Point de l'ordre du jour introuvable."), status=404)
    return items


def open_vote(session: Session, items: list[AgendaItem], *, actor: User | None, role: str) -> None:
    """No vote opens without quorum, checked per item (withdrawals count)."""
    cs = items[0].session
    if cs.status != "open":
        raise CommitteeError(_("La séance n'est pas ouverte."))
    for item in items:
        if item.vote_status != "pending":
            raise CommitteeError(_("Le vote sur %(ref)s est déjà ouvert ou clos.", ref=item.application.reference))
        q = quorum(cs, item)
        if not q.reached:
            raise CommitteeError(_("Quorum non atteint pour %(ref)s : %(count)s membre(s) présent(s) ou représenté(s) "
                                   "prenant part au vote, %(required)s requis.", ref=item.application.reference,
                                   count=q.count, required=q.required))
    for item in items:
        item.vote_status = "open"
        session.flush()
        audit.record(session, actor=actor, role=role, object_type="agenda_item", object_id=item.id,
                     action="open_vote", after={"application": item.application.reference})


def cast_vote(session: Session, items: list[AgendaItem], voter: User, choice: str, *, cast_by: User,
              actor: User | None, role: str) -> int:
    """``cast_by`` votes for ``voter`` (himself, or the member whose proxy he holds);
    staff record a show of hands for any member taking part. Items the voter is
    withdrawn from are skipped. Returns the number of items voted."""
    if choice not in VOTE_CHOICES:
        raise CommitteeError(_("Choix de vote inconnu."))
    staff = role in STAFF_ROLES
    done = 0
    for item in items:
        if item.vote_status != "open":
            raise CommitteeError(_("Le vote sur %(ref)s n'est pas ouvert.", ref=item.application.reference))
        taking_part = participants(item.session, item)
        if voter.id not in taking_part:
            continue
        if not staff and taking_part[voter.id] != cast_by.id:
            raise CommitteeError(_("Vous ne pouvez pas voter pour %(name)s.", name=voter.name), status=403)
        vote = next((v for v in item.votes if v.voter_id == voter.id), None)
        if vote is None:
            vote = Vote(item=item, voter_id=voter.id, cast_by_id=taking_part[voter.id], choice=choice)
            session.add(vote)
        vote.choice, vote.cast_by_id, vote.cast_at = choice, taking_part[voter.id], utcnow()
        session.flush()
        audit.record(session, actor=actor, role=role, object_type="agenda_item", object_id=item.id,
                     action="cast_vote", after={"voter": voter.id, "cast_by": vote.cast_by_id, "choice": choice})
        done += 1
    if done == 0:
        raise CommitteeError(_("%(name)s ne prend part au vote sur aucun de ces points.", name=voter.name))
    return done


@dataclass(frozen=True)
class Tally:
    votes_for: int
    against: int
    abstain: int


def tally(item: AgendaItem) -> Tally:
    """Votes of the members taking part now (closed items: the recorded count)."""
    if item.vote_status == "closed":
        return Tally(item.votes_for or 0, item.votes_against or 0, item.votes_abstain or 0)
    taking_part = participants(item.session, item)
    choices = [v.choice for v in item.votes if v.voter_id in taking_part]
    return Tally(choices.count("for"), choices.count("against"), choices.count("abstain"))


def result_of(item: AgendaItem, count: Tally) -> tuple[str, bool]:
    """(decision, decided by the chair's casting vote)."""
    if count.votes_for > count.against:
        return "approved", False
    if count.against > count.votes_for:
        return "rejected", False
    committee = item.session.committee
    if committee.tie_rule == "chair" and committee.chair_id is not None:
        chair_vote = next((v for v in item.votes if v.voter_id == committee.chair_id
                           and committee.chair_id in participants(item.session, item)), None)
        if chair_vote is not None and chair_vote.choice in ("for", "against"):
            return ("approved" if chair_vote.choice == "for" else "rejected"), True
    return "rejected", False


def next_deliberation_number(session: Session, cs: CommitteeSession) -> str:
    prefix = f"{cs.committee.code}-{session_date(cs).isoformat()}-"
    taken = session.execute(select(AgendaItem.deliberation_number)
                            .where(AgendaItem.deliberation_number.like(prefix + "%"))).scalars().all()
    last = max((int(n[len(prefix):]) for n in taken if n[len(prefix):].isdigit()), default=0)
    return f"{prefix}{last + 1:03d}"


def close_vote(session: Session, items: list[AgendaItem], *, actor: User | None, role: str) -> list[AgendaItem]:
    """Decide each item in one SAVEPOINT; a ledger refusal (or any refusal) leaves
    nothing written and is raised with its reason."""
    from app.ledger import LedgerRefused
    from app.operations.transitions import TransitionRefused, transition

    cs = items[0].session
    for item in items:
        if item.vote_status != "open":
            raise CommitteeError(_("Le vote sur %(ref)s n'est pas ouvert.", ref=item.application.reference))
        q = quorum(cs, item)
        if not q.reached:
            raise CommitteeError(_("Quorum non atteint pour %(ref)s : %(count)s sur %(required)s requis.",
                                   ref=item.application.reference, count=q.count, required=q.required))
        if item.amount_cents > (item.application.proposed_amount_cents or 0):
            raise CommitteeError(_("Le montant voté pour %(ref)s dépasse la proposition.",
                                   ref=item.application.reference))
    current: AgendaItem | None = None
    try:
        with session.begin_nested():
            for item in items:
                current = item
                _decide(session, item, actor=actor, role=role, transition=transition)
    except LedgerRefused as exc:
        raise CommitteeError(_("Le vote sur %(ref)s ne peut pas être clos : %(reason)s",
                               ref=current.application.reference if current else "", reason=exc.message)) from None
    except TransitionRefused as exc:
        raise CommitteeError(_("Le vote sur %(ref)s ne peut pas être clos : %(reason)s",
                               ref=current.application.reference if current else "",
                               reason=" ".join(exc.messages))) from None
    return items


def _decide(session: Session, item: AgendaItem, *, actor: User | None, role: str, transition) -> None:
    count = tally(item)
    decision, casting = result_of(item, count)
    cs = item.session
    application = item.application
    number = next_deliberation_number(session, cs)
    item.votes_for, item.votes_against, item.votes_abstain = count.votes_for, count.against, count.abstain
    item.casting_vote = casting
    item.decision = decision
    item.vote_status = "closed"
    item.decided_at = utcnow()
    item.deliberation_number = number
    application.deliberation_number = item.deliberation_number
    application.decided_on = session_date(cs)
    application.awarded_amount_cents = item.amount_cents if decision == "approved" else None
    session.flush()
    audit.record(session, actor=actor, role=role, object_type="agenda_item", object_id=item.id,
                 action="close_vote",
                 after={"application": application.reference, "decision": decision,
                        "deliberation_number": item.deliberation_number, "amount_cents": item.amount_cents,
                        "for": count.votes_for, "against": count.against, "abstain": count.abstain,
                        "casting_vote": casting, "withdrawn": sorted(w.user_id for w in item.withdrawals)})
    # The workflow's transition as the committee: approve reserves the amount in the ledger.
    transition(session, application, "approve" if decision == "approved" else "reject", actor=actor,
               role="committee", reason=_("Délibération %(number)s", number=item.deliberation_number))


def decision_of(session: Session, application: Application) -> str | None:
    """The committee's latest decision on the file (read by the workflow's guards)."""
    return session.execute(
        select(AgendaItem.decision).where(AgendaItem.application_id == application.id,
                                          AgendaItem.decision.is_not(None))
        .order_by(AgendaItem.decided_at.desc(), AgendaItem.id.desc()).limit(1)
    ).scalar()


# --- visibility ----------------------------------------------------------------------------

def visible_sessions(session: Session, user: User) -> list[CommitteeSession]:
    """Staff and finance see every session of their calls; a committee member, those of the committees he sits on."""
    stmt = select(CommitteeSession).order_by(CommitteeSession.held_at.desc())
    calls = staff_call_ids(user, READER_ROLES)
    if calls is None:
        return list(session.execute(stmt).scalars())
    if calls:  # staff of some calls: the sessions of those calls, and those of the member's committees
        return [cs for cs in session.execute(stmt).scalars() if can_view_session(user, cs)]
    mine = select(CommitteeMember.committee_id).where(CommitteeMember.user_id == user.id,
                                                      CommitteeMember.in_office.is_(True))
    return list(session.execute(stmt.where(CommitteeSession.committee_id.in_(mine))).scalars())


def staff_covers(user: User, cs: CommitteeSession, roles: tuple[str, ...] = STAFF_ROLES) -> bool:
    """``user`` holds one of ``roles`` globally, or on the call of every file on the session's agenda (an
    instructor of one call neither sees nor runs a session deciding another call's files)."""
    calls = staff_call_ids(user, roles)
    return calls is None or (bool(calls) and all(item.application.call_id in calls for item in cs.items))


def can_view_session(user: User, cs: CommitteeSession) -> bool:
    if staff_covers(user, cs, READER_ROLES):
        return True
    return user.has_role("committee") and is_member(cs.committee, user)


def published_decisions(session: Session) -> list[AgendaItem]:
    """Decided items of the sessions whose minutes are approved, latest first (the public list)."""
    from sqlalchemy.orm import joinedload

    return list(session.execute(
        select(AgendaItem).join(CommitteeSession, CommitteeSession.id == AgendaItem.session_id)
        .where(CommitteeSession.status == "minutes_approved", AgendaItem.decision.is_not(None))
        .options(joinedload(AgendaItem.application).joinedload(Application.organisation),
                 joinedload(AgendaItem.session).joinedload(CommitteeSession.committee))
        .order_by(CommitteeSession.held_at.desc(), AgendaItem.deliberation_number)
    ).scalars())
