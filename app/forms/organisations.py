"""Organisation forms: SIRET lookup, legal data, invitations.

Amounts are typed in euros the way people write them (« 1 234 567,89 »,
« 1234567 », « 2 000 000 € ») and become integer cents; the field shows cents
back in the same French format."""

from __future__ import annotations

import re
from decimal import Decimal, DecimalException

from babel.numbers import NumberFormatError, format_decimal, get_group_symbol, parse_decimal
from flask_wtf import FlaskForm
from wtforms import EmailField, Field, SelectField, StringField
from wtforms.validators import DataRequired, Length, NumberRange, Optional, ValidationError
from wtforms.widgets import TextInput

from app.formatting import _locale
from app.formatting import lazy as _l
from app.models import GRAND_EST_DEPARTMENTS
from app.models.organisation import InvalidIdentifier, clean_siret

REQUIRED = _l("Ce champ est obligatoire.")
MONEY_HINT = _l("En euros, par exemple 1 234 567,89.")
BABEL_LOCALES = {"fr": "fr_FR", "en": "en_GB"}
DEPARTMENT_NAMES = {
    "08": "Ardennes", "10": "Aube", "51": "Marne", "52": "Haute-Marne", "54": "Meurthe-et-Moselle",
    "55": "Meuse", "57": "Moselle", "67": "Bas-Rhin", "68": "Haut-Rhin", "88": "Vosges",
}
OTHER_DEPARTMENT = "other"
_SPACES = re.compile(r"[\s\u00a0\u202f\u2009]+")
# Above any budget (the plan is 350 M€) and within a database BIGINT: a bigger amount is a typing error.
MAX_CENTS = 10**14 - 1
# Above any staff count, within a database INTEGER.
MAX_COUNT = 10_000_000


def parse_money(text: str, locale: str | None = None) -> int:
    """``"1 234 567,89"`` → ``123456789`` cents. Raises ValueError with a French
    message on anything else than a positive amount to the cent."""
    loc = BABEL_LOCALES.get(locale or _locale(), "fr_FR")
    cleaned = text.strip().removesuffix("€").removesuffix("EUR").strip()
    if get_group_symbol(loc).isspace():
        cleaned = _SPACES.sub(get_group_symbol(loc), cleaned)
    else:
        cleaned = _SPACES.sub("", cleaned)
    try:
        amount = parse_decimal(cleaned, locale=loc, strict=True)
    except (NumberFormatError, DecimalException):
        raise ValueError(str(_l("Saisissez un montant en euros, par exemple 1 234 567,89."))) from None
    if not amount.is_finite():
        raise ValueError(str(_l("Saisissez un montant en euros, par exemple 1 234 567,89.")))
    if amount < 0:
        raise ValueError(str(_l("Le montant ne peut pas être négatif.")))
    if amount > Decimal(MAX_CENTS) / 100:  # before multiplying: "1E+999999" would overflow
        raise ValueError(str(_l("Ce montant est trop élevé : vérifiez le nombre de chiffres.")))
    cents = amount * 100
    if cents != cents.to_integral_value():
        raise ValueError(str(_l("Le montant s'arrête aux centimes (deux chiffres après la virgule).")))
    return int(cents)


def format_money_input(cents: int, locale: str | None = None) -> str:
    """Cents as typed back into an amount field: ``123456789`` → ``1 234 567,89``."""
    loc = BABEL_LOCALES.get(locale or _locale(), "fr_FR")
    return format_decimal(Decimal(cents) / 100, format="#,##0.00", locale=loc)


class MoneyField(Field):
    """An amount typed in euros, held in integer cents (None when empty)."""

    widget = TextInput()

    def __init__(self, label=None, validators=None, **kwargs):
        render_kw = {"inputmode": "decimal", "autocomplete": "off", **kwargs.pop("render_kw", {})}
        super().__init__(label, validators, render_kw=render_kw, **kwargs)

    def process_formdata(self, valuelist):
        if not valuelist:  # not sent: keep the object's value
            return
        if not valuelist[0].strip():
            self.data = None
            return
        try:
            self.data = parse_money(valuelist[0])
        except ValueError:
            self.data = None
            raise

    def _value(self) -> str:
        if self.raw_data:
            return self.raw_data[0]
        return "" if self.data is None else format_money_input(self.data)


class CountField(Field):
    """A whole number of people (None when empty), with a French error message."""

    widget = TextInput()

    def __init__(self, label=None, validators=None, **kwargs):
        render_kw = {"inputmode": "numeric", "autocomplete": "off", **kwargs.pop("render_kw", {})}
        super().__init__(label, validators, render_kw=render_kw, **kwargs)

    def process_formdata(self, valuelist):
        if not valuelist:  # not sent: keep the object's value
            return
        self.data = None
        if not valuelist[0].strip():
            return
        text = _SPACES.sub("", valuelist[0])
        if not (text.isascii() and text.isdigit()):
            raise ValueError(str(_l("Indiquez un nombre entier, par exemple 42.")))
        if len(text) > 9 or int(text) > MAX_COUNT:
            raise ValueError(str(_l("Ce nombre est trop grand : vérifiez le nombre de chiffres.")))
        self.data = int(text)

    def _value(self) -> str:
        if self.raw_data:
            return self.raw_data[0]
        return "" if self.data is None else str(self.data)


def department_choices() -> list[tuple[str, str]]:
    return ([("", _l("— Choisir —"))] + [(code, f"{code} — {DEPARTMENT_NAMES[code]}") for code in GRAND_EST_DEPARTMENTS]
            + [(OTHER_DEPARTMENT, _l("Autre département (hors Grand Est)"))])


def _valid_siret(form, field) -> None:
    if field.data:
        try:
            field.data = clean_siret(field.data)
        except InvalidIdentifier:
            raise ValidationError(_l("Ce numéro SIRET n'est pas valide : vérifiez les 14 chiffres (clé de contrôle incorrecte).")) from None


def _siret_field() -> StringField:
    return StringField(
        _l("Numéro SIRET"), validators=[DataRequired(_l("Indiquez le numéro SIRET (14 chiffres).")), Length(max=20), _valid_siret],
        description=_l("14 chiffres, sur l'extrait Kbis ou l'avis de situation au répertoire Sirene."),
        render_kw={"inputmode": "numeric", "autocomplete": "off", "spellcheck": "false"},
    )


class SiretLookupForm(FlaskForm):
    """Step 1 of the registration, sent with GET (it changes nothing): no CSRF."""

    class Meta:
        csrf = False

    siret = _siret_field()


class LegalDataForm(FlaskForm):
    """The legal data of an organisation. Field names are the operation's keys."""

    name = StringField(_l("Raison sociale"), validators=[DataRequired(REQUIRED), Length(max=255)],
                       render_kw={"autocomplete": "organization"})
    legal_form = StringField(_l("Forme juridique"), validators=[Optional(), Length(max=100)],
                             description=_l("Par exemple SAS, SARL, association."))
    naf_code = StringField(_l("Code NAF (APE)"), validators=[Optional(), Length(max=8)],
                           description=_l("4 chiffres et une lettre, par exemple 62.01Z."))
    address = StringField(_l("Adresse de l'établissement"), validators=[Optional(), Length(max=255)],
                          render_kw={"autocomplete": "street-address"})
    postal_code = StringField(_l("Code postal"), validators=[Optional(), Length(max=10)],
                              render_kw={"autocomplete": "postal-code", "inputmode": "numeric"})
    city = StringField(_l("Commune"), validators=[Optional(), Length(max=100)],
                       render_kw={"autocomplete": "address-level2"})
    department = SelectField(_l("Département de l'établissement"), choices=department_choices, validate_choice=False,
                             validators=[Optional()],
                             # the operation checks the value (and accepts any French department)
                             description=_l("Hors Grand Est, le département est déduit du code postal."))
    headcount = CountField(_l("Effectif (équivalents temps plein)"),
                           validators=[Optional(), NumberRange(min=0, message=_l("La valeur ne peut pas être négative."))],
                           description=_l("Effectif annuel moyen du dernier exercice clos."))
    turnover_cents = MoneyField(_l("Chiffre d'affaires annuel"), validators=[Optional()], description=MONEY_HINT)
    balance_sheet_cents = MoneyField(_l("Total du bilan annuel"), validators=[Optional()], description=MONEY_HINT)
    group_headcount = CountField(_l("Effectif des entreprises liées et partenaires"), validators=[Optional()],
                                 description=_l("Entreprises liées à 100 %, partenaires au prorata de la participation ; "
                                                "laisser vide s'il n'y en a pas."))
    group_turnover_cents = MoneyField(_l("Chiffre d'affaires des entreprises liées et partenaires"),
                                      validators=[Optional()], description=MONEY_HINT)
    group_balance_sheet_cents = MoneyField(_l("Total du bilan des entreprises liées et partenaires"),
                                           validators=[Optional()], description=MONEY_HINT)

    LEGAL_KEYS = ("name", "legal_form", "naf_code", "address", "postal_code", "city", "department", "headcount",
                  "turnover_cents", "balance_sheet_cents", "group_headcount", "group_turnover_cents",
                  "group_balance_sheet_cents")

    def legal_data(self) -> dict:
        return {key: self[key].data for key in self.LEGAL_KEYS}

    def set_department(self, code: str | None) -> None:
        """Show a stored department: Grand Est ones as such, any other as « other »."""
        if code is None:
            self.department.data = ""
        else:
            self.department.data = code if code in GRAND_EST_DEPARTMENTS else OTHER_DEPARTMENT

    def add_errors(self, errors: dict[str, str]) -> list[str]:
        """Attach an operation's errors to their fields; returns those without a field."""
        orphans = []
        for key, message in errors.items():
            if key in self and key != "csrf_token":
                self[key].errors = [*self[key].errors, message]
            else:
                orphans.append(message)
        return orphans


class RegisterOrganisationForm(LegalDataForm):
    siret = _siret_field()


class InvitationForm(FlaskForm):
    # The address itself is checked by the operation (invite_member), which
    # accepts the .test addresses of the demo outside production.
    email = EmailField(_l("Adresse e-mail de la personne à inviter"), validators=[DataRequired(REQUIRED), Length(max=254)],
                       render_kw={"autocomplete": "email"})


class ConfirmForm(FlaskForm):
    """A button that changes something: only the CSRF token."""


class LinkedUndertakingForm(FlaskForm):
    """A company linked to the organisation: for de minimis, one single undertaking."""

    siren = StringField(_l("SIREN de l'entreprise liée"), validators=[DataRequired(REQUIRED), Length(max=20)],
                        description=_l("9 chiffres, par exemple celui de la société mère ou d'une filiale."),
                        render_kw={"inputmode": "numeric", "autocomplete": "off"})
    relation = StringField(_l("Nature du lien"), validators=[DataRequired(REQUIRED), Length(max=200)],
                           description=_l("Par exemple : société mère détenant la majorité du capital ; filiale détenue en totalité."))
