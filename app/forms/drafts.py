"""Forms around drafts: starting a file, publishing a call's form (admin).
The answers themselves are not a WTForms form: the call's form definition
drives them (app.callforms, templates/macros/callform.html)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import RadioField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from app.formatting import lazy as _l

REQUIRED = _l("Ce champ est obligatoire.")


class NewDraftForm(FlaskForm):
    call = SelectField(_l("Appel à projets"), validators=[DataRequired(_l("Choisissez un appel."))])
    organisation = RadioField(_l("Organisation qui dépose le dossier"),
                              validators=[DataRequired(_l("Choisissez l'organisation pour laquelle vous déposez ce dossier."))])
    title = StringField(_l("Titre provisoire du projet"), validators=[Optional(), Length(max=150)],
                        description=_l("Facultatif : vous le préciserez dans le formulaire."))


class FormDefinitionForm(FlaskForm):
    definition = TextAreaField(_l("Définition du formulaire (YAML)"),
                               validators=[DataRequired(REQUIRED), Length(max=500_000)],
                               description=_l("Collez la définition complète : sections, champs, types, conditions. "
                                              "Une nouvelle version n'est publiée que si le contenu change ; "
                                              "les dossiers déjà créés gardent leur version."),
                               render_kw={"rows": 30, "spellcheck": "false", "class": "code"})
