"""Accounts: sign-up, confirmation, password reset, staff creation, roles."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from flask import current_app, url_for
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app import audit
from app.errors import UserFacingError
from app.formatting import translate as _
from app.mail import queue_mail
from app.models import ROLE_VALUES, Call, RoleAssignment, User, utcnow

DEMO_PASSWORD = "demo"


def normalise_email(email: str) -> str:
    return email.strip().lower()


def find_user(session: Session, email: str) -> User | None:
    return session.execute(select(User).where(User.email == normalise_email(email))).scalar_one_or_none()


def password_problem(password: str) -> str | None:
    """Why ``password`` is refused for a new password, or None."""
    minimum = current_app.config["PASSWORD_MIN_LENGTH"]
    if len(password) < minimum:
        return _("Le mot de passe doit contenir au moins %(n)s caractères.", n=minimum)
    if password.strip().lower() in {DEMO_PASSWORD, "motdepasse", "password", "azertyuiop"}:
        return _("Ce mot de passe est trop courant.")
    return None


def demo_password_allowed() -> bool:
    return current_app.config["GUICHET_ENV"] != "production"


def _serializer(purpose: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=f"guichet-{purpose}")


def _password_fingerprint(user: User) -> str:
    # Part of the reset token: once the password changes, old links stop working.
    return hashlib.sha256(user.password_hash.encode()).hexdigest()[:16]


def make_confirmation_token(user: User) -> str:
    return _serializer("confirm").dumps({"id": user.id, "email": user.email})


def make_reset_token(user: User) -> str:
    return _serializer("reset").dumps({"id": user.id, "pw": _password_fingerprint(user)})


def register_applicant(session: Session, *, email: str, name: str, password: str, locale: str = "fr") -> User | None:
    """Create an applicant account awaiting e-mail confirmation and mail the link.

    When the address is already taken, nothing is created and the owner of the
    address is told by mail instead, so the form does not reveal who has an account.
    Returns the new user, or None when the address was taken."""
    email = normalise_email(email)
    problem = password_problem(password)
    if problem:
        raise UserFacingError(problem)
    existing = find_user(session, email)
    if existing is not None:
        queue_mail(
            existing.email,
            _("Tentative de création de compte sur Guichet"),
            _(
                "Bonjour,\n\nQuelqu'un a demandé à créer un compte Guichet avec votre adresse, qui en a déjà un.\n"
                "Si c'était vous, connectez-vous ou réinitialisez votre mot de passe : %(url)s\n",
                url=url_for("auth.forgot_password", _external=True),
            ),
        )
        return None
    user = User(email=email, name=name.strip(), locale=locale if locale in ("fr", "en") else "fr", active=True)
    user.set_password(password)
    user.roles.append(RoleAssignment(role="applicant"))
    session.add(user)
    session.flush()
    audit.record(session, actor=user, role="applicant", object_type="user", object_id=user.id, action="sign_up",
                 after={"email": user.email, "name": user.name})
    send_confirmation(user)
    return user


def send_confirmation(user: User) -> None:
    link = url_for("auth.confirm_email", token=make_confirmation_token(user), _external=True)
    queue_mail(
        user.email,
        _("Confirmez votre adresse e-mail"),
        _(
            "Bonjour %(name)s,\n\nPour activer votre compte Guichet, ouvrez ce lien dans les %(h)s heures :\n%(link)s\n\n"
            "Si vous n'avez pas demandé de compte, ignorez ce message.\n",
            name=user.name,
            h=current_app.config["EMAIL_TOKEN_MAX_AGE"] // 3600,
            link=link,
        ),
    )


def confirm_email(session: Session, token: str) -> User:
    try:
        data = _serializer("confirm").loads(token, max_age=current_app.config["EMAIL_TOKEN_MAX_AGE"])
    except SignatureExpired:
        raise UserFacingError(_("Ce lien de confirmation a expiré : demandez-en un nouveau.")) from None
    except BadSignature:
        raise UserFacingError(_("Ce lien de confirmation n'est pas valide.")) from None
    user = session.get(User, data.get("id"))
    if user is None or user.email != data.get("email"):
        raise UserFacingError(_("Ce lien de confirmation n'est pas valide."))
    if user.email_confirmed_at is None:
        user.email_confirmed_at = utcnow()
        audit.record(session, actor=user, role="applicant", object_type="user", object_id=user.id, action="confirm_email")
    return user


@dataclass
class LoginResult:
    user: User | None
    error: str | None


def authenticate(session: Session, email: str, password: str) -> LoginResult:
    user = find_user(session, email)
    generic = _("Adresse e-mail ou mot de passe incorrect.")
    if user is None:
        # Same work as a real check, so timing does not reveal unknown addresses.
        User(password_hash="scrypt:32768:8:1$x$0").check_password(password)
        return LoginResult(None, generic)
    if not user.check_password(password):
        return LoginResult(None, generic)
    if password == DEMO_PASSWORD and not demo_password_allowed():
        return LoginResult(None, _("Le mot de passe de démonstration est refusé en production : réinitialisez-le."))
    if not user.active:
        return LoginResult(None, _("Ce compte est désactivé."))
    if user.email_confirmed_at is None:
        return LoginResult(None, _("Confirmez d'abord votre adresse e-mail avec le lien reçu par courriel."))
    return LoginResult(user, None)


def request_password_reset(session: Session, email: str) -> None:
    user = find_user(session, email)
    if user is None or not user.active:
        return
    link = url_for("auth.reset_password", token=make_reset_token(user), _external=True)
    queue_mail(
        user.email,
        _("Réinitialisation de votre mot de passe"),
        _(
            "Bonjour %(name)s,\n\nPour choisir un nouveau mot de passe, ouvrez ce lien dans les 2 heures :\n%(link)s\n\n"
            "Si vous n'avez rien demandé, ignorez ce message : votre mot de passe reste inchangé.\n",
            name=user.name,
            link=link,
        ),
    )


def user_for_reset_token(session: Session, token: str) -> User:
    try:
        data = _serializer("reset").loads(token, max_age=2 * 3600)
    except SignatureExpired:
        raise UserFacingError(_("Ce lien a expiré : demandez-en un nouveau.")) from None
    except BadSignature:
        raise UserFacingError(_("Ce lien n'est pas valide.")) from None
    user = session.get(User, data.get("id"))
    if user is None or not user.active or data.get("pw") != _password_fingerprint(user):
        raise UserFacingError(_("Ce lien n'est plus valide : il a déjà servi ou le mot de passe a changé."))
    return user


def reset_password(session: Session, user: User, password: str) -> None:
    problem = password_problem(password)
    if problem:
        raise UserFacingError(problem)
    user.set_password(password)
    user.end_sessions()  # a new password logs out every other session
    if user.email_confirmed_at is None:  # the reset link proved the address
        user.email_confirmed_at = utcnow()
    audit.record(session, actor=user, role=None, object_type="user", object_id=user.id, action="reset_password")


def create_user(
    session: Session,
    *,
    email: str,
    name: str,
    password: str,
    roles: list[tuple[str, int | None]],
    actor: User | None = None,
    actor_role: str | None = "admin",
    allow_demo_password: bool = False,
) -> User:
    """Create a confirmed account (staff, or applicant created by an admin)."""
    email = normalise_email(email)
    if not email or "@" not in email:
        raise UserFacingError(_("Adresse e-mail invalide."))
    if find_user(session, email) is not None:
        raise UserFacingError(_("Un compte existe déjà avec l'adresse %(email)s.", email=email))
    if not (allow_demo_password and password == DEMO_PASSWORD and demo_password_allowed()):
        problem = password_problem(password)
        if problem:
            raise UserFacingError(problem)
    if not roles:
        raise UserFacingError(_("Choisissez au moins un rôle."))
    user = User(email=email, name=name.strip(), active=True, email_confirmed_at=utcnow())
    user.set_password(password)
    session.add(user)
    session.flush()
    for role, call_id in roles:
        grant_role(session, user, role, call_id, actor=actor, actor_role=actor_role)
    audit.record(session, actor=actor, role=actor_role, object_type="user", object_id=user.id, action="create_user",
                 after={"email": email, "name": user.name})
    return user


def grant_role(
    session: Session, user: User, role: str, call_id: int | None = None, *, actor: User | None = None, actor_role: str | None = "admin"
) -> RoleAssignment:
    if role not in ROLE_VALUES:
        raise UserFacingError(_("Rôle inconnu : %(role)s.", role=role))
    if role == "applicant" and call_id is not None:
        raise UserFacingError(_("Le rôle de porteur de projet ne se limite pas à un appel."))
    if call_id is not None and session.get(Call, call_id) is None:
        raise UserFacingError(_("Appel inconnu."))
    for existing in user.roles:
        if existing.role == role and existing.call_id == call_id:
            return existing
    assignment = RoleAssignment(role=role, call_id=call_id)
    user.roles.append(assignment)
    session.flush()
    audit.record(session, actor=actor, role=actor_role, object_type="user", object_id=user.id, action="grant_role",
                 after={"role": role, "call_id": call_id})
    return assignment


def count_users(session: Session) -> int:
    return session.execute(select(func.count(User.id))).scalar_one()
