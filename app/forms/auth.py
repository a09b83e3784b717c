"""Account forms. Labels and messages are French source strings, translated lazily."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Email, EqualTo, Length

from app.formatting import lazy as _l

REQUIRED = _l("Ce champ est obligatoire.")


class LoginForm(FlaskForm):
    email = EmailField(_l("Adresse e-mail"), validators=[DataRequired(REQUIRED), Length(max=254)],
                       render_kw={"autocomplete": "username"})
    password = PasswordField(_l("Mot de passe"), validators=[DataRequired(REQUIRED)],
                             render_kw={"autocomplete": "current-password"})


class SignupForm(FlaskForm):
    name = StringField(_l("Nom et prénom"), validators=[DataRequired(REQUIRED), Length(max=200)],
                       render_kw={"autocomplete": "name"})
    email = EmailField(_l("Adresse e-mail"), validators=[
        DataRequired(REQUIRED), Email(_l("Saisissez une adresse e-mail valide, par exemple nom@entreprise.fr."),
                                     check_deliverability=False), Length(max=254)],
        render_kw={"autocomplete": "email"})
    password = PasswordField(_l("Mot de passe"), validators=[DataRequired(REQUIRED), Length(max=200)],
                             description=_l("12 caractères au minimum."), render_kw={"autocomplete": "new-password"})
    password_confirm = PasswordField(_l("Confirmation du mot de passe"), validators=[
        DataRequired(REQUIRED), EqualTo("password", _l("Les deux mots de passe ne sont pas identiques."))],
        render_kw={"autocomplete": "new-password"})


class ForgotPasswordForm(FlaskForm):
    email = EmailField(_l("Adresse e-mail"), validators=[DataRequired(REQUIRED), Length(max=254)],
                       render_kw={"autocomplete": "email"})


class ResetPasswordForm(FlaskForm):
    password = PasswordField(_l("Nouveau mot de passe"), validators=[DataRequired(REQUIRED), Length(max=200)],
                             description=_l("12 caractères au minimum."), render_kw={"autocomplete": "new-password"})
    password_confirm = PasswordField(_l("Confirmation du mot de passe"), validators=[
        DataRequired(REQUIRED), EqualTo("password", _l("Les deux mots de passe ne sont pas identiques."))],
        render_kw={"autocomplete": "new-password"})


class ResendConfirmationForm(FlaskForm):
    email = EmailField(_l("Adresse e-mail"), validators=[DataRequired(REQUIRED), Length(max=254)])


class StaffUserForm(FlaskForm):
    name = StringField(_l("Nom et prénom"), validators=[DataRequired(REQUIRED), Length(max=200)])
    email = EmailField(_l("Adresse e-mail"), validators=[
        DataRequired(REQUIRED), Email(_l("Saisissez une adresse e-mail valide."), check_deliverability=False)])
    password = PasswordField(_l("Mot de passe initial"), validators=[DataRequired(REQUIRED), Length(max=200)],
                             description=_l("12 caractères au minimum ; à transmettre à la personne, qui pourra le changer."))
    role = SelectField(_l("Rôle"), choices=[
        ("instructor", _l("Instructeur ou instructrice")),
        ("expert", _l("Expert ou experte")),
        ("committee", _l("Membre de commission")),
        ("finance", _l("Service financier")),
        ("admin", _l("Administration")),
        ("applicant", _l("Porteur de projet")),
    ])
    call_id = SelectField(_l("Limité à l'appel"), coerce=int, description=_l("Laisser « Tous les appels » pour un rôle général."))
