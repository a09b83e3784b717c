"""Committee sessions: quorum, proxies, withdrawals, votes, ties, blocks, the
ledger check before closing a vote, amounts, minutes (DOMAIN.md §6)."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from pypdf import PdfReader
from sqlalchemy import func, select

from app.committee_minutes import render_minutes
from app.models import AgendaItem, Application, AuditEntry, InstructionReport, LedgerEntry, utcnow
from app.operations import committee as ops
from tests.factories import make_application, make_call, make_organisation, make_user

STAFF = "admin"


class Board:
    """A committee of ``n`` members in office, one open session, files at committee."""

    def __init__(self, session, n: int = 5, *, quorum: int | None = None, tie_rule: str = "chair",
                 budget_cents: int = 2_000_000_00, envelope_cents: int | None = None,
                 ceiling_cents: int | None = None, held_at=None):
        self.s = session
        self.admin = make_user(session, "admin", name="Admin")
        self.members = [make_user(session, "committee", name=f"Membre {i}") for i in range(n)]
        self.committee = ops.create_committee(session, name="Commission permanente", code="CP", quorum=quorum,
                                              tie_rule=tie_rule, chair=self.members[0], actor=self.admin, role=STAFF)
        for m in self.members:
            ops.add_member(session, self.committee, m, actor=self.admin, role=STAFF)
        self.call = make_call(session, budget_cents=budget_cents, max_aid_cents=None)
        self.plan = self.call.axis.plan  # 2025–2029; its ledger accounts are created at the first reservation
        if envelope_cents is not None:
            self.plan.envelope_cents = envelope_cents
        if ceiling_cents is not None:
            self.plan.yearly_ceiling_cents = ceiling_cents
        session.flush()
        self.applicant = make_user(session, "applicant", email=f"owner{id(self)}@entreprise-a.fr")
        self.org = make_organisation(session, self.applicant)
        self.cs = ops.plan_session(session, self.committee, held_at=held_at or utcnow() + timedelta(days=1),
                                   place="Strasbourg", actor=self.admin, role=STAFF)

    def ready(self, proposed: int = 40_000_00, *, call=None, report: bool = True, state: str = "committee") -> Application:
        """A file with the instructor's proposal and (unless told) report."""
        application = make_application(self.s, call or self.call, self.org, state=state, amount_cents=proposed)
        application.proposed_amount_cents = proposed
        if report:
            self.s.add(InstructionReport(application_id=application.id, expense_decisions={},
                                         opinion="Avis favorable de l'instruction."))
        self.s.flush()
        return application

    def file(self, proposed: int = 40_000_00, block: str | None = None) -> AgendaItem:
        return ops.add_item(self.s, self.cs, self.ready(proposed), actor=self.admin, role=STAFF, block=block)

    def attend(self, present: int, represented: dict[int, int] | None = None) -> None:
        """Members [0, present) present; ``represented`` maps member index → proxy holder index."""
        for i in range(present):
            ops.set_attendance(self.s, self.cs, self.members[i], "present", actor=self.admin, role=STAFF)
        for i, holder in (represented or {}).items():
            ops.set_attendance(self.s, self.cs, self.members[i], "represented", proxy_holder=self.members[holder],
                               actor=self.admin, role=STAFF)

    def open(self) -> None:
        ops.open_session(self.s, self.cs, actor=self.admin, role=STAFF)

    def vote(self, items, choices: dict[int, str]) -> None:
        for i, choice in choices.items():
            voter = self.members[i]
            holder = ops.participants(self.cs, items[0]).get(voter.id, voter.id)
            cast_by = next(m for m in self.members if m.id == holder)
            ops.cast_vote(self.s, items, voter, choice, cast_by=cast_by, actor=cast_by, role="committee")

    def decide(self, items, choices: dict[int, str]) -> None:
        ops.open_vote(self.s, items, actor=self.admin, role=STAFF)
        self.vote(items, choices)
        ops.close_vote(self.s, items, actor=self.admin, role=STAFF)


@pytest.fixture
def board(session):
    return Board(session)


# --- quorum -----------------------------------------------------------------------

def test_default_quorum_is_the_majority_of_members_in_office(board):
    assert board.committee.required_quorum == 3
    item = board.file()
    board.open()
    board.attend(2)
    assert ops.quorum(board.cs).count == 2 and not ops.quorum(board.cs).reached
    with pytest.raises(ops.CommitteeError, match="Quorum non atteint"):
        ops.open_vote(board.s, [item], actor=board.admin, role=STAFF)
    assert item.vote_status == "pending"


def test_a_represented_member_counts_towards_the_quorum(board):
    item = board.file()
    board.open()
    board.attend(2, {2: 0})
    assert ops.quorum(board.cs, item).count == 3
    ops.open_vote(board.s, [item], actor=board.admin, role=STAFF)
    assert item.vote_status == "open"


def test_a_member_in_office_counts_only_while_in_office(board):
    ops.end_mandate(board.s, board.committee.members[4], actor=board.admin, role=STAFF)
    ops.end_mandate(board.s, board.committee.members[3], actor=board.admin, role=STAFF)
    assert board.committee.required_quorum == 2  # majority of 3 in office


def test_configured_quorum(session):
    board = Board(session, 5, quorum=4)
    item = board.file()
    board.open()
    board.attend(3)
    with pytest.raises(ops.CommitteeError, match="3 membre"):
        ops.open_vote(session, [item], actor=board.admin, role=STAFF)
    board.attend(0, {3: 1})
    ops.open_vote(session, [item], actor=board.admin, role=STAFF)


def test_a_withdrawal_leaves_the_member_out_of_the_quorum_of_that_item_only(board):
    conflicted, other = board.file(), board.file()
    board.open()
    board.attend(3)
    ops.declare_withdrawal(board.s, conflicted, board.members[1], reason="Administrateur", actor=board.members[1],
                           role="committee")
    assert ops.quorum(board.cs, conflicted).count == 2
    assert ops.quorum(board.cs, other).count == 3
    with pytest.raises(ops.CommitteeError, match="Quorum non atteint"):
        ops.open_vote(board.s, [conflicted], actor=board.admin, role=STAFF)
    ops.open_vote(board.s, [other], actor=board.admin, role=STAFF)


def test_a_proxy_falls_when_its_holder_withdraws(board):
    item = board.file()
    board.open()
    board.attend(3, {3: 2})
    assert ops.quorum(board.cs, item).count == 4
    ops.declare_withdrawal(board.s, item, board.members[2], reason="", actor=board.admin, role=STAFF)
    assert ops.participants(board.cs, item) == {board.members[0].id: board.members[0].id,
                                                board.members[1].id: board.members[1].id}


# --- proxies ----------------------------------------------------------------------------

def test_a_member_holds_at_most_one_proxy(board):
    board.attend(2, {2: 0})
    with pytest.raises(ops.CommitteeError, match="déjà une procuration"):
        ops.set_attendance(board.s, board.cs, board.members[3], "represented", proxy_holder=board.members[0],
                           actor=board.admin, role=STAFF)
    ops.set_attendance(board.s, board.cs, board.members[3], "represented", proxy_holder=board.members[1],
                       actor=board.admin, role=STAFF)


def test_a_proxy_goes_to_a_present_member_not_to_oneself(board):
    board.attend(1)
    ops.set_attendance(board.s, board.cs, board.members[1], "absent", actor=board.admin, role=STAFF)
    with pytest.raises(ops.CommitteeError, match="pas présent"):
        ops.set_attendance(board.s, board.cs, board.members[2], "represented", proxy_holder=board.members[1],
                           actor=board.admin, role=STAFF)
    with pytest.raises(ops.CommitteeError, match="lui-même"):
        ops.set_attendance(board.s, board.cs, board.members[2], "represented", proxy_holder=board.members[2],
                           actor=board.admin, role=STAFF)


def test_a_proxy_is_valid_for_its_session_only(board):
    board.attend(2, {2: 0})
    later = ops.plan_session(board.s, board.committee, held_at=utcnow() + timedelta(days=30), place="Metz",
                             actor=board.admin, role=STAFF)
    assert ops.quorum(later).count == 0


def test_a_proxy_vote_is_cast_by_its_holder_only(board):
    item = board.file()
    board.open()
    board.attend(3, {3: 0})
    ops.open_vote(board.s, [item], actor=board.admin, role=STAFF)
    with pytest.raises(ops.CommitteeError, match="ne pouvez pas voter"):
        ops.cast_vote(board.s, [item], board.members[3], "for", cast_by=board.members[1], actor=board.members[1],
                      role="committee")
    ops.cast_vote(board.s, [item], board.members[3], "against", cast_by=board.members[0], actor=board.members[0],
                  role="committee")
    vote = item.votes[0]
    assert (vote.voter_id, vote.cast_by_id, vote.choice) == (board.members[3].id, board.members[0].id, "against")


# --- results, ties ---------------------------------------------------------------------

def test_majority_of_votes_cast_abstentions_left_out(board):
    item = board.file()
    board.open()
    board.attend(5)
    board.decide([item], {0: "abstain", 1: "for", 2: "for", 3: "abstain", 4: "against"})
    # 2 of 5 members in favour, but 2 of the 3 votes cast.
    assert (item.decision, item.votes_for, item.votes_against, item.votes_abstain) == ("approved", 2, 1, 2)
    assert item.casting_vote is False


def test_tie_with_the_chairs_casting_vote(session):
    board = Board(session, 4, tie_rule="chair")
    approved, rejected = board.file(), board.file()
    board.open()
    board.attend(4)
    board.decide([approved], {0: "for", 1: "for", 2: "against", 3: "against"})
    assert (approved.decision, approved.casting_vote) == ("approved", True)
    board.decide([rejected], {0: "against", 1: "for", 2: "for", 3: "against"})
    assert (rejected.decision, rejected.casting_vote) == ("rejected", True)


def test_tie_is_rejected_when_the_chair_abstains_or_has_withdrawn(session):
    board = Board(session, 5, tie_rule="chair")
    abstained, withdrawn = board.file(), board.file()
    board.open()
    board.attend(5)
    board.decide([abstained], {0: "abstain", 1: "for", 2: "against"})
    assert (abstained.decision, abstained.casting_vote) == ("rejected", False)
    ops.declare_withdrawal(session, withdrawn, board.members[0], reason="", actor=board.members[0], role="committee")
    board.decide([withdrawn], {1: "for", 2: "against", 3: "abstain"})
    assert (withdrawn.decision, withdrawn.casting_vote) == ("rejected", False)


def test_tie_rejected_under_the_rejection_rule(session):
    board = Board(session, 4, tie_rule="reject")
    item = board.file()
    board.open()
    board.attend(4)
    board.decide([item], {0: "for", 1: "for", 2: "against", 3: "against"})
    assert (item.decision, item.casting_vote) == ("rejected", False)


def test_approval_moves_the_file_on_reserves_and_numbers_the_deliberation(board):
    first, second = board.file(), board.file(60_000_00)
    board.open()
    board.attend(3)
    board.decide([first], {0: "for", 1: "for", 2: "against"})
    board.decide([second], {0: "against", 1: "against", 2: "for"})
    day = ops.session_date(board.cs).isoformat()
    assert first.deliberation_number == f"CP-{day}-001"
    assert second.deliberation_number == f"CP-{day}-002"
    a, b = first.application, second.application
    assert (a.state, a.awarded_amount_cents, a.deliberation_number, a.decided_on) == (
        "approved", 40_000_00, f"CP-{day}-001", ops.session_date(board.cs))
    assert (b.state, b.awarded_amount_cents, b.deliberation_number) == ("rejected", None, f"CP-{day}-002")
    from app.ledger import file_balance

    assert file_balance(board.s, a).reserved_cents == 40_000_00
    assert (first.votes_for, first.votes_against, first.votes_abstain) == (2, 1, 0)
    actions = board.s.execute(select(AuditEntry.action).where(AuditEntry.object_id == a.reference)).scalars().all()
    assert "transition:approve" in actions and "ledger_reserve" in actions


def test_a_withdrawn_member_is_out_of_the_tally(board):
    item = board.file()
    board.open()
    board.attend(4)
    ops.declare_withdrawal(board.s, item, board.members[3], reason="Associé", actor=board.members[3], role="committee")
    ops.open_vote(board.s, [item], actor=board.admin, role=STAFF)
    with pytest.raises(ops.CommitteeError, match="ne prend part au vote"):
        ops.cast_vote(board.s, [item], board.members[3], "for", cast_by=board.members[3], actor=board.members[3],
                      role="committee")
    board.vote([item], {0: "for", 1: "against", 2: "against"})
    ops.close_vote(board.s, [item], actor=board.admin, role=STAFF)
    assert (item.votes_for, item.votes_against, item.decision) == (1, 2, "rejected")


def test_no_withdrawal_after_voting(board):
    item = board.file()
    board.open()
    board.attend(3)
    ops.open_vote(board.s, [item], actor=board.admin, role=STAFF)
    board.vote([item], {1: "for"})
    with pytest.raises(ops.CommitteeError, match="déjà voté"):
        ops.declare_withdrawal(board.s, item, board.members[1], reason="", actor=board.members[1], role="committee")


# --- blocks --------------------------------------------------------------------------------

def test_a_block_vote_decides_every_item_of_the_block(board):
    a, b = board.file(block="A"), board.file(block="A")
    alone = board.file()
    board.open()
    board.attend(4)
    ops.declare_withdrawal(board.s, b, board.members[3], reason="", actor=board.members[3], role="committee")
    block = ops.items_for(board.cs, "block:A")
    assert block == [a, b]
    board.decide(block, {0: "for", 1: "for", 2: "abstain", 3: "against"})
    assert (a.decision, a.votes_for, a.votes_against, a.votes_abstain) == ("approved", 2, 1, 1)
    assert (b.decision, b.votes_for, b.votes_against, b.votes_abstain) == ("approved", 2, 0, 1)
    assert a.deliberation_number != b.deliberation_number
    assert alone.vote_status == "pending"


# --- amounts -----------------------------------------------------------------------------------

def test_the_committee_may_lower_the_amount_never_raise_it(board):
    item = board.file(50_000_00)
    with pytest.raises(ops.CommitteeError, match="pas le porter au-delà"):
        ops.set_amount(board.s, item, 50_000_01, actor=board.admin, role=STAFF)
    assert item.amount_cents == 50_000_00
    ops.set_amount(board.s, item, 30_000_00, actor=board.admin, role=STAFF)
    board.open()
    board.attend(3)
    board.decide([item], {0: "for", 1: "for", 2: "for"})
    assert item.application.awarded_amount_cents == 30_000_00
    from app.ledger import file_balance

    assert file_balance(board.s, item.application).reserved_cents == 30_000_00


# --- the ledger before closing -------------------------------------------------------------------

def test_an_approval_the_ledger_cannot_cover_is_refused_and_nothing_is_written(session):
    board = Board(session, 3, budget_cents=50_000_00)
    covered, short = board.file(30_000_00), board.file(30_000_00)
    board.open()
    board.attend(3)
    board.decide([covered], {0: "for", 1: "for", 2: "for"})
    ops.open_vote(session, [short], actor=board.admin, role=STAFF)
    board.vote([short], {0: "for", 1: "for", 2: "against"})
    audit_rows = session.execute(select(func.count(AuditEntry.id))).scalar()
    entries = session.execute(select(func.count(LedgerEntry.id))).scalar()
    with pytest.raises(ops.CommitteeError, match=f"{short.application.reference} ne peut pas être clos") as caught:
        ops.close_vote(session, [short], actor=board.admin, role=STAFF)
    assert "appel" in caught.value.message.lower() or "budget" in caught.value.message.lower()
    session.expire_all()
    short = session.get(AgendaItem, short.id)
    assert (short.vote_status, short.decision, short.deliberation_number) == ("open", None, None)
    application = session.get(Application, short.application_id)
    assert (application.state, application.deliberation_number, application.awarded_amount_cents) == (
        "committee", None, None)
    assert session.execute(select(func.count(AuditEntry.id))).scalar() == audit_rows
    assert session.execute(select(func.count(LedgerEntry.id))).scalar() == entries
    # Lowered within what is left, the same vote closes.
    ops.set_amount(session, short, 20_000_00, actor=board.admin, role=STAFF)
    ops.close_vote(session, [short], actor=board.admin, role=STAFF)
    assert short.decision == "approved"


def test_a_block_with_one_uncovered_approval_is_refused_as_a_whole(session):
    board = Board(session, 3, budget_cents=50_000_00)
    a, b = board.file(30_000_00, block="A"), board.file(30_000_00, block="A")
    board.open()
    board.attend(3)
    ops.open_vote(session, [a, b], actor=board.admin, role=STAFF)
    board.vote([a, b], {0: "for", 1: "for", 2: "for"})
    with pytest.raises(ops.CommitteeError, match=b.application.reference):
        ops.close_vote(session, [a, b], actor=board.admin, role=STAFF)
    session.expire_all()
    assert [session.get(AgendaItem, i.id).decision for i in (a, b)] == [None, None]
    assert session.get(Application, a.application_id).state == "committee"


# --- links ---------------------------------------------------------------------------------------

def test_obvious_links_are_flagged(board, session):
    from app.models import Membership

    item = board.file()
    colleague = make_user(session, "committee", email="elu@entreprise-a.fr", name="Collègue")
    webmail = make_user(session, "committee", email="elu@gmail.com", name="Webmail")
    owner_webmail = make_user(session, "applicant", email="owner@gmail.com")
    session.add(Membership(user=owner_webmail, organisation=board.org))
    insider = make_user(session, "committee", email="insider@outlook.fr", name="Insider")
    session.add(Membership(user=insider, organisation=board.org))
    session.flush()
    ops.declare_interest(session, board.members[2], board.org, "Conjoint salarié")
    flags = ops.link_flags(session, item, [colleague, webmail, insider, *board.members[2:4]])
    assert any("domaine" in f for f in flags[colleague.id])
    assert flags[webmail.id] == []
    assert any("membre de l'organisation" in f for f in flags[insider.id])
    assert any("intérêt déclaré" in f for f in flags[board.members[2].id])
    assert flags[board.members[3].id] == []


# --- minutes ----------------------------------------------------------------------------------------

def pdf_text(content: bytes) -> str:
    return " ".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


def test_minutes_show_attendance_quorum_counts_withdrawals_and_decisions(board, session):
    item, other = board.file(), board.file()
    board.open()
    board.attend(3, {3: 0})
    ops.declare_withdrawal(session, item, board.members[2], reason="Lien familial", actor=board.members[2],
                           role="committee")
    board.decide([item], {0: "for", 1: "for", 3: "against"})
    ops.close_session(session, board.cs, actor=board.admin, role=STAFF)
    text = " ".join(pdf_text(render_minutes(session, board.cs)).split())
    assert "PROJET" in text
    assert "Membre 3 Représenté(e) Membre 0" in text
    assert "4 membre(s) présent(s) ou représenté(s) sur 5" in text
    assert "Membre 2 ne prend pas part au vote (Lien familial)" in text
    assert "pour : 2, contre : 1, abstentions : 0" in text
    assert item.deliberation_number in text and "Aide accordée" in text
    assert other.application.reference in text and "Point non délibéré" in text

    nxt = ops.plan_session(session, board.committee, held_at=utcnow() + timedelta(days=20), place="Metz",
                           actor=board.admin, role=STAFF)
    ops.open_session(session, nxt, actor=board.admin, role=STAFF)
    for m in board.members[:3]:
        ops.set_attendance(session, nxt, m, "present", actor=board.admin, role=STAFF)
    assert ops.previous_session_to_approve(session, nxt) is board.cs
    ops.approve_minutes(session, board.cs, nxt, actor=board.admin, role=STAFF)
    assert board.cs.status == "minutes_approved"
    text = " ".join(pdf_text(render_minutes(session, board.cs)).split())
    assert "PROJET" not in text and "Approuvé lors de la séance" in text


def test_minutes_are_approved_only_at_a_later_open_session(board, session):
    board.open()
    board.attend(3)
    with pytest.raises(ops.CommitteeError):
        ops.approve_minutes(session, board.cs, board.cs, actor=board.admin, role=STAFF)


# --- conditions of an approval -------------------------------------------------------------------

KBIS = "Sous réserve de la production du Kbis de moins de trois mois."


def test_an_approval_carries_its_conditions_into_the_audit_the_letter_and_the_minutes(board, session):
    from app.documents import render_decision_letter

    granted, refused = board.file(), board.file()
    board.open()
    board.attend(3)
    ops.open_vote(session, [granted], actor=board.admin, role=STAFF)
    board.vote([granted], {0: "for", 1: "for", 2: "against"})
    ops.close_vote(session, [granted], actor=board.admin, role=STAFF, conditions=f"  {KBIS}\n")
    ops.open_vote(session, [refused], actor=board.admin, role=STAFF)
    board.vote([refused], {0: "against", 1: "against"})
    ops.close_vote(session, [refused], actor=board.admin, role=STAFF, conditions="Sans objet")
    assert granted.conditions == KBIS and granted.application.state == "approved"
    assert refused.conditions is None and refused.application.state == "rejected"  # a refusal carries none
    closing = session.execute(select(AuditEntry).where(AuditEntry.object_type == "agenda_item",
                                                       AuditEntry.object_id == str(granted.id),
                                                       AuditEntry.action == "close_vote")).scalar_one()
    assert closing.after["conditions"] == KBIS
    assert ops.approval_conditions(session, granted.application) == KBIS
    assert ops.approval_conditions(session, refused.application) is None

    letter = " ".join(pdf_text(render_decision_letter(session, granted.application)).split())
    assert "Conditions particulières" in letter and KBIS in letter
    assert granted.deliberation_number in letter and "tribunal administratif de Strasbourg" in letter
    assert "Conditions particulières" not in " ".join(pdf_text(render_decision_letter(session, refused.application)).split())

    ops.close_session(session, board.cs, actor=board.admin, role=STAFF)
    minutes = " ".join(pdf_text(render_minutes(session, board.cs)).split())
    assert f"Conditions : {KBIS}" in minutes
    assert minutes.count("Conditions :") == 1

    # As the letters job renders it (the file alone in the session): one query brings the organisation, the
    # call, the reason, the call's own text and the conditions, and the letter says the same.
    from app.extensions import db
    from app.models import Application, LetterTemplate
    from tests.factories import recorded_statements

    session.add(LetterTemplate(call_id=granted.application.call_id, kind="decision_approval",
                               body="Texte propre à l'appel : aide accordée au dossier {reference}."))
    session.commit()
    application_id, reference = granted.application.id, granted.application.reference
    session.expunge_all()
    application = session.get(Application, application_id)
    with recorded_statements(db.engine) as statements:
        alone = " ".join(pdf_text(render_decision_letter(session, application)).split())
    assert len(statements) == 1, statements
    assert f"Texte propre à l'appel : aide accordée au dossier {reference}." in alone and KBIS in alone


def test_conditions_too_long_are_refused_and_nothing_is_decided(board, session):
    item = board.file()
    board.open()
    board.attend(3)
    ops.open_vote(session, [item], actor=board.admin, role=STAFF)
    board.vote([item], {0: "for", 1: "for"})
    with pytest.raises(ops.CommitteeError) as exc:
        ops.close_vote(session, [item], actor=board.admin, role=STAFF, conditions="x" * (ops.CONDITIONS_MAX + 1))
    assert "ne peuvent dépasser 2000 caractères" in exc.value.message
    assert (item.vote_status, item.decision, item.conditions, item.application.state) == ("open", None, None, "committee")


def test_staff_record_conditions_from_the_session_page_and_see_them(app, board, session):
    from tests.factories import login

    item = board.file()
    board.open()
    board.attend(3)
    ops.open_vote(session, [item], actor=board.admin, role=STAFF)
    board.vote([item], {0: "for", 1: "for"})
    session.commit()
    staff = app.test_client()
    login(staff, board.admin.email)
    from html import unescape

    page = unescape(staff.get(f"/commission/seances/{board.cs.id}").get_data(as_text=True))
    assert 'name="conditions"' in page and "Conditions de l'aide (facultatif)" in page
    response = staff.post(f"/commission/seances/{board.cs.id}/votes/clore",
                          data={"key": f"item:{item.id}", "conditions": KBIS}, follow_redirects=True)
    assert "la délibération est enregistrée" in response.get_data(as_text=True)
    from app.documents import document_path, latest_document
    from tests.conftest import run_queued_jobs

    run_queued_jobs(app)  # the decision letter, rendered after the commit by the approve transition's job
    session.expire_all()
    item = session.get(AgendaItem, item.id)
    assert (item.decision, item.conditions) == ("approved", KBIS)
    stored = latest_document(session, item.application, "decision_letter")
    letter = " ".join(pdf_text(document_path(stored).read_bytes()).split())
    assert KBIS in letter and item.deliberation_number in letter
    assert KBIS in staff.get(f"/commission/seances/{board.cs.id}").get_data(as_text=True)
    member = app.test_client()
    login(member, board.members[1].email)
    assert KBIS in member.get(f"/commission/seances/{board.cs.id}/points/{item.id}").get_data(as_text=True)


# --- files ready for the committee, the report on the agenda ----------------------------------------

def audit_count(session) -> int:
    return session.execute(select(func.count(AuditEntry.id))).scalar()


def test_files_ready_are_at_committee_with_a_proposal_and_a_report_and_awaiting_no_other_vote(board, session):
    ready = board.ready()
    board.ready(state="instruction")                       # not yet at committee
    no_proposal = board.ready()
    no_proposal.proposed_amount_cents = None
    board.ready(report=False)                              # no instruction report
    on_agenda = board.ready()
    ops.add_item(session, board.cs, on_agenda, actor=board.admin, role=STAFF)
    # On the agenda of a session closed without deliberating it: the file is offered again.
    left_over = board.ready()
    earlier = ops.plan_session(session, board.committee, held_at=utcnow() - timedelta(days=30), place="Metz",
                               actor=board.admin, role=STAFF)
    ops.add_item(session, earlier, left_over, actor=board.admin, role=STAFF)
    ops.open_session(session, earlier, actor=board.admin, role=STAFF)
    ops.close_session(session, earlier, actor=board.admin, role=STAFF)
    session.flush()
    assert ops.files_ready(session) == sorted([ready, left_over], key=lambda a: a.reference)
    # ... and it goes on the next agenda.
    item = ops.add_item(session, board.cs, left_over, actor=board.admin, role=STAFF)
    assert item.vote_status == "pending"
    assert ops.files_ready(session) == [ready]


def test_files_ready_for_staff_scoped_to_a_call_are_that_calls_only(board, session):
    mine = board.ready()
    other_call = make_call(session, max_aid_cents=None)
    theirs = board.ready(call=other_call)
    scoped = make_user(session, ("instructor", board.call.id))
    assert {a.id for a in ops.files_ready(session)} == {mine.id, theirs.id}
    assert {a.id for a in ops.files_ready(session, board.admin)} == {mine.id, theirs.id}
    assert ops.files_ready(session, scoped) == [mine]
    rows = audit_count(session)
    with pytest.raises(ops.CommitteeError, match="appel sur lequel vous n'avez pas de rôle") as caught:
        ops.add_item(session, board.cs, theirs, actor=scoped, role="instructor")
    assert caught.value.status == 403
    assert board.cs.items == [] and audit_count(session) == rows
    ops.add_item(session, board.cs, mine, actor=scoped, role="instructor")


def test_a_file_without_the_instruction_report_is_not_put_on_the_agenda(board, session):
    application = board.ready(report=False)
    rows = audit_count(session)
    with pytest.raises(ops.CommitteeError, match=f"{application.reference} n'a pas de rapport d'instruction"):
        ops.add_item(session, board.cs, application, actor=board.admin, role=STAFF)
    session.expire_all()
    assert session.execute(select(func.count(AgendaItem.id))).scalar() == 0
    assert audit_count(session) == rows
    without_proposal = board.ready()
    without_proposal.proposed_amount_cents = None
    with pytest.raises(ops.CommitteeError, match="pas de montant proposé"):
        ops.add_item(session, board.cs, without_proposal, actor=board.admin, role=STAFF)


def test_the_report_pdf_is_attached_when_the_file_goes_on_the_agenda(board, session):
    from app.documents import document_path, latest_document
    from app.models import Document
    from app.operations.reviews import REPORT_KIND

    application = board.ready(60_000_00)
    assert latest_document(session, application, REPORT_KIND) is None
    item = ops.add_item(session, board.cs, application, actor=board.admin, role=STAFF)
    report = latest_document(session, application, REPORT_KIND)
    assert report is not None and report.version == 1
    text = " ".join(pdf_text(document_path(report).read_bytes()).split())
    assert "Rapport d'instruction" in text and application.reference in text
    assert "Avis favorable de l'instruction." in text
    row = session.execute(select(AuditEntry).where(AuditEntry.action == "add_agenda_item")
                          .order_by(AuditEntry.id.desc()).limit(1)).scalar_one()
    assert (row.after["report_document"], row.after["report_sha256"]) == (report.id, report.sha256)
    assert item.application_id == application.id
    # A PDF already rendered from the current report is the one attached: no new version.
    other = board.ready()
    from app.documents import store_document
    from app.operations.reviews import render_report

    existing = store_document(session, other, REPORT_KIND, render_report(session, other), board.admin.id)
    ops.add_item(session, board.cs, other, actor=board.admin, role=STAFF)
    versions = session.execute(select(Document.id).where(Document.application_id == other.id,
                                                         Document.kind == REPORT_KIND)).scalars().all()
    assert versions == [existing.id]
    # A report changed since its PDF was rendered: the PDF attached is a new version, from the report as it stands.
    changed = board.ready()
    store_document(session, changed, REPORT_KIND, render_report(session, changed), board.admin.id)
    report = session.execute(select(InstructionReport).where(InstructionReport.application_id == changed.id)).scalar_one()
    report.opinion = "Avis révisé : favorable sous réserve."
    report.updated_at = utcnow() + timedelta(seconds=1)
    session.flush()
    ops.add_item(session, board.cs, changed, actor=board.admin, role=STAFF)
    attached = latest_document(session, changed, REPORT_KIND)
    assert attached.version == 2
    assert "Avis révisé : favorable sous réserve." in " ".join(pdf_text(document_path(attached).read_bytes()).split())


# --- the ledger at the vote: the plan envelope and the yearly ceiling ------------------------------

def _close_refused(session, board, item, *expected: str) -> None:
    """Closing is refused with ``expected`` in the message, and nothing of the closing is written."""
    rows, entries = audit_count(session), session.execute(select(func.count(LedgerEntry.id))).scalar()
    with pytest.raises(ops.CommitteeError, match=f"{item.application.reference} ne peut pas être clos") as caught:
        ops.close_vote(session, [item], actor=board.admin, role=STAFF)
    message = caught.value.message.replace("\u202f", " ").replace("\xa0", " ")
    for part in expected:
        assert part in message, message
    session.expire_all()
    item = session.get(AgendaItem, item.id)
    assert (item.vote_status, item.decision, item.deliberation_number, item.votes_for) == ("open", None, None, None)
    application = session.get(Application, item.application_id)
    assert (application.state, application.deliberation_number, application.awarded_amount_cents,
            application.decided_on) == ("committee", None, None, None)
    assert audit_count(session) == rows
    assert session.execute(select(func.count(LedgerEntry.id))).scalar() == entries


def test_an_approval_beyond_the_plan_envelope_is_refused_before_the_vote_closes(session):
    from app import ledger

    board = Board(session, 3, envelope_cents=50_000_00, ceiling_cents=40_000_00)
    # 30 000 € of the plan already reserved on another year: this year's ceiling is untouched.
    earlier = board.ready(30_000_00)
    ledger.reserve(session, earlier, 30_000_00, year=2025, idempotency_key="earlier-year", actor=board.admin,
                   role=STAFF)
    item = board.file(30_000_00)
    board.open()
    board.attend(3)
    ops.open_vote(session, [item], actor=board.admin, role=STAFF)
    board.vote([item], {0: "for", 1: "for", 2: "for"})
    _close_refused(session, board, item, "l'enveloppe du plan « Plan IA test »", "disponible : 20 000,00")
    item = session.get(AgendaItem, item.id)
    ops.set_amount(session, item, 20_000_00, actor=board.admin, role=STAFF)
    ops.close_vote(session, [item], actor=board.admin, role=STAFF)
    assert (item.decision, item.application.awarded_amount_cents) == ("approved", 20_000_00)


def test_an_approval_beyond_the_yearly_ceiling_is_refused_before_the_vote_closes(session):
    board = Board(session, 3, ceiling_cents=50_000_00)
    year = ops.session_date(board.cs).year
    covered, short = board.file(30_000_00), board.file(30_000_00)
    board.open()
    board.attend(3)
    board.decide([covered], {0: "for", 1: "for", 2: "for"})
    ops.open_vote(session, [short], actor=board.admin, role=STAFF)
    board.vote([short], {0: "for", 1: "for", 2: "against"})
    _close_refused(session, board, short, f"plafond annuel {year} du plan", "disponible : 20 000,00")
    # A rejection needs no money: the same vote, turned against, closes.
    short = session.get(AgendaItem, short.id)
    board.vote([short], {0: "against", 1: "against"})
    ops.close_vote(session, [short], actor=board.admin, role=STAFF)
    assert (short.decision, short.application.state) == ("rejected", "rejected")


# --- the quorum lost between opening and closing the vote -----------------------------------------------

def _lose_quorum(board, item, how: str) -> None:
    s = board.s
    if how == "departure":
        ops.set_attendance(s, board.cs, board.members[2], "absent", actor=board.admin, role=STAFF)
    elif how == "proxy withdrawn":
        ops.set_attendance(s, board.cs, board.members[3], "absent", actor=board.admin, role=STAFF)
    else:
        ops.declare_withdrawal(s, item, board.members[2], reason="Lien découvert en séance", actor=board.members[2],
                               role="committee")


@pytest.mark.parametrize("how", ["departure", "proxy withdrawn", "withdrawal"])
def test_a_vote_whose_quorum_is_lost_is_not_closed_and_nothing_is_written(board, session, how):
    item = board.file()
    board.open()
    if how == "proxy withdrawn":
        board.attend(2, {3: 0})  # 2 present + 1 represented = 3, the quorum of 5 members
    else:
        board.attend(3)
    ops.open_vote(session, [item], actor=board.admin, role=STAFF)
    board.vote([item], {0: "for", 1: "for"})
    _lose_quorum(board, item, how)
    assert ops.quorum(board.cs, item).count == 2
    rows, entries = audit_count(session), session.execute(select(func.count(LedgerEntry.id))).scalar()
    with pytest.raises(ops.CommitteeError, match="Quorum non atteint pour .* 2 sur 3 requis. Le vote reste ouvert"):
        ops.close_vote(session, [item], actor=board.admin, role=STAFF)
    assert (item.vote_status, item.decision, item.deliberation_number) == ("open", None, None)
    assert (item.application.state, item.application.awarded_amount_cents) == ("committee", None)
    assert audit_count(session) == rows
    assert session.execute(select(func.count(LedgerEntry.id))).scalar() == entries
    # The quorum back (another member arrives), the same vote closes.
    ops.set_attendance(session, board.cs, board.members[4], "present", actor=board.admin, role=STAFF)
    ops.close_vote(session, [item], actor=board.admin, role=STAFF)
    assert (item.decision, item.votes_for, item.votes_against) == ("approved", 2, 0)


def test_a_block_is_not_closed_when_one_item_lost_its_quorum(board, session):
    a, b = board.file(block="A"), board.file(block="A")
    board.open()
    board.attend(3)
    block = ops.items_for(board.cs, "block:A")
    ops.open_vote(session, block, actor=board.admin, role=STAFF)
    board.vote(block, {0: "for", 1: "for"})
    ops.declare_withdrawal(session, b, board.members[2], reason="", actor=board.members[2], role="committee")
    with pytest.raises(ops.CommitteeError, match=f"Quorum non atteint pour {b.application.reference}"):
        ops.close_vote(session, block, actor=board.admin, role=STAFF)
    assert [i.vote_status for i in block] == ["open", "open"] and [i.decision for i in block] == [None, None]


def test_the_tally_at_closing_counts_the_members_still_taking_part(board, session):
    item = board.file()
    board.open()
    board.attend(4)
    ops.open_vote(session, [item], actor=board.admin, role=STAFF)
    board.vote([item], {0: "for", 1: "for", 2: "against", 3: "against"})
    # Member 3 leaves before the close; the quorum (3) holds, his vote is no longer counted.
    ops.set_attendance(session, board.cs, board.members[3], "absent", actor=board.admin, role=STAFF)
    ops.close_vote(session, [item], actor=board.admin, role=STAFF)
    assert (item.decision, item.votes_for, item.votes_against, item.casting_vote) == ("approved", 2, 1, False)


def test_a_vote_whose_quorum_is_lost_is_adjourned_then_the_session_closes(board, session):
    item = board.file()
    board.open()
    board.attend(3)
    ops.open_vote(session, [item], actor=board.admin, role=STAFF)
    board.vote([item], {0: "for", 1: "against"})
    with pytest.raises(ops.CommitteeError, match="le vote se clôt, il ne s'ajourne pas"):
        ops.adjourn_vote(session, [item], actor=board.admin, role=STAFF)
    assert item.vote_status == "open" and len(item.votes) == 2
    _lose_quorum(board, item, "withdrawal")
    with pytest.raises(ops.CommitteeError, match="Un vote est encore ouvert"):
        ops.close_session(session, board.cs, actor=board.admin, role=STAFF)
    ops.adjourn_vote(session, [item], actor=board.admin, role=STAFF)
    assert (item.vote_status, item.votes, item.decision) == ("pending", [], None)
    row = session.execute(select(AuditEntry).where(AuditEntry.action == "adjourn_vote")).scalar_one()
    assert sorted(v["choice"] for v in row.before["votes"]) == ["against", "for"]
    with pytest.raises(ops.CommitteeError, match="Quorum non atteint"):
        ops.open_vote(session, [item], actor=board.admin, role=STAFF)
    ops.close_session(session, board.cs, actor=board.admin, role=STAFF)
    assert board.cs.status == "closed" and item.application.state == "committee"
    assert ops.files_ready(session) == [item.application]  # for a later session


# --- the reservation's year: the session's, in Europe/Paris ---------------------------------------------

def test_the_reservation_counts_on_the_year_of_the_session(session):
    from datetime import datetime, timezone

    from app import ledger
    from app.formatting import PARIS
    from app.models import LedgerAccount

    this_year = utcnow().astimezone(PARIS).year
    # 31 December 23:30 UTC is already 1 January in Paris: next year's session.
    board = Board(session, 3, held_at=datetime(this_year, 12, 31, 23, 30, tzinfo=timezone.utc),
                  ceiling_cents=50_000_00)
    # This year's ceiling could not take the grant (10 000 € already reserved): next year's can.
    ledger.reserve(session, board.ready(10_000_00), 10_000_00, year=this_year, idempotency_key="this-year",
                   actor=board.admin, role=STAFF)
    item = board.file(45_000_00)
    board.open()
    board.attend(3)
    board.decide([item], {0: "for", 1: "for", 2: "for"})
    application = item.application
    assert application.decided_on.isoformat() == f"{this_year + 1}-01-01"
    assert item.deliberation_number == f"CP-{this_year + 1}-01-01-001"
    entry = session.execute(select(LedgerEntry).where(LedgerEntry.application_id == application.id,
                                                      LedgerEntry.operation == "reserve")).scalar_one()
    assert entry.year == this_year + 1
    assert entry.effective_on == application.decided_on  # the de minimis window counts from the decision
    reserved = dict(session.execute(select(LedgerAccount.year, LedgerAccount.reserved_cents).where(
        LedgerAccount.kind == "year", LedgerAccount.plan_id == board.plan.id)).all())
    assert (reserved.get(this_year), reserved.get(this_year + 1)) == (10_000_00, 45_000_00)
