"""app.callforms, the pure package: definitions and their validation, parsing
of every field type with its French messages, conditional display,
completeness, budget totals and the summary of answers. No database here."""

from __future__ import annotations

import copy
from decimal import Decimal

import pytest

from app import callforms
from app.callforms import DefinitionError, FieldError, builtin_definition, load_definition, parse_value
from app.callforms.values import ValueProblem
from app.operations.demo import make_siret

NBSP, NNBSP = "\u00a0", "\u202f"


def squash(text: str) -> str:
    return text.replace(NBSP, " ").replace(NNBSP, " ")


def form(*fields: dict, title: str = "Formulaire test") -> dict:
    return {"title": title, "sections": [{"key": "s", "title": "Section", "fields": list(fields)}]}


def one(field: dict):
    return load_definition(form(field)).field(field["key"])


def problems_of(data: dict) -> list[str]:
    with pytest.raises(DefinitionError) as info:
        load_definition(data)
    return info.value.problems


def parse(field: dict, value, source: str = "form"):
    return parse_value(one(field), value, source=source)


def refused(field: dict, value, source: str = "form") -> str:
    with pytest.raises(ValueProblem) as info:
        parse(field, value, source)
    return squash(info.value.message)


@pytest.fixture(scope="module")
def pack():
    return load_definition(builtin_definition("pack_ia"))


@pytest.fixture(scope="module")
def ami():
    return load_definition(builtin_definition("ami_numerique"))


# --- the demo definitions ----------------------------------------------------------------------------


def test_both_demo_definitions_load_with_their_required_file_fields(pack, ami):
    assert {f.key for f in pack.file_fields} == {"kbis", "devis_prestataire", "attestation_de_minimis", "liasse_fiscale"}
    assert {f.key for f in ami.file_fields} == {"dossier_candidature", "annexe_technique", "budget_previsionnel", "kbis"}
    for defn in (pack, ami):
        assert all(f.required and f.max_bytes == 10 * 1024 * 1024 and "application/pdf" in f.accept for f in defn.file_fields)
        assert any(f.show_if is not None for f in defn.fields), "show_if used at least once"
        assert defn.requested_field is not None and defn.requested_field.type == "money"
        assert defn.budget_field("expenses") is not None and defn.budget_field("cofinancing") is not None
    assert set(pack.field("kbis").accept) >= {"image/jpeg", "image/png"}
    assert pack.field("devis_prestataire").accept == ("application/pdf",)


def test_demo_definitions_match_the_domain(pack, ami):
    expenses = pack.field("depenses")
    assert expenses.column("categorie").option_values == ("prestation_externe", "recrutement", "autre")
    assert [c.key for c in expenses.columns] == ["categorie", "description", "montant_ht"]
    cofinancing = pack.field("cofinancements")
    assert cofinancing.column("financeur").option_values == ("region", "feder", "etat_france_2030", "industriel", "academique")
    assert cofinancing.column("statut").option_values == ("acquis", "sollicite")
    assert pack.field("description_projet").max_length == 4000
    assert pack.field("iban").type == "iban" and pack.field("contact_email").type == "email"
    assert pack.field("contact_telephone").type == "phone"
    assert ami.field("defi").option_values == ("sante", "industrie", "bioeconomie")
    assert ami.field("partenaires").type == "rows" and ami.field("trl_initial").max == 9


def test_definition_api_shape(pack):
    fields = {f["key"]: f for f in (f.to_api() for f in pack.fields)}
    assert set(fields["nature_projet"]) >= {"key", "label", "type", "required", "options", "accept", "max_bytes", "columns"}
    assert fields["nature_projet"]["options"][0] == {"value": "prestation",
                                                     "label": "Prestation externe (étude, accompagnement, développement)"}
    assert fields["kbis"]["accept"] == ["application/pdf", "image/jpeg", "image/png"]
    assert fields["kbis"]["max_bytes"] == 10485760
    assert [c["key"] for c in fields["depenses"]["columns"]] == ["categorie", "description", "montant_ht"]
    assert fields["depenses"]["columns"][2]["type"] == "money"
    assert fields["titre_projet"]["options"] is None and fields["titre_projet"]["columns"] is None
    assert fields["diagnostic_ia_organisme"]["show_if"] == {"field": "diagnostic_ia_realise", "in": [True]}


def test_field_reads_like_a_dict_for_other_helpers(pack):
    kbis = pack.field("kbis")
    assert kbis["key"] == "kbis" and kbis.get("max_bytes") == 10485760 and kbis.get("nope", 1) == 1
    assert pack.field("unknown") is None


def test_hash_ignores_key_order_and_changes_with_content():
    a = form({"key": "x", "type": "text", "label": "X"})
    b = {"sections": [{"fields": [{"label": "X", "type": "text", "key": "x"}], "title": "Section", "key": "s"}],
         "title": "Formulaire test"}
    assert load_definition(a).hash == load_definition(b).hash
    c = copy.deepcopy(a)
    c["sections"][0]["fields"][0]["label"] = "Y"
    assert load_definition(c).hash != load_definition(a).hash


# --- definition validation ---------------------------------------------------------------------------


def test_every_problem_is_listed_at_once():
    data = {
        "title": "",
        "colour": "blue",
        "sections": [
            {"key": "a", "title": "A", "fields": [
                {"key": "x", "type": "color", "label": "X"},
                {"key": "dup", "type": "text", "label": "D"},
                {"key": "c", "type": "choice", "label": "C"},
                {"key": "t", "type": "text", "label": "T", "requried": True},
            ]},
            {"key": "a", "title": "A bis", "fields": [
                {"key": "dup", "type": "number", "label": "D2"},
                {"key": "f", "type": "file", "label": "F"},
                {"key": "s", "type": "text", "label": "S", "show_if": {"field": "nowhere", "equals": "x"}},
            ]},
        ],
    }
    problems = problems_of(data)
    text = "\n".join(problems)
    assert len(problems) >= 9, problems
    assert "le titre (« title ») est obligatoire" in text
    assert "clé inconnue « colour »" in text
    assert "type inconnu « color »" in text
    assert "Section « a » : clé de section en double." in text
    assert "Champ « dup » : clé de champ en double" in text
    assert "Champ « c » : « options » est obligatoire" in text
    assert "clé « requried » inconnue" in text
    assert "« accept » est obligatoire" in text and "« max_bytes » est obligatoire" in text
    assert "« show_if » renvoie au champ inconnu « nowhere »" in text


@pytest.mark.parametrize("field,expected", [
    ({"key": "a", "type": "text", "label": "A", "show_if": {"field": "a", "equals": "x"}}, "ne peut pas renvoyer au champ lui-même"),
    ({"key": "a", "type": "text", "label": "A", "show_if": {"field": "yn", "equals": "oui"}}, "la valeur \"oui\" ne peut pas être une réponse à « yn »"),
    ({"key": "a", "type": "text", "label": "A", "show_if": {"field": "ch", "in": ["b", "z"]}}, "la valeur \"z\" ne peut pas être une réponse à « ch »"),
    ({"key": "a", "type": "text", "label": "A", "show_if": {"field": "ch", "equals": "a", "in": ["a"]}}, "soit « equals », soit « in »"),
    ({"key": "a", "type": "text", "label": "A", "show_if": {"field": "ch"}}, "soit « equals », soit « in »"),
    ({"key": "a", "type": "text", "label": "A", "show_if": {"field": "doc", "equals": "x"}}, "ne peut pas tester un champ de type « file »"),
    ({"key": "a", "type": "text", "label": "A", "maps_to": "requested_amount_cents"}, "demande un champ de type money"),
    ({"key": "a", "type": "money", "label": "A", "maps_to": "budget"}, "« maps_to » inconnu « budget »"),
    ({"key": "a", "type": "number", "label": "A", "min": 10, "max": 1}, "« min » est plus grand que « max »"),
    ({"key": "a", "type": "money", "label": "A", "max": 12.5}, "un montant positif en centimes"),
    ({"key": "a", "type": "percentage", "label": "A", "max": 150}, "un nombre entre 0 et 100"),
    ({"key": "a", "type": "date", "label": "A", "min": "31/12/2026"}, "une date AAAA-MM-JJ"),
    ({"key": "a", "type": "text", "label": "A", "max_length": 0}, "« max_length » doit être un nombre entier"),
    ({"key": "a", "type": "text", "label": "A", "required": "yes"}, "« required » vaut true ou false"),
    ({"key": "a", "type": "text", "label": ""}, "le libellé (« label ») est obligatoire"),
    ({"key": "A-b", "type": "text", "label": "A"}, "« key » est obligatoire : lettres minuscules"),
    ({"key": "a", "type": "text", "label": "A", "options": [{"value": "x", "label": "X"}]}, "clé « options » inconnue ou sans objet"),
    ({"key": "a", "type": "choice", "label": "A", "options": [{"value": "x", "label": "X"}, {"value": "x", "label": "Y"}]}, "option « x » en double"),
    ({"key": "a", "type": "choice", "label": "A", "options": [{"value": True, "label": "Oui"}]}, "mettez oui/non/true entre guillemets"),
    ({"key": "a", "type": "file", "label": "A", "accept": ["pdf"], "max_bytes": 10}, "une liste de types MIME"),
    ({"key": "a", "type": "rows", "label": "A"}, "« columns » est obligatoire"),
    ({"key": "a", "type": "rows", "label": "A", "columns": [{"key": "p", "type": "file", "label": "P", "accept": ["application/pdf"], "max_bytes": 1}]},
     "une colonne ne peut pas être de type « file »"),
    ({"key": "a", "type": "rows", "label": "A", "columns": [{"key": "p", "type": "text", "label": "P", "show_if": {"field": "yn", "equals": True}}]},
     "« show_if » n'est pas permis dans une colonne"),
    ({"key": "a", "type": "rows", "label": "A", "budget_role": "expenses", "columns": [{"key": "p", "type": "text", "label": "P"}]},
     "« budget_role » demande une colonne de type money"),
    ({"key": "a", "type": "rows", "label": "A", "min_rows": 3, "max_rows": 1, "columns": [{"key": "p", "type": "text", "label": "P"}]},
     "« min_rows » est plus grand que « max_rows »"),
])
def test_each_definition_rule_has_a_french_message(field, expected):
    base = [
        {"key": "yn", "type": "yes_no", "label": "Oui ou non"},
        {"key": "ch", "type": "choice", "label": "Choix", "options": [{"value": "a", "label": "A"}, {"value": "b", "label": "B"}]},
        {"key": "doc", "type": "file", "label": "Document", "accept": ["application/pdf"], "max_bytes": 1000},
    ]
    problems = problems_of(form(*base, field))
    assert any(expected in p for p in problems), problems


def test_show_if_cycles_are_refused():
    problems = problems_of(form(
        {"key": "a", "type": "yes_no", "label": "A", "show_if": {"field": "b", "equals": True}},
        {"key": "b", "type": "yes_no", "label": "B", "show_if": {"field": "a", "equals": True}},
    ))
    assert any("forme une boucle" in p for p in problems), problems


def test_two_maps_to_or_budget_roles_are_refused():
    money = {"type": "money", "label": "M", "maps_to": "requested_amount_cents"}
    problems = problems_of(form({"key": "a", **money}, {"key": "b", **money}))
    assert any("plusieurs champs alimentent « requested_amount_cents »" in p for p in problems)


@pytest.mark.parametrize("data", [None, [], "texte", {"title": "x"}, {"title": "x", "sections": []},
                                  {"title": "x", "sections": [{"key": "s", "title": "S", "fields": []}]}])
def test_shapeless_definitions_are_refused(data):
    with pytest.raises(DefinitionError) as info:
        load_definition(data)
    assert info.value.problems


def test_yaml_errors_give_the_line():
    with pytest.raises(DefinitionError) as info:
        callforms.parse_yaml("title: x\nsections:\n  - key: s\n    title: [oops\n")
    assert "ligne" in info.value.problems[0]
    with pytest.raises(DefinitionError):
        callforms.parse_yaml("- juste\n- une liste\n")


def test_yaml_dates_become_iso_strings_and_round_trip():
    data = callforms.parse_yaml("title: T\nsections:\n- key: s\n  title: S\n  fields:\n"
                                "  - {key: d, type: date, label: D, min: 2026-01-01}\n")
    assert data["sections"][0]["fields"][0]["min"] == "2026-01-01"
    assert load_definition(data).field("d").min == "2026-01-01"
    pack = builtin_definition("pack_ia")
    assert callforms.parse_yaml(callforms.to_yaml(pack)) == pack


# --- answers, type by type -----------------------------------------------------------------------------

TEXT = {"key": "t", "type": "text", "label": "T", "max_length": 10}
LONG = {"key": "l", "type": "long_text", "label": "L", "max_length": 12}
INT = {"key": "n", "type": "number", "label": "N", "min": 0, "max": 2000}
DEC = {"key": "n", "type": "number", "label": "N", "decimals": 1}
MONEY = {"key": "m", "type": "money", "label": "M"}
MONEY_CAP = {"key": "m", "type": "money", "label": "M", "min": 100, "max": 5_000_000}
PCT = {"key": "p", "type": "percentage", "label": "P"}
DATE = {"key": "d", "type": "date", "label": "D", "min": "2026-01-01"}
YN = {"key": "y", "type": "yes_no", "label": "Y"}
CHOICE = {"key": "c", "type": "choice", "label": "C", "options": [{"value": "a", "label": "Alpha"}, {"value": "b", "label": "Bêta"}]}
MULTI = {"key": "mc", "type": "multi_choice", "label": "MC",
         "options": [{"value": "a", "label": "Alpha"}, {"value": "b", "label": "Bêta"}, {"value": "c", "label": "Gamma"}]}
DEPT = {"key": "dep", "type": "department", "label": "Dép"}
SIRET = {"key": "s", "type": "siret", "label": "S"}
EMAIL = {"key": "e", "type": "email", "label": "E"}
PHONE = {"key": "ph", "type": "phone", "label": "Ph"}
IBAN = {"key": "i", "type": "iban", "label": "I"}


def test_text_and_long_text():
    assert parse(TEXT, "  Bonjour  ") == "Bonjour"
    assert parse(TEXT, "   ") is None
    assert refused(TEXT, "x" * 11) == "Ce texte dépasse 10 caractères (11 saisis)."
    assert refused(TEXT, "deux\nlignes", "api") == "Ce champ tient sur une seule ligne."
    assert refused(TEXT, 12, "api") == "Une chaîne de caractères est attendue."
    assert parse(LONG, "un\r\ndeux\r\n") == "un\ndeux"
    assert refused(LONG, "a\r\n" * 7) == "Ce texte dépasse 12 caractères (13 saisis)."
    assert refused(TEXT, "nul\x00", "api") == "Ce texte contient des caractères non autorisés."


def test_numbers():
    assert parse(INT, " 1 250 ") == 1250
    assert parse(INT, 42, "api") == 42
    assert refused(INT, "12,5") == "Saisissez un nombre entier."
    assert refused(INT, "douze") == "Saisissez un nombre entier."
    assert refused(INT, "2001") == "La valeur doit être inférieure ou égale à 2 000."
    assert refused(INT, "-1") == "La valeur doit être supérieure ou égale à 0."
    assert refused(INT, "12", "api") == "Un nombre entier est attendu."
    assert refused(INT, True, "api") == "Un nombre est attendu."
    assert parse(DEC, "12,5") == "12.5"
    assert parse(DEC, 3.5, "api") == "3.5"
    assert refused(DEC, "12,55") == "Au plus 1 chiffre(s) après la virgule."
    # no maximum declared: still a figure, not hundreds of digits
    unbounded = {"key": "n", "type": "number", "label": "N"}
    assert parse(unbounded, "999 999 999 999 999") == 999_999_999_999_999
    too_big = "Ce nombre est trop grand (au plus 15 chiffres avant la virgule)."
    assert refused(unbounded, "1" + "0" * 15) == too_big
    assert refused(unbounded, "9" * 400) == too_big
    assert refused(unbounded, 10 ** 20, "api") == too_big
    assert refused(DEC, "-" + "9" * 16 + ",5") == too_big


@pytest.mark.parametrize("typed,cents", [
    ("1 234,56", 123456), ("1234.56", 123456), ("12 500", 1250000), ("12 500 €", 1250000), ("1.234,56", 123456),
    (f"1{NBSP}234{NNBSP}567,8", 123456780), ("0,05", 5), ("7", 700),
])
def test_money_from_french_input_to_cents(typed, cents):
    assert parse(MONEY, typed) == cents


def test_money_errors_and_api_cents():
    assert refused(MONEY, "douze") == "Saisissez un montant en euros, par exemple 12 500 ou 12 500,50."
    assert refused(MONEY, "-5") == "Le montant ne peut pas être négatif."
    assert refused(MONEY, "12,345") == "Un montant a au plus deux chiffres après la virgule (les centimes)."
    assert parse(MONEY, 123456, "api") == 123456
    for bad in (12.5, "1250", True):
        assert refused(MONEY, bad, "api").startswith("Un montant en centimes (nombre entier) est attendu")
    assert refused(MONEY, -1, "api") == "Le montant ne peut pas être négatif."
    assert refused(MONEY_CAP, "0,50") == "Le montant doit être d'au moins 1,00 €."
    assert refused(MONEY_CAP, "50 000,01") == "Le montant ne peut pas dépasser 50 000,00 €."


def test_percentages():
    assert parse(PCT, "12,5 %") == "12.5"
    assert parse(PCT, "100") == "100"
    assert parse(PCT, 30, "api") == "30"
    assert parse(PCT, "7.25", "api") == "7.25"
    assert refused(PCT, "101") == "Saisissez un pourcentage entre 0 et 100."
    assert refused(PCT, "-1") == "Saisissez un pourcentage entre 0 et 100."
    assert refused(PCT, "12,555") == "Un pourcentage a au plus deux chiffres après la virgule."
    assert refused(PCT, "beaucoup") == "Saisissez un pourcentage entre 0 et 100, par exemple 12,5."


def test_dates():
    assert parse(DATE, "2026-12-31") == "2026-12-31"
    assert parse(DATE, "5/3/2026") == "2026-03-05"
    assert refused(DATE, "31/02/2026") == "Saisissez une date valide, par exemple 31/12/2026."
    assert refused(DATE, "31/12/2026", "api") == "Une date au format AAAA-MM-JJ est attendue, par exemple 2026-12-31."
    assert refused(DATE, "2025-12-31") == "La date doit être le 1 janvier 2026 ou après."


def test_yes_no_and_choices():
    assert parse(YN, "oui") is True and parse(YN, "non") is False
    assert parse(YN, False, "api") is False
    assert refused(YN, "peut-être") == "Répondez par oui ou par non."
    assert refused(YN, "oui", "api") == "Répondez par true (oui) ou false (non)."
    assert parse(CHOICE, "b") == "b"
    assert refused(CHOICE, "z") == "Choisissez une des options proposées."
    assert refused(CHOICE, "Alpha", "api") == "Valeur inconnue : les valeurs possibles sont a, b."
    assert parse(MULTI, ["c", "a", "a"]) == ["a", "c"]
    assert parse(MULTI, []) is None
    assert refused(MULTI, ["a", "z"], "api") == "Valeurs inconnues : z (valeurs possibles : a, b, c)."
    assert refused(MULTI, "a", "api") == "Une liste de valeurs est attendue."


def test_departments_include_corsica_and_overseas():
    assert len(callforms.DEPARTMENTS) == 101
    assert parse(DEPT, "67") == "67"
    assert parse(DEPT, "2a") == "2A" and parse(DEPT, "2B") == "2B"
    assert parse(DEPT, "974") == "974" and parse(DEPT, "976") == "976"
    assert parse(DEPT, "1") == "01"
    for bad in ("20", "975", "96", "00"):
        assert refused(DEPT, bad) == "Choisissez un département français (par exemple 67, 2A ou 974)."


def test_siret_with_stdnum():
    siret = make_siret(81234567)
    assert parse(SIRET, f"{siret[:3]} {siret[3:6]} {siret[6:9]} {siret[9:]}") == siret
    assert parse(SIRET, "35600000000048") == "35600000000048"  # La Poste: digit sum multiple of 5
    wrong = siret[:-1] + str((int(siret[-1]) + 1) % 10)
    assert refused(SIRET, wrong).startswith("Ce numéro SIRET n'existe pas : la clé de contrôle ne correspond pas.")
    assert refused(SIRET, "1234") == "Un numéro SIRET compte 14 chiffres, par exemple 732 829 320 00074."


def test_email_with_email_validator():
    assert parse(EMAIL, "Camille.Martin@Entreprise.FR") == "Camille.Martin@entreprise.fr"
    for bad in ("camille", "camille@", "a b@entreprise.fr"):
        assert refused(EMAIL, bad) == "Saisissez une adresse e-mail valide, par exemple nom@entreprise.fr."


@pytest.mark.parametrize("typed", ["03 88 15 68 67", "0388156867", "03.88.15.68.67", "03-88-15-68-67",
                                   "+33 3 88 15 68 67", "+33 (0)3 88 15 68 67", "0033388156867"])
def test_french_phone_numbers_are_normalised(typed):
    assert parse(PHONE, typed) == "03 88 15 68 67"


@pytest.mark.parametrize("typed", ["3 88 15 68 67", "00 88 15 68 67", "+44 20 7946 0958", "03 88 15 68", "03 88 15 68 67 1"])
def test_bad_phone_numbers_are_refused(typed):
    assert refused(PHONE, typed).startswith("Saisissez un numéro de téléphone français à 10 chiffres")


def test_iban_valid_and_invalid():
    assert parse(IBAN, "fr76 3000 6000 0112 3456 7890 189") == "FR7630006000011234567890189"
    assert parse(IBAN, "DE89 3704 0044 0532 0130 00", "api") == "DE89370400440532013000"
    assert refused(IBAN, "FR76 3000 6000 0112 3456 7890 188").startswith(
        "Cet IBAN n'est pas valide : la clé de contrôle ne correspond pas.")
    assert refused(IBAN, "FR76 3000").startswith("Cet IBAN n'a pas le bon format")
    assert refused(IBAN, "ZZ12 3456").startswith("Cet IBAN n'a pas le bon format")


def test_file_fields_take_no_answer(pack):
    answers, errors = callforms.clean_answers(pack, {"kbis": "kbis.pdf"}, source="api")
    assert answers == {}
    assert errors == [FieldError("kbis", "Les pièces jointes se déposent en envoyant le fichier, pas dans les réponses.")]


# --- cleaning whole answers ------------------------------------------------------------------------------


def test_api_answers_unknown_keys_are_errors(pack):
    answers, errors = callforms.clean_answers(pack, {"effectif": 12, "couleur": "bleu"}, source="api")
    assert answers == {"effectif": 12}
    assert errors == [FieldError("couleur", "Ce champ n'existe pas dans le formulaire.")]
    assert callforms.unknown_keys(pack, {"effectif": 1, "zz": 2, "aa": 3}) == ["aa", "zz"]


def test_form_rows_are_parsed_cell_by_cell(pack):
    raw = {
        "_fields": ["depenses"],
        "depenses-0-categorie": "prestation_externe", "depenses-0-description": "Étude", "depenses-0-montant_ht": "10 000",
        "depenses-1-categorie": "", "depenses-1-description": "  ", "depenses-1-montant_ht": "",  # blank: dropped
        "depenses-5-categorie": "autre", "depenses-5-description": "Capteurs", "depenses-5-montant_ht": "2 500,50",
    }
    answers, errors = callforms.clean_answers(pack, raw, source="form")
    assert errors == []
    assert answers == {"depenses": [
        {"categorie": "prestation_externe", "description": "Étude", "montant_ht": 1_000_000},
        {"categorie": "autre", "description": "Capteurs", "montant_ht": 250_050},
    ]}
    raw["depenses-5-montant_ht"] = "beaucoup"
    answers, errors = callforms.clean_answers(pack, raw, source="form")
    assert "depenses" not in answers
    assert errors == [FieldError("depenses", "Saisissez un montant en euros, par exemple 12 500 ou 12 500,50.", row=1,
                                 column="montant_ht")]
    assert errors[0].anchor == "f-depenses-1-montant_ht"
    # removing a row (the "Supprimer" button) drops its cells only
    without = callforms.without_row(raw, "depenses", 5)
    assert callforms.clean_answers(pack, without, source="form") == (
        {"depenses": [{"categorie": "prestation_externe", "description": "Étude", "montant_ht": 1_000_000}]}, [])


def test_form_markers_clear_emptied_fields(ami):
    # an unticked checkbox group posts nothing but its marker: the answer is cleared
    answers, errors = callforms.clean_answers(ami, {"_fields": ["secteurs_applicatifs", "resume"], "resume": ""}, source="form")
    assert answers == {"secteurs_applicatifs": None, "resume": None} and errors == []
    stored = {"secteurs_applicatifs": ["vision"], "resume": "r", "defi": "sante"}
    assert callforms.merge_answers(ami, stored, answers) == {"defi": "sante"}


def test_api_rows(pack):
    rows = [{"categorie": "autre", "description": "x", "montant_ht": 100}, {"categorie": "autre", "couleur": "bleu"}]
    answers, errors = callforms.clean_answers(pack, {"depenses": rows}, source="api")
    assert errors == [FieldError("depenses", "Ligne 2 : colonnes inconnues : couleur.", row=1)]
    answers, errors = callforms.clean_answers(pack, {"depenses": {"a": 1}}, source="api")
    assert errors == [FieldError("depenses", "Une liste de lignes est attendue.")]
    too_many = [{"categorie": "autre", "description": str(i), "montant_ht": 1} for i in range(31)]
    answers, errors = callforms.clean_answers(pack, {"depenses": too_many}, source="api")
    assert errors == [FieldError("depenses", "Au plus 30 lignes.")]


# --- conditional display ---------------------------------------------------------------------------------


def test_conditions_chain_and_hidden_answers_are_dropped(ami):
    answers = {"defi": "sante", "donnees_sante": True, "hebergeur_hds": True, "etablissement_partenaire": "CHU de Reims"}
    visible = callforms.visible_keys(ami, answers)
    assert {"donnees_sante", "hebergeur_hds", "etablissement_partenaire"} <= visible
    # industry: health questions hidden, and the HDS question depending on them too; `in: [sante, industrie]` stays
    changed = callforms.merge_answers(ami, answers, {"defi": "industrie"})
    assert changed == {"defi": "industrie", "etablissement_partenaire": "CHU de Reims"}
    changed = callforms.merge_answers(ami, answers, {"defi": "bioeconomie"})
    assert changed == {"defi": "bioeconomie"}
    assert "partenaires" not in callforms.visible_keys(ami, {"en_consortium": False})
    assert "partenaires" in callforms.visible_keys(ami, {"en_consortium": True})


def test_multi_choice_condition():
    defn = load_definition(form(MULTI, {"key": "why", "type": "text", "label": "Pourquoi", "show_if": {"field": "mc", "equals": "c"}}))
    assert "why" in callforms.visible_keys(defn, {"mc": ["a", "c"]})
    assert "why" not in callforms.visible_keys(defn, {"mc": ["a"]})


def test_hidden_required_fields_are_not_required(pack):
    answers = {"diagnostic_ia_realise": False}
    errors = callforms.validate_answers(pack, answers, present_files=set(), partial=False)
    keys = {e.key for e in errors}
    assert "diagnostic_ia_organisme" not in keys and "jamais_aidee_ia" in keys
    errors = callforms.validate_answers(pack, {"diagnostic_ia_realise": True}, present_files=set(), partial=False)
    assert "diagnostic_ia_organisme" in {e.key for e in errors}


# --- validation, completeness ----------------------------------------------------------------------------


def test_partial_validation_checks_formats_only(pack):
    assert callforms.validate_answers(pack, {"effectif": 12}, present_files=set(), partial=True) == []
    assert callforms.validate_answers(pack, {"effectif": "douze"}, present_files=set(), partial=True) == [
        FieldError("effectif", "Un nombre entier est attendu.")]
    full = callforms.validate_answers(pack, {"effectif": 12}, present_files=set(), partial=False)
    messages = {e.key: e.message for e in full}
    assert messages["siret_etablissement"] == "Ce champ est obligatoire."
    assert messages["jamais_aidee_ia"] == "Répondez par oui ou par non."
    assert messages["departement_etablissement"] == "Choisissez une option."
    assert messages["depenses"] == "Ajoutez au moins une ligne."
    assert messages["kbis"] == "Joignez ce document."
    assert "effectif" not in messages and "cofinancements" not in messages


def test_required_cells_and_min_rows_at_submission(ami):
    rows = [{"nom": "Labo", "siret": None, "type": "laboratoire", "role": None}]
    answers = {"en_consortium": True, "partenaires": rows}
    assert not [e for e in callforms.validate_answers(ami, answers, partial=True) if e.key == "partenaires"]
    errors = [e for e in callforms.validate_answers(ami, answers, partial=False) if e.key == "partenaires"]
    assert errors == [FieldError("partenaires", "Ce champ est obligatoire.", row=0, column="role")]


def test_completeness_per_section(pack):
    answers = {"siret_etablissement": make_siret(81234567), "departement_etablissement": "51", "effectif": 42,
               "jamais_aidee_ia": True, "diagnostic_ia_realise": True,
               "depenses": [{"categorie": "autre", "description": "x", "montant_ht": 100}]}
    progress = {p.key: p for p in callforms.completeness(pack, answers, {"kbis", "liasse_fiscale"})}
    assert (progress["entreprise"].answered, progress["entreprise"].total) == (3, 5)
    assert progress["entreprise"].missing == ("Chiffre d'affaires du dernier exercice clos", "Code NAF (APE)")
    # the diagnosis was done: its organism becomes required (7 required with the de minimis amount, 2 answered)
    assert (progress["eligibilite"].answered, progress["eligibilite"].total) == (2, 7)
    assert (progress["budget"].answered, progress["budget"].total) == (1, 2)
    assert (progress["pieces"].answered, progress["pieces"].total) == (2, 4)
    assert not progress["pieces"].complete and progress["pieces"].percent == 50
    answers["diagnostic_ia_realise"] = False
    progress = {p.key: p for p in callforms.completeness(pack, answers, set())}
    assert progress["eligibilite"].total == 6


# --- budget --------------------------------------------------------------------------------------------


def budget_answers(aid: int, *expenses: int, cofinancing: tuple[int, ...] = ()) -> dict:
    return {
        "depenses": [{"categorie": "prestation_externe" if i % 2 else "autre", "description": f"ligne {i}", "montant_ht": m}
                     for i, m in enumerate(expenses)],
        "cofinancements": [{"financeur": "feder", "montant": m, "statut": "acquis"} for m in cofinancing],
        "aide_demandee": aid,
    }


def test_budget_totals_are_exact_in_cents(pack):
    # 0.10 € + 0.20 € is 0.30 €, exactly (floats would not say so)
    answers = budget_answers(15, 10, 20, 33_333_333, 1, cofinancing=(7, 8))
    summary = callforms.budget_summary(pack, answers)
    assert summary["expenses_cents"] == 10 + 20 + 33_333_333 + 1
    assert summary["rows"]["depenses"]["total_cents"] == 33_333_364
    assert summary["rows"]["depenses"]["groups"]["categorie"] == [
        {"value": "prestation_externe", "label": "Prestation externe", "total_cents": 20 + 1},
        {"value": "autre", "label": "Autre", "total_cents": 10 + 33_333_333},
    ]
    assert summary["cofinancing_cents"] == 15
    assert summary["requested_cents"] == 15
    assert summary["own_funds_cents"] == 33_333_364 - 15 - 15
    assert summary["aid_share_percent"] == Decimal("0.00")
    summary = callforms.budget_summary(pack, budget_answers(3_333_333, 10_000_000))
    assert summary["aid_share_percent"] == Decimal("33.33")
    assert callforms.requested_amount(pack, budget_answers(123, 1000)) == 123
    assert callforms.requested_amount(pack, {}) is None


def test_requested_aid_above_the_calls_maximum_is_refused(pack):
    answers = budget_answers(5_000_001, 20_000_000)
    for partial in (True, False):
        errors = callforms.validate_answers(pack, answers, present_files=set(), partial=partial, max_aid_cents=5_000_000)
        assert FieldError("aide_demandee", "L'aide demandée (50 000,01 €) dépasse le plafond de l'appel (50 000,00 €).") in [
            FieldError(e.key, squash(e.message)) for e in errors]
    assert not [e for e in callforms.validate_answers(pack, budget_answers(5_000_000, 20_000_000), partial=True,
                                                       max_aid_cents=5_000_000) if e.key == "aide_demandee"]


def test_requested_aid_cannot_exceed_the_expenses(pack):
    over = budget_answers(1_000_001, 400_000, 600_000)
    assert callforms.validate_answers(pack, over, partial=True) == []
    errors = [squash(e.message) for e in callforms.validate_answers(pack, over, partial=False) if e.key == "aide_demandee"]
    assert errors == ["L'aide demandée (10 000,01 €) ne peut pas dépasser le total des dépenses (10 000,00 €)."]
    with_cofinancing = budget_answers(600_000, 1_000_000, cofinancing=(400_001,))
    errors = [squash(e.message) for e in callforms.validate_answers(pack, with_cofinancing, partial=False) if e.key == "aide_demandee"]
    assert errors == ["L'aide demandée et les cofinancements (10 000,01 €) dépassent le total des dépenses (10 000,00 €)."]
    exact = budget_answers(600_000, 1_000_000, cofinancing=(400_000,))
    assert not [e for e in callforms.validate_answers(pack, exact, partial=False) if e.key == "aide_demandee"]


# --- summary for the receipt ----------------------------------------------------------------------------


def test_answers_summary_in_french(pack):
    answers = {"departement_etablissement": "67", "chiffre_affaires": 123456789, "date_creation": "2026-12-31",
               "jamais_aidee_ia": True, "nature_projet": "recrutement", "poste_recrute": "Data scientist",
               "prestataire_nom": "hidden", "iban": "FR7630006000011234567890189",
               "siret_etablissement": "35600000000048", "depenses": budget_answers(1, 10_000, 250_050)["depenses"]}
    summary = dict(callforms.answers_summary(pack, answers, files={"kbis": ["kbis.pdf"]}))
    entreprise = dict(summary["L'entreprise"])
    assert squash(entreprise["Chiffre d'affaires du dernier exercice clos"]) == "1 234 567,89 €"
    assert entreprise["Département de l'établissement"] == "67 — Bas-Rhin"
    assert entreprise["Date de création de l'entreprise"] == "31 décembre 2026"
    assert entreprise["SIRET de l'établissement porteur du projet"] == "356 000 000 00048"
    assert entreprise["Code NAF (APE)"] == "Non renseigné"
    projet = dict(summary["Le projet"])
    assert projet["Nature de la dépense principale"] == "Recrutement de compétences en IA"
    assert "Prestataire en IA retenu" not in projet  # hidden by its condition
    assert dict(summary["Premier projet d'IA et situation de l'entreprise"])[
        "L'entreprise n'a jamais été aidée ni primée pour un projet d'intelligence artificielle"] == "Oui"
    assert dict(summary["Contact et versement"])["IBAN du compte qui recevra l'aide"] == "FR76 3000 6000 0112 3456 7890 189"
    lines = squash(dict(summary["Budget et plan de financement"])["Dépenses prévues"]).split("\n")
    assert lines == ["Ligne 1 — Catégorie : Autre ; Description : ligne 0 ; Montant HT : 100,00 €",
                     "Ligne 2 — Catégorie : Prestation externe ; Description : ligne 1 ; Montant HT : 2 500,50 €",
                     "Total : 2 600,50 €"]
    pieces = dict(summary["Pièces justificatives"])
    assert pieces["Extrait Kbis de moins de 3 mois"] == "kbis.pdf" and pieces["Dernière liasse fiscale"] == "Aucun fichier"
    assert all(not items for title, items in callforms.answers_summary(pack, {}) if title == "Pièces justificatives")


def test_input_values_show_french_formats(pack):
    values = callforms.input_values(pack, {"chiffre_affaires": 123456789, "aide_demandee": 5_000_000, "jamais_aidee_ia": False,
                                           "depenses": [{"categorie": "autre", "description": "x", "montant_ht": 250_050}]})
    assert values["chiffre_affaires"] == "1 234 567,89"
    assert values["aide_demandee"] == "50 000"
    assert values["jamais_aidee_ia"] == "non"
    assert values["depenses"] == [{"categorie": "autre", "description": "x", "montant_ht": "2 500,50"}]
    # and they parse back to the same values
    assert parse_value(pack.field("chiffre_affaires"), values["chiffre_affaires"], source="form") == 123456789


def test_share_with_experts_flag():
    definition = load_definition(builtin_definition("ami_numerique"))
    shared = {f.key for f in definition.fields if f.share_with_experts}
    assert {"resume", "description_technique", "depenses"} <= shared
    assert not {"siret_porteur", "effectif", "aide_demandee"} & shared
    data = copy.deepcopy(builtin_definition("ami_numerique"))
    data["sections"][0]["fields"][0]["share_with_experts"] = "oui"
    data["sections"][-1]["fields"][0].setdefault("columns", [{}])[0]["share_with_experts"] = True
    with pytest.raises(DefinitionError) as info:
        load_definition(data)
    assert any("share_with_experts" in p for p in info.value.problems)
