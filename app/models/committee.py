"""Committees (the Commission permanente, selection juries), their sessions,
agendas, attendance, withdrawals (« déport »), votes and interest declarations.

The decision of a file is held by its agenda item (``decision``,
``deliberation_number``, ``amount_cents``) and copied onto the file
(``Application.deliberation_number``, ``decided_on``, ``awarded_amount_cents``)
when the vote is closed. See docs/COMMITTEE.md."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING

from sqlalchemy import (BigInteger, Boolean, CheckConstraint, Date, ForeignKey, Index, Integer, String, Text,
                        UniqueConstraint, text)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.models.base import Base, UTCDateTime, utcnow

if TYPE_CHECKING:
    from app.models.application import Application
    from app.models.organisation import Organisation
    from app.models.user import User

COMMITTEE_KINDS = ("commission_permanente", "jury")
TIE_RULES = ("chair", "reject")
SESSION_STATUSES = ("planned", "open", "closed", "minutes_approved")
ATTENDANCE_STATUSES = ("present", "represented", "absent")
VOTE_STATUSES = ("pending", "open", "closed")
VOTE_CHOICES = ("for", "against", "abstain")
DECISIONS = ("approved", "rejected")


class Committee(Base):
    __tablename__ = "committees"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(30), default="commission_permanente")
    # Prefix of the deliberation numbers: CP-2026-03-17-042.
    code: Mapped[str] = mapped_column(String(10), unique=True)
    # Members (present or represented) needed; NULL = majority of members in office.
    quorum: Mapped[int | None] = mapped_column(Integer)
    tie_rule: Mapped[str] = mapped_column(String(10), default="chair")
    chair_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    chair: Mapped["User | None"] = relationship()
    members: Mapped[list["CommitteeMember"]] = relationship(back_populates="committee", cascade="all, delete-orphan",
                                                            order_by="CommitteeMember.id")

    __table_args__ = (
        CheckConstraint(f"kind IN ({', '.join(repr(k) for k in COMMITTEE_KINDS)})", name="kind"),
        CheckConstraint(f"tie_rule IN ({', '.join(repr(k) for k in TIE_RULES)})", name="tie_rule"),
        CheckConstraint("quorum IS NULL OR quorum > 0", name="quorum_positive"),
    )

    @property
    def members_in_office(self) -> list["CommitteeMember"]:
        return [m for m in self.members if m.in_office]

    @property
    def required_quorum(self) -> int:
        if self.quorum is not None:
            return self.quorum
        return len(self.members_in_office) // 2 + 1


class CommitteeMember(Base):
    __tablename__ = "committee_members"

    id: Mapped[int] = mapped_column(primary_key=True)
    committee_id: Mapped[int] = mapped_column(ForeignKey("committees.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    in_office: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    since: Mapped[date | None] = mapped_column(Date)

    committee: Mapped[Committee] = relationship(back_populates="members")
    user: Mapped["User"] = relationship()

    __table_args__ = (UniqueConstraint("committee_id", "user_id", name="uq_committee_members_committee_user"),)


class CommitteeSession(Base):
    __tablename__ = "committee_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    committee_id: Mapped[int] = mapped_column(ForeignKey("committees.id", ondelete="CASCADE"), index=True)
    held_at: Mapped[datetime] = mapped_column(UTCDateTime())
    place: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), default="planned")
    # The session whose minutes this one approved is recorded on the older one.
    minutes_approved_in_id: Mapped[int | None] = mapped_column(ForeignKey("committee_sessions.id", ondelete="SET NULL"))
    minutes_approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    committee: Mapped[Committee] = relationship()
    items: Mapped[list["AgendaItem"]] = relationship(back_populates="session", cascade="all, delete-orphan",
                                                     order_by="AgendaItem.position")
    attendances: Mapped[list["Attendance"]] = relationship(back_populates="session", cascade="all, delete-orphan",
                                                           order_by="Attendance.id")

    __table_args__ = (
        CheckConstraint(f"status IN ({', '.join(repr(s) for s in SESSION_STATUSES)})", name="status"),
        CheckConstraint("(status = 'minutes_approved') = (minutes_approved_at IS NOT NULL)", name="minutes_approved"),
    )


class Attendance(Base):
    """A member's attendance at one session; a proxy is valid for that session only."""

    __tablename__ = "committee_attendances"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("committee_sessions.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(12))
    proxy_holder_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    session: Mapped[CommitteeSession] = relationship(back_populates="attendances")
    user: Mapped["User"] = relationship(foreign_keys=[user_id])
    proxy_holder: Mapped["User | None"] = relationship(foreign_keys=[proxy_holder_id])

    __table_args__ = (
        UniqueConstraint("session_id", "user_id", name="uq_committee_attendances_session_user"),
        # At most one proxy held per member and session.
        UniqueConstraint("session_id", "proxy_holder_id", name="uq_committee_attendances_session_proxy_holder"),
        CheckConstraint(f"status IN ({', '.join(repr(s) for s in ATTENDANCE_STATUSES)})", name="status"),
        CheckConstraint("(status = 'represented') = (proxy_holder_id IS NOT NULL)", name="proxy_iff_represented"),
        CheckConstraint("proxy_holder_id IS NULL OR proxy_holder_id <> user_id", name="proxy_not_self"),
    )


class AgendaItem(Base):
    """One file on a session's agenda, with its vote and its decision."""

    __tablename__ = "agenda_items"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("committee_sessions.id", ondelete="CASCADE"))
    application_id: Mapped[int] = mapped_column(ForeignKey("applications.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    # Items sharing a block label are voted together (block vote).
    block: Mapped[str | None] = mapped_column(String(20))
    proposed_amount_cents: Mapped[int] = mapped_column(BigInteger)
    # The amount put to the vote: the proposal, or less if the committee lowers it.
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    vote_status: Mapped[str] = mapped_column(String(10), default="pending")
    decision: Mapped[str | None] = mapped_column(String(10))
    deliberation_number: Mapped[str | None] = mapped_column(String(40), unique=True)
    votes_for: Mapped[int | None] = mapped_column(Integer)
    votes_against: Mapped[int | None] = mapped_column(Integer)
    votes_abstain: Mapped[int | None] = mapped_column(Integer)
    casting_vote: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Conditions the committee attached to its approval (« sous réserve de… »),
    # recorded when the vote closes; printed in the decision letter and the minutes.
    conditions: Mapped[str | None] = mapped_column(Text)

    session: Mapped[CommitteeSession] = relationship(back_populates="items")
    application: Mapped["Application"] = relationship()
    votes: Mapped[list["Vote"]] = relationship(back_populates="item", cascade="all, delete-orphan", order_by="Vote.id")
    withdrawals: Mapped[list["Withdrawal"]] = relationship(back_populates="item", cascade="all, delete-orphan",
                                                           order_by="Withdrawal.id")

    __table_args__ = (
        UniqueConstraint("session_id", "application_id", name="uq_agenda_items_session_application"),
        UniqueConstraint("session_id", "position", name="uq_agenda_items_session_position"),
        CheckConstraint("proposed_amount_cents > 0", name="proposed_positive"),
        CheckConstraint("amount_cents > 0 AND amount_cents <= proposed_amount_cents", name="amount_within_proposal"),
        CheckConstraint(f"vote_status IN ({', '.join(repr(s) for s in VOTE_STATUSES)})", name="vote_status"),
        CheckConstraint("decision IS NULL OR decision IN ('approved', 'rejected')", name="decision"),
        CheckConstraint("(vote_status = 'closed') = (decision IS NOT NULL)", name="closed_iff_decided"),
        CheckConstraint("(decision IS NULL) = (deliberation_number IS NULL)", name="decision_numbered"),
    )


class Withdrawal(Base):
    """A member's « déport » on one item: they take no part in its vote."""

    __tablename__ = "committee_withdrawals"

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("agenda_items.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    declared_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    item: Mapped[AgendaItem] = relationship(back_populates="withdrawals")
    user: Mapped["User"] = relationship()

    __table_args__ = (UniqueConstraint("item_id", "user_id", name="uq_committee_withdrawals_item_user"),)


class Vote(Base):
    """A member's vote on an item; ``cast_by`` is the proxy holder for a proxy vote."""

    __tablename__ = "committee_votes"

    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("agenda_items.id", ondelete="CASCADE"))
    voter_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    cast_by_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    choice: Mapped[str] = mapped_column(String(10))
    cast_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    item: Mapped[AgendaItem] = relationship(back_populates="votes")
    voter: Mapped["User"] = relationship(foreign_keys=[voter_id])
    cast_by: Mapped["User"] = relationship(foreign_keys=[cast_by_id])

    __table_args__ = (
        UniqueConstraint("item_id", "voter_id", name="uq_committee_votes_item_voter"),
        CheckConstraint(f"choice IN ({', '.join(repr(c) for c in VOTE_CHOICES)})", name="choice"),
    )


class InterestDeclaration(Base):
    """A committee member's declared interest in an organisation."""

    __tablename__ = "interest_declarations"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    description: Mapped[str] = mapped_column(Text)
    declared_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    user: Mapped["User"] = relationship()
    organisation: Mapped["Organisation"] = relationship()

    __table_args__ = (Index("ix_interest_declarations_organisation", "organisation_id"),)
