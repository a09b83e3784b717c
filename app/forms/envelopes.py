"""Forms of the envelopes page (an account's cap and, for a year, its payment credits) and of the linked
companies page (the removal of a link, with its reason)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import TextAreaField
from wtforms.validators import DataRequired, Length

from app.forms.organisations import MONEY_HINT, REQUIRED, MoneyField
from app.formatting import lazy as _l


class EnvelopeForm(FlaskForm):
    limit = MoneyField(_l("Plafond (réservé + engagé)"), description=MONEY_HINT)
    credits = MoneyField(_l("Crédits de paiement de l'année"),
                         description=_l("Ce que l'année peut verser. Laissez vide tant qu'ils ne sont pas votés."))
    reason = TextAreaField(_l("Motif (délibération, décision modificative…)"),
                           validators=[DataRequired(REQUIRED), Length(max=1000)])


class RemoveLinkForm(FlaskForm):
    reason = TextAreaField(_l("Motif de la suppression"), validators=[DataRequired(REQUIRED), Length(max=1000)],
                           description=_l("Par exemple : déclaration faite par erreur, cession de la filiale au 1er mars."))
