"""Personal API tokens: created from e-mail and password, stored hashed."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from app import audit
from app.errors import UserFacingError
from app.formatting import translate as _
from app.models import TOKEN_SCOPES, ApiToken, User, utcnow

TOKEN_PREFIX = "gch_"


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def issue_token(session: Session, user: User, *, name: str = "", scopes: list[str] | None = None, days: int = 30) -> tuple[ApiToken, str]:
    """Create a token; the clear secret is returned once and never stored."""
    scopes = scopes or ["read"]
    unknown = [s for s in scopes if s not in TOKEN_SCOPES]
    if unknown:
        raise UserFacingError(_("Portée inconnue : %(s)s.", s=", ".join(unknown)), status=422)
    if not 1 <= days <= 365:
        raise UserFacingError(_("La durée de validité doit être comprise entre 1 et 365 jours."), status=422)
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user_id=user.id,
        name=name[:100],
        token_hash=hash_secret(secret),
        prefix=secret[:12],
        scopes=" ".join(sorted(set(scopes))),
        expires_at=utcnow() + timedelta(days=days),
    )
    session.add(token)
    session.flush()
    audit.record(session, actor=user, role=None, object_type="api_token", object_id=token.id, action="issue_token",
                 after={"scopes": token.scopes, "expires_at": token.expires_at.isoformat()})
    return token, secret


def find_valid_token(session: Session, secret: str) -> ApiToken | None:
    token = session.execute(select(ApiToken).where(ApiToken.token_hash == hash_secret(secret))).scalar_one_or_none()
    if token is None or not token.is_valid(utcnow()) or not token.user.active:
        return None
    return token


def revoke_token(session: Session, token: ApiToken, actor: User) -> None:
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        audit.record(session, actor=actor, role=None, object_type="api_token", object_id=token.id, action="revoke_token")
