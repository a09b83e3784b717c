"""Committee forms: committees, members, sessions, agenda items, attendance,
votes, withdrawals, interest declarations. Choices that depend on the data
(members, files) are filled by the view."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import DateField, IntegerField, SelectField, StringField, TextAreaField, TimeField
from wtforms.validators import DataRequired, Length, NumberRange, Optional, StopValidation

from app.formatting import lazy as _l
from app.forms.organisations import REQUIRED, CountField, MoneyField, _siret_field

KIND_CHOICES = [("commission_permanente", _l("Commission permanente")), ("jury", _l("Jury de sélection"))]
TIE_CHOICES = [("chair", _l("Voix prépondérante du président")), ("reject", _l("Rejet en cas de partage"))]
ATTENDANCE_CHOICES = [("present", _l("Présent(e)")), ("represented", _l("Représenté(e)")), ("absent", _l("Absent(e)"))]
CHOICE_CHOICES = [("for", _l("Pour")), ("against", _l("Contre")), ("abstain", _l("Abstention"))]


def _record_id(form, field) -> None:
    """A number naming a record (a person): a positive database integer, else refused before any lookup."""
    if field.data is not None and not 0 < field.data < 2**31:
        raise StopValidation(_l("Cette personne est introuvable."))


def _record_id_or_none(form, field) -> None:
    """0 means « nobody »; any other value names a person."""
    if field.data:
        _record_id(form, field)


class CommitteeForm(FlaskForm):
    name = StringField(_l("Nom"), validators=[DataRequired(REQUIRED), Length(max=200)])
    code = StringField(_l("Code des délibérations"), validators=[DataRequired(REQUIRED), Length(max=10)],
                       description=_l("Préfixe des numéros de délibération, par exemple CP."))
    kind = SelectField(_l("Type"), choices=KIND_CHOICES)
    quorum = CountField(_l("Quorum (membres)"), validators=[Optional(), NumberRange(min=1)],
                          description=_l("Laissez vide pour la majorité des membres en exercice."))
    tie_rule = SelectField(_l("En cas de partage des voix"), choices=TIE_CHOICES)


class MemberForm(FlaskForm):
    user_id = SelectField(_l("Membre"), coerce=int, validators=[DataRequired(REQUIRED)])


class ChairForm(FlaskForm):
    chair_id = SelectField(_l("Président(e)"), coerce=int, validators=[DataRequired(REQUIRED)])


class SessionForm(FlaskForm):
    committee_id = SelectField(_l("Commission"), coerce=int, validators=[DataRequired(REQUIRED)])
    day = DateField(_l("Date"), validators=[DataRequired(REQUIRED)])
    time = TimeField(_l("Heure"), validators=[DataRequired(REQUIRED)])
    place = StringField(_l("Lieu"), validators=[DataRequired(REQUIRED), Length(max=200)])


class AgendaItemForm(FlaskForm):
    application_id = SelectField(_l("Dossier"), coerce=int, validators=[DataRequired(REQUIRED)])
    block = StringField(_l("Bloc (facultatif)"), validators=[Optional(), Length(max=20)],
                        description=_l("Les points d'un même bloc sont votés ensemble."))


class ItemSettingsForm(FlaskForm):
    block = StringField(_l("Bloc"), validators=[Optional(), Length(max=20)])
    amount = MoneyField(_l("Montant soumis au vote"), validators=[DataRequired(REQUIRED)],
                        description=_l("La commission peut baisser le montant proposé, pas le dépasser."))


class AttendanceForm(FlaskForm):
    member_id = SelectField(_l("Membre"), coerce=int, validators=[DataRequired(REQUIRED)])
    status = SelectField(_l("Présence"), choices=ATTENDANCE_CHOICES)
    holder_id = SelectField(_l("Procuration donnée à"), coerce=int, validate_choice=False, validators=[_record_id_or_none])


class ProxyForm(FlaskForm):
    holder_id = SelectField(_l("Donner procuration à"), coerce=int, validators=[DataRequired(REQUIRED)])


class VoteForm(FlaskForm):
    key = StringField(validators=[DataRequired()])
    voter_id = IntegerField(validators=[DataRequired(), _record_id])
    choice = SelectField(_l("Vote"), choices=CHOICE_CHOICES)


class WithdrawalForm(FlaskForm):
    member_id = IntegerField(validators=[Optional(), _record_id])
    reason = TextAreaField(_l("Motif du déport"), validators=[Optional(), Length(max=1000)])


class InterestForm(FlaskForm):
    siret = _siret_field()
    description = TextAreaField(_l("Nature de l'intérêt"), validators=[DataRequired(REQUIRED), Length(max=2000)])
