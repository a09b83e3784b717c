"""Forms of the agreements, payment requests and co-financing pages."""

from __future__ import annotations

from decimal import Decimal

from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, DecimalField, MultipleFileField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, StopValidation, ValidationError

from app.forms.organisations import MONEY_HINT, REQUIRED, MoneyField, parse_money
from app.formatting import lazy as _l

KIND_CHOICES = [("advance", _l("Avance")), ("interim", _l("Acompte (versement intermédiaire)")),
                ("balance", _l("Solde (rapport final)"))]
EXPENSES_HINT = _l("Une dépense par ligne : libellé ; montant en euros. Indiquez le total des dépenses réalisées "
                   "depuis le début du projet (état récapitulatif cumulé). Par exemple : Prestation IA ; 12 500,00")


def parse_expenses(text: str) -> list[tuple[str, int]]:
    """« libellé ; montant » per line → ``[(label, cents)]``; ValueError with a French message."""
    lines = []
    for number, raw in enumerate((text or "").splitlines(), start=1):
        if not raw.strip():
            continue
        label, sep, amount = raw.rpartition(";")
        if not sep or not label.strip():
            raise ValueError(str(_l("Ligne %(n)s : écrivez « libellé ; montant ».", n=number)))
        try:
            lines.append((label.strip(), parse_money(amount)))
        except ValueError as exc:
            raise ValueError(str(_l("Ligne %(n)s : %(error)s", n=number, error=str(exc)))) from None
    return lines


def _finite(form, field) -> None:
    """« NaN », « Infinity » are decimals to Python, not rates."""
    if field.data is not None and not field.data.is_finite():
        raise StopValidation(_l("Saisissez un nombre, par exemple 50."))


class AgreementForm(FlaskForm):
    signed_on = DateField(_l("Date de signature"), validators=[InputRequired(REQUIRED)])
    aid_rate = DecimalField(_l("Taux d'aide (%)"), places=2, validators=[InputRequired(REQUIRED), _finite, NumberRange(
        min=Decimal("0.01"), max=Decimal(100), message=_l("Le taux est compris entre 0,01 et 100 %%."))],
        description=_l("Par exemple 50 pour 50 %."))
    eligible_costs_cents = MoneyField(_l("Assiette des dépenses éligibles"), validators=[InputRequired(REQUIRED)],
                                      description=MONEY_HINT)
    bank_guarantee = BooleanField(_l("Garantie bancaire fournie (avance portée à 60 %)"))


class PaymentRequestForm(FlaskForm):
    kind = SelectField(_l("Type de versement"), choices=KIND_CHOICES, validators=[DataRequired(REQUIRED)])
    expenses = TextAreaField(_l("Dépenses réalisées"), description=EXPENSES_HINT, validators=[Length(max=20_000)])
    requested_cents = MoneyField(_l("Montant demandé (facultatif)"), validators=[Optional()],
                                 description=_l("Laissez vide pour demander le maximum possible. Le solde est calculé."))
    started_on = DateField(_l("Date de début des travaux"), validators=[Optional()],
                           description=_l("À indiquer lors de la première demande."))
    completed_on = DateField(_l("Date de fin des travaux"), validators=[Optional()],
                             description=_l("Pour le solde (rapport final)."))
    proofs = MultipleFileField(_l("Justificatifs (PDF, JPEG ou PNG, 10 Mo au plus chacun)"))

    def validate_expenses(self, field):
        try:
            self.expense_lines = parse_expenses(field.data or "")
        except ValueError as exc:
            raise ValidationError(str(exc)) from None


class ValidateForm(FlaskForm):
    accepted_costs_cents = MoneyField(_l("Dépenses retenues"), validators=[Optional()],
                                      description=_l("Laissez vide pour retenir toutes les dépenses déclarées."))
    accepted_cents = MoneyField(_l("Montant retenu"), validators=[Optional()],
                                description=_l("Laissez vide pour retenir le montant demandé (calculé pour le solde)."))
    reason = TextAreaField(_l("Motif de la réduction"), validators=[Length(max=2000)])


class ReasonForm(FlaskForm):
    reason = TextAreaField(_l("Motif"), validators=[DataRequired(REQUIRED), Length(max=2000)])


class ConfirmForm(FlaskForm):
    """A button with its CSRF token."""


class CoFinancingForm(FlaskForm):
    region = MoneyField(_l("Région Grand Est"), validators=[Optional()], description=MONEY_HINT)
    feder = MoneyField(_l("FEDER (Union européenne)"), validators=[Optional()])
    etat = MoneyField(_l("État / France 2030"), validators=[Optional()])
    industriel = MoneyField(_l("Industriels"), validators=[Optional()])
    academique = MoneyField(_l("Académiques"), validators=[Optional()])


class AidRegimeForm(FlaskForm):
    aid_regime = StringField(_l("Régime d'aide d'État"), validators=[DataRequired(REQUIRED), Length(max=40)],
                             description=_l("« de_minimis » (règlement (UE) 2023/2831) ou « gber: » suivi de l'article "
                                            "du RGEC, par exemple « gber:25 » pour la R&D."))
    # Choices (the grids of scoring/grids/) are set by the view; "" is the workflow's grid.
    grid_name = SelectField(_l("Grille d'évaluation"), choices=[],
                            description=_l("Critères, agrégation, départage et instrument de calcul de l'aide. "
                                           "L'instrument de la grille doit relever du régime d'aide choisi."))
