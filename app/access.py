"""Who may see and do what: predicates on the models, used by every route.

Views call these; a missing check is caught by the permission tests, which
walk every route of the URL map.
"""

from __future__ import annotations

from functools import wraps
from typing import Any, Callable, TypeVar

from flask import abort
from flask_login import current_user
from sqlalchemy import Select, and_, false, or_, select

from app.models import FILE_READING_ROLES, Application, Membership, User

F = TypeVar("F", bound=Callable[..., Any])


def role_required(*roles: str) -> Callable[[F], F]:
    """Login plus one of ``roles`` (held globally or for at least one call)."""

    def decorator(view: F) -> F:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                from app.extensions import login_manager

                return login_manager.unauthorized()
            if not any(current_user.has_role(r) for r in roles):
                abort(403)
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorator


def organisation_ids(user: User) -> Select[tuple[int]]:
    return select(Membership.organisation_id).where(Membership.user_id == user.id)


def visible_applications(user: User) -> Select[tuple[Application]]:
    """The files ``user`` may read: their organisations' files (drafts included),
    plus the submitted files of the calls where they hold a file-reading staff
    role (instructor, finance, admin; globally or scoped to the call). A draft
    stays private to its organisation. Experts and committee members see files
    only through invitations and agendas."""
    conditions = []
    if user.has_role("applicant"):
        conditions.append(Application.organisation_id.in_(organisation_ids(user)))
    scoped = staff_call_ids(user, FILE_READING_ROLES)
    if scoped is None:
        conditions.append(Application.state != "draft")
    elif scoped:
        conditions.append(and_(Application.call_id.in_(scoped), Application.state != "draft"))
    if not conditions:
        return select(Application).where(false())
    return select(Application).where(or_(*conditions))


def can_view_application(user: User, application: Application) -> bool:
    if user.has_role("applicant") and any(m.organisation_id == application.organisation_id for m in user.memberships):
        return True
    if application.state == "draft":
        return False
    return any(user.has_role(r, application.call_id) for r in FILE_READING_ROLES)


def staff_call_ids(user: User, roles: tuple[str, ...]) -> set[int] | None:
    """Calls on which ``user`` holds one of ``roles``; None means every call."""
    assignments = [a for a in user.roles if a.role in roles]
    if any(a.call_id is None for a in assignments):
        return None
    return {a.call_id for a in assignments if a.call_id is not None}


def require_whole_plan(roles: tuple[str, ...]) -> None:
    """403 unless the current user holds one of ``roles`` for every call: what binds every call (a cap,
    a link between companies) is set by staff in charge of them all."""
    if staff_call_ids(current_user, roles) is not None:
        abort(403)


__all__ = [
    "can_view_application",
    "organisation_ids",
    "require_whole_plan",
    "role_required",
    "staff_call_ids",
    "visible_applications",
]
