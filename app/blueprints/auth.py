"""Sign-up, e-mail confirmation, login, logout and password reset."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user

from app.db_helpers import commit
from app.urls import local_path
from app.errors import UserFacingError
from app.extensions import db, limiter
from app.forms.auth import ForgotPasswordForm, LoginForm, ResendConfirmationForm, ResetPasswordForm, SignupForm
from app.formatting import translate as _
from app.models import utcnow
from app.operations import accounts

bp = Blueprint("auth", __name__)


def _login_key() -> str:
    email = accounts.normalise_email(request.form.get("email", ""))
    return f"{request.remote_addr}|{email}"


def _failed_attempt(response) -> bool:
    return bool(g.get("login_failed"))


@bp.route("/connexion", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT"], key_func=_login_key, methods=["POST"],
               deduct_when=_failed_attempt, scope="login-account")
@limiter.limit(lambda: current_app.config["LOGIN_IP_RATE_LIMIT"], methods=["POST"],
               deduct_when=_failed_attempt, scope="login-ip")
def login():
    if current_user.is_authenticated:
        return redirect(url_for("public.dashboard"))
    form = LoginForm()
    error = None
    if form.validate_on_submit():
        result = accounts.authenticate(db.session, form.email.data, form.password.data)
        if result.user is not None:
            next_url = local_path(request.args.get("next"))
            lang = session.get("lang")
            session.clear()  # a fresh session at login: no fixation
            if lang:
                session["lang"] = lang
            login_user(result.user)
            result.user.last_login_at = utcnow()
            commit()
            return redirect(next_url or url_for("public.dashboard"))
        error = result.error
        g.login_failed = True
    elif request.method == "POST":
        g.login_failed = True
    return render_template("auth/login.html", form=form, error=error)


@bp.post("/deconnexion")
@login_required
def logout():
    if current_user.is_authenticated:
        current_user.end_sessions()  # a copy of this session's cookie no longer logs anyone in
        commit()
    logout_user()
    session.clear()
    flash(_("Vous êtes déconnecté."), "info")
    return redirect(url_for("public.home"))


@bp.route("/inscription", methods=["GET", "POST"])
@limiter.limit("20 per hour", methods=["POST"])
def signup():
    if current_user.is_authenticated:
        return redirect(url_for("public.dashboard"))
    form = SignupForm()
    if form.validate_on_submit():
        try:
            accounts.register_applicant(
                db.session, email=form.email.data, name=form.name.data, password=form.password.data,
                locale=session.get("lang", "fr"),
            )
        except UserFacingError as exc:
            form.password.errors = [*form.password.errors, exc.message]
        else:
            commit()
            return render_template("auth/check_mailbox.html", email=accounts.normalise_email(form.email.data))
    return render_template("auth/signup.html", form=form)


@bp.get("/confirmer/<token>")
def confirm_email(token: str):
    accounts.confirm_email(db.session, token)
    commit()
    flash(_("Votre adresse est confirmée : vous pouvez vous connecter."), "success")
    return redirect(url_for("auth.login"))


@bp.route("/renvoyer-confirmation", methods=["GET", "POST"])
@limiter.limit("10 per hour", methods=["POST"])
def resend_confirmation():
    form = ResendConfirmationForm()
    if form.validate_on_submit():
        user = accounts.find_user(db.session, form.email.data)
        if user is not None and user.email_confirmed_at is None:
            accounts.send_confirmation(user)
            commit()
        return render_template("auth/check_mailbox.html", email=accounts.normalise_email(form.email.data))
    return render_template("auth/resend.html", form=form)


@bp.route("/mot-de-passe-oublie", methods=["GET", "POST"])
@limiter.limit("10 per hour", methods=["POST"])
def forgot_password():
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        accounts.request_password_reset(db.session, form.email.data)
        commit()
        return render_template("auth/check_mailbox.html", email=accounts.normalise_email(form.email.data), reset=True)
    return render_template("auth/forgot.html", form=form)


@bp.route("/reinitialiser/<token>", methods=["GET", "POST"])
def reset_password(token: str):
    user = accounts.user_for_reset_token(db.session, token)
    form = ResetPasswordForm()
    if form.validate_on_submit():
        try:
            accounts.reset_password(db.session, user, form.password.data)
        except UserFacingError as exc:
            form.password.errors = [*form.password.errors, exc.message]
        else:
            commit()
            flash(_("Votre mot de passe a été changé : connectez-vous."), "success")
            return redirect(url_for("auth.login"))
    return render_template("auth/reset.html", form=form)
