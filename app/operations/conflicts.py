"""Conflicts of interest: who may not open, score or be assigned a file.

One check for every route that shows a file to a reviewer or to staff:

    require_no_conflict(session, user, application, role=...)

* raises ``ConflictOfInterest`` (403) when the person is conflicted: an
  automatic flag (member of the applicant organisation, same e-mail domain as
  one of its users — public webmail domains aside) or their own declaration of
  a link;
* raises ``DeclarationRequired`` (403) when ``role`` is a reviewer role
  (instructor, expert) and the person has not yet declared anything on the
  file: a reviewer declares before opening it (``declare``);
* returns the ``ConflictStatus`` otherwise.

``conflict_status`` gives the same facts without raising (for lists and
assignment). Every declaration is a new row plus an audit row.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app import audit
from app.errors import UserFacingError
from app.formatting import translate as _
from app.models import REVIEWER_ROLES, Application, ConflictDeclaration, Membership, User

# Public mailbox providers: sharing one of them says nothing about a link.
PUBLIC_MAIL_DOMAINS = frozenset({
    "gmail.com", "googlemail.com", "orange.fr", "wanadoo.fr", "outlook.com", "outlook.fr", "hotmail.com",
    "hotmail.fr", "live.fr", "live.com", "msn.com", "yahoo.fr", "yahoo.com", "free.fr", "laposte.net", "sfr.fr",
    "neuf.fr", "bbox.fr", "icloud.com", "me.com", "aol.com", "gmx.fr", "proton.me", "protonmail.com",
})




def domain_counts(domain: str) -> bool:
    """Whether sharing ``domain`` flags a link: not for public mailboxes, nor for
    the ``.test`` top-level domain reserved for tests and demos (RFC 6761)."""
    return bool(domain) and domain not in PUBLIC_MAIL_DOMAINS and not domain.endswith(".test")


class ConflictOfInterest(UserFacingError):
    status = 403


class DeclarationRequired(UserFacingError):
    """The reviewer must declare (no conflict, or a conflict) before opening the file."""

    status = 403

    def __init__(self, application: Application) -> None:
        super().__init__(_("Déclarez l'absence ou l'existence d'un conflit d'intérêts avant d'ouvrir le dossier %(ref)s.",
                           ref=application.reference))
        self.reference = application.reference


@dataclass
class ConflictStatus:
    flags: list[str] = field(default_factory=list)  # automatic reasons, in French
    declaration: ConflictDeclaration | None = None

    @property
    def declared(self) -> bool:
        return self.declaration is not None

    @property
    def conflicted(self) -> bool:
        return bool(self.flags) or (self.declaration is not None and self.declaration.has_conflict)

    @property
    def reasons(self) -> list[str]:
        reasons = list(self.flags)
        if self.declaration is not None and self.declaration.has_conflict:
            reasons.append(_("Lien déclaré : %(link)s", link=self.declaration.link))
        return reasons


def email_domain(email: str) -> str:
    return email.rpartition("@")[2].lower()


def automatic_flags(session: Session, user: User, application: Application) -> list[str]:
    """Membership of the applicant organisation, or a shared non-public e-mail domain."""
    flags: list[str] = []
    domain = email_domain(user.email)
    rows = session.execute(
        select(User.id, User.email).join(Membership, Membership.user_id == User.id)
        .where(Membership.organisation_id == application.organisation_id)
    ).all()
    if any(user_id == user.id for user_id, _email in rows):
        flags.append(_("Vous êtes membre de l'organisation candidate."))
    elif domain_counts(domain) and any(email_domain(e) == domain for _id, e in rows):
        flags.append(_("Votre adresse e-mail est du même domaine (%(domain)s) que celle d'un membre de l'organisation "
                       "candidate.", domain=domain))
    return flags


def latest_declaration(session: Session, user: User, application: Application) -> ConflictDeclaration | None:
    return session.execute(
        select(ConflictDeclaration)
        .where(ConflictDeclaration.user_id == user.id, ConflictDeclaration.application_id == application.id)
        .order_by(ConflictDeclaration.id.desc()).limit(1)
    ).scalar_one_or_none()


def conflict_status(session: Session, user: User, application: Application) -> ConflictStatus:
    return ConflictStatus(automatic_flags(session, user, application), latest_declaration(session, user, application))


def reviewer_role(user: User, application: Application) -> str | None:
    """The reviewer role ``user`` opens the file in: instructor of its call, else expert, else None."""
    if user.has_role("instructor", application.call_id):
        return "instructor"
    if user.has_role("expert"):
        return "expert"
    return None


def require_no_conflict(session: Session, user: User, application: Application, *,
                        role: str | None = None) -> ConflictStatus:
    """403 when ``user`` is conflicted on ``application``; 403 as well when
    ``role`` is a reviewer role and no declaration exists yet."""
    status = conflict_status(session, user, application)
    if status.conflicted:
        raise ConflictOfInterest(
            _("Conflit d'intérêts sur le dossier %(ref)s : vous ne pouvez ni l'ouvrir, ni l'évaluer, ni en être chargé. ",
              ref=application.reference) + " ".join(status.reasons))
    if role in REVIEWER_ROLES and not status.declared:
        raise DeclarationRequired(application)
    return status


def declare(session: Session, user: User, application: Application, *, role: str, has_conflict: bool,
            link: str | None = None) -> ConflictDeclaration:
    """Record a reviewer's declaration (and its audit row). Declaring a
    conflict also takes the file away from the person if they were in charge."""
    if role not in REVIEWER_ROLES:
        raise UserFacingError(_("Seuls les instructeurs et les experts déclarent leurs conflits d'intérêts."), status=403)
    link = (link or "").strip() or None
    if has_conflict and link is None:
        raise UserFacingError(_("Décrivez le lien avec le dossier ou l'organisation candidate."))
    declaration = ConflictDeclaration(application_id=application.id, user_id=user.id, role=role,
                                      has_conflict=has_conflict, link=link if has_conflict else None)
    session.add(declaration)
    if has_conflict and application.assigned_instructor_id == user.id:
        application.assigned_instructor_id = None
    session.flush()
    audit.record(session, actor=user, role=role, object_type="application", object_id=application.reference,
                 action="declare_conflict" if has_conflict else "declare_no_conflict",
                 after={"has_conflict": has_conflict}, reason=declaration.link)
    return declaration


def declared_conflict_ids(session: Session, user: User, application_ids: list[int]) -> set[int]:
    """Among ``application_ids``, the files where ``user``'s latest declaration is a conflict (one query)."""
    if not application_ids:
        return set()
    latest = (select(func.max(ConflictDeclaration.id))
              .where(ConflictDeclaration.user_id == user.id, ConflictDeclaration.application_id.in_(application_ids))
              .group_by(ConflictDeclaration.application_id))
    return set(session.execute(
        select(ConflictDeclaration.application_id)
        .where(ConflictDeclaration.id.in_(latest), ConflictDeclaration.has_conflict.is_(True))
    ).scalars())


def conflicted_ids(session: Session, user: User, applications: list[Application]) -> set[int]:
    """Among ``applications``, the ids of those ``user`` is conflicted on: a member of
    the applicant organisation, the same (non-public) e-mail domain as one of its
    members, or a latest declaration of a link. Three queries, whatever the number
    of files (for lists such as a call's ranking)."""
    if not applications:
        return set()
    org_of = {a.id: a.organisation_id for a in applications}
    orgs = set(org_of.values())
    domain = email_domain(user.email)
    flagged_orgs = set(session.execute(
        select(Membership.organisation_id).where(Membership.user_id == user.id, Membership.organisation_id.in_(orgs))
    ).scalars())
    if domain_counts(domain):
        rows = session.execute(
            select(Membership.organisation_id, User.email).join(User, User.id == Membership.user_id)
            .where(Membership.organisation_id.in_(orgs - flagged_orgs), func.lower(User.email).like(f"%@{domain}"))
        ).all()
        flagged_orgs |= {org for org, email in rows if email_domain(email) == domain}
    conflicted = {i for i, org in org_of.items() if org in flagged_orgs}
    return conflicted | declared_conflict_ids(session, user, [i for i in org_of if i not in conflicted])


__all__ = [
    "PUBLIC_MAIL_DOMAINS",
    "ConflictOfInterest",
    "ConflictStatus",
    "DeclarationRequired",
    "automatic_flags",
    "conflict_status",
    "conflicted_ids",
    "declare",
    "declared_conflict_ids",
    "latest_declaration",
    "require_no_conflict",
    "reviewer_role",
]
