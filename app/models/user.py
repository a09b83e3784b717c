"""Accounts and their roles."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import TYPE_CHECKING

from flask import current_app, has_app_context
from flask_login import UserMixin
from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from app.models.base import Base, UTCDateTime, utcnow

if TYPE_CHECKING:
    from app.models.call import Call
    from app.models.organisation import Membership


class Role(str, enum.Enum):
    APPLICANT = "applicant"
    INSTRUCTOR = "instructor"
    EXPERT = "expert"
    COMMITTEE = "committee"
    FINANCE = "finance"
    ADMIN = "admin"

    @property
    def is_staff(self) -> bool:
        return self is not Role.APPLICANT


ROLE_VALUES = tuple(r.value for r in Role)
# Staff roles that see every file of the calls they are scoped to.
FILE_READING_ROLES = (Role.INSTRUCTOR.value, Role.FINANCE.value, Role.ADMIN.value)


class User(UserMixin, Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(200))
    locale: Mapped[str] = mapped_column(String(5), default="fr", server_default="fr")
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    email_confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Part of the login session's id: raising it (logout, new password) ends
    # every session of the account, even a copy of an old cookie.
    session_epoch: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    roles: Mapped[list["RoleAssignment"]] = relationship(
        back_populates="user", cascade="all, delete-orphan", lazy="selectin"
    )
    memberships: Mapped[list["Membership"]] = relationship(back_populates="user", cascade="all, delete-orphan")

    __table_args__ = (
        CheckConstraint("locale IN ('fr', 'en')", name="locale"),
        CheckConstraint("email = lower(email)", name="email_lowercase"),
    )

    def set_password(self, password: str) -> None:
        method = current_app.config.get("PASSWORD_HASH_METHOD", "scrypt") if has_app_context() else "scrypt"
        self.password_hash = generate_password_hash(password, method=method)

    def check_password(self, password: str) -> bool:
        return check_password_hash(self.password_hash, password)

    # Flask-Login: the session stores "<id>.<epoch>" (see app.load_user).
    def get_id(self) -> str:
        return f"{self.id}.{self.session_epoch or 0}"

    def end_sessions(self) -> None:
        """Invalidate every login session of the account (cookies already issued included)."""
        self.session_epoch = (self.session_epoch or 0) + 1

    # Flask-Login: an inactive account cannot log in.
    @property
    def is_active(self) -> bool:  # type: ignore[override]
        return self.active

    @property
    def role_names(self) -> set[str]:
        return {r.role for r in self.roles}

    def has_role(self, role: str | Role, call: "Call | int | None" = None) -> bool:
        """True when the user holds ``role`` globally, or for ``call`` when given."""
        name = role.value if isinstance(role, Role) else role
        call_id = call if isinstance(call, int) or call is None else call.id
        for assignment in self.roles:
            if assignment.role != name:
                continue
            if assignment.call_id is None or call_id is None or assignment.call_id == call_id:
                return True
        return False

    def has_any_role(self, *roles: str | Role) -> bool:
        return any(self.has_role(r) for r in roles)

    @property
    def is_staff(self) -> bool:
        return any(r.role != Role.APPLICANT.value for r in self.roles)

    def __repr__(self) -> str:
        return f"<User {self.email}>"


class RoleAssignment(Base):
    """A role held by a user, for every call (``call_id`` NULL) or for one call."""

    __tablename__ = "role_assignments"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(20))
    call_id: Mapped[int | None] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"))
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    user: Mapped[User] = relationship(back_populates="roles")
    call: Mapped["Call | None"] = relationship()

    __table_args__ = (
        CheckConstraint(f"role IN ({', '.join(repr(r) for r in ROLE_VALUES)})", name="role"),
        CheckConstraint("role <> 'applicant' OR call_id IS NULL", name="applicant_not_scoped"),
        # NULL call_id means "every call": two partial unique indexes cover both cases.
        Index(
            "uq_role_assignments_global",
            "user_id",
            "role",
            unique=True,
            sqlite_where=text("call_id IS NULL"),
            postgresql_where=text("call_id IS NULL"),
        ),
        Index("uq_role_assignments_scoped", "user_id", "role", "call_id", unique=True),
    )
