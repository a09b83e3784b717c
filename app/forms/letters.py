"""Forms of the letters, exports and notifications pages."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import RadioField, SelectField, TextAreaField
from wtforms.validators import DataRequired, ValidationError

from app.formatting import lazy as _l


class LetterTextForm(FlaskForm):
    body = TextAreaField(_l("Texte de la lettre"), validators=[DataRequired(_l("Le texte de la lettre ne peut pas être vide."))],
                         description=_l("Séparez les paragraphes par une ligne vide. Les champs entre accolades sont remplis "
                                        "pour chaque dossier."),
                         render_kw={"rows": 14})

    def __init__(self, *args, kind: str | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.kind = kind  # the kind of letter: its placeholders are checked

    def validate_body(self, field) -> None:
        from app.letters import LetterTextError, check_text

        try:
            check_text(field.data or "", self.kind)
        except LetterTextError as exc:
            raise ValidationError(exc.message) from None


class ExportForm(FlaskForm):
    session_id = SelectField(_l("Séance (préfixe des délibérations)"), validators=[DataRequired()])


class NotificationPreferenceForm(FlaskForm):
    mode = RadioField(_l("Recevoir les notifications par e-mail"), choices=[
        ("instant", _l("À chaque notification")),
        ("digest", _l("Un récapitulatif quotidien")),
        ("none", _l("Jamais (seulement dans le Guichet)")),
    ], default="instant", validators=[DataRequired()])
