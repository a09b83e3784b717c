"""One answer, per field type: parsing (HTML form text or API JSON) into the
stored value, with French messages, and formatting back for inputs and display.

Stored values (``Application.answers``): text as str; number as int (or a
decimal string when ``decimals`` > 0); money as integer cents; percentage as a
decimal string ("12.5"); date "YYYY-MM-DD"; yes_no as bool; choice as the
option value; multi_choice as a list of values in the options' order;
department as its code ("67", "2A", "974"); SIRET as 14 digits; e-mail
normalised by email-validator; phone as "03 88 15 68 67"; IBAN compact
("FR7630006000011234567890189").

Phone numbers: a strict check of French numbers (no extra dependency): ten
digits starting with 0 and a non-zero digit, or the same nine digits after
+33 / 0033 (a "(0)" after the prefix is tolerated); spaces, dots and hyphens
are ignored.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from babel.dates import format_date
from babel.numbers import format_currency, format_decimal
from email_validator import EmailNotValidError, validate_email
from stdnum import iban as stdnum_iban
from stdnum.exceptions import InvalidChecksum, ValidationError
from stdnum.fr import siret as stdnum_siret

from app.callforms.definition import MAX_MONEY_CENTS, Field
from app.callforms.departments import DEPARTMENTS
from app.callforms.messages import _

SOURCES = ("form", "api", "stored")
_SPACES = re.compile(r"[\s\u00a0\u202f]+")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_PHONE = re.compile(r"^(?:\+33|0033)(?:\(0\))?([1-9]\d{8})$|^0([1-9]\d{8})$")
_DECIMAL = re.compile(r"^-?\d+(?:\.\d+)?$")
_FR_DATE = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# email-validator refuses special-use domains (``.test``…) unless told it runs
# in a test environment; the web layer sets this outside production (``configure``).
SETTINGS = {"email_test_environment": False}
TRUE_WORDS = {"oui", "true", "1", "on", "yes"}
FALSE_WORDS = {"non", "false", "0", "off", "no"}


class ValueProblem(ValueError):
    """The value does not fit the field; ``message`` is for the user (French source)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def configure(*, email_test_environment: bool | None = None) -> None:
    if email_test_environment is not None:
        SETTINGS["email_test_environment"] = email_test_environment


def is_empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _locale(locale: str) -> str:
    return "fr_FR" if locale.startswith("fr") else "en_GB"


def format_money(cents: int, locale: str = "fr") -> str:
    return format_currency(Decimal(cents) / 100, "EUR", locale=_locale(locale))


def format_number(value: Any, locale: str = "fr") -> str:
    return format_decimal(Decimal(str(value)), locale=_locale(locale))


def format_percentage(value: Any, locale: str = "fr") -> str:
    number = format_decimal(Decimal(str(value)), locale=_locale(locale), format="#,##0.##")
    return f"{number}\u202f%" if locale.startswith("fr") else f"{number}%"


def format_long_date(value: str | date, locale: str = "fr") -> str:
    day = date.fromisoformat(value) if isinstance(value, str) else value
    return format_date(day, format="long", locale=locale)


# --- parsing --------------------------------------------------------------------------------------


def parse_value(field: Field, value: Any, *, source: str) -> Any:
    """The stored value for ``value`` (None when empty), or ``ValueProblem``.

    ``source``: "form" (strings from an HTML form, French formats accepted),
    "api" (JSON types: money in integer cents, dates YYYY-MM-DD, yes_no as
    booleans, choices by value) or "stored" (re-checking stored answers; same
    as "api")."""
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}")
    if field.type == "file":
        raise ValueProblem(_("Les pièces jointes se déposent en envoyant le fichier, pas dans les réponses."))
    if field.type == "rows":
        raise ValueError("rows are parsed by app.callforms.answers")
    if field.type == "multi_choice":
        return _multi_choice(field, value, source)
    if isinstance(value, list) and source == "form":
        value = value[0] if value else None
    if value is None:
        return None
    if source == "form" and not isinstance(value, str):
        value = str(value)
    if isinstance(value, str) and field.type not in ("long_text",):
        value = value.strip()
        if value == "":
            return None
    parser = _PARSERS[field.type]
    return parser(field, value, source)


def _expect_str(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueProblem(_("Une chaîne de caractères est attendue."))
    return value


def _text(field: Field, value: Any, source: str) -> str | None:
    text = _expect_str(value)
    if field.type == "long_text":
        text = text.replace("\r\n", "\n").replace("\r", "\n").strip()
        if text == "":
            return None
    elif "\n" in text or "\r" in text:
        raise ValueProblem(_("Ce champ tient sur une seule ligne."))
    if _CONTROL.search(text):
        raise ValueProblem(_("Ce texte contient des caractères non autorisés."))
    if field.max_length is not None and len(text) > field.max_length:
        raise ValueProblem(_("Ce texte dépasse %(max)s caractères (%(n)s saisis).", max=field.max_length, n=len(text)))
    return text


def _decimal_from_text(text: str) -> Decimal | None:
    text = _SPACES.sub("", text).replace(",", ".")
    if not _DECIMAL.match(text):
        return None
    try:
        return Decimal(text)
    except InvalidOperation:  # pragma: no cover - the regex already guards it
        return None


def _exponent(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def _plain(value: Decimal) -> str:
    """A decimal without exponent nor trailing zeros: 12.50 → "12.5", 1E+2 → "100"."""
    text = format(value.normalize(), "f")
    return text


def _check_bounds(field: Field, number: Decimal | int, shown) -> None:
    if field.min is not None and number < Decimal(str(field.min)):
        raise ValueProblem(_("La valeur doit être supérieure ou égale à %(min)s.", min=shown(field.min)))
    if field.max is not None and number > Decimal(str(field.max)):
        raise ValueProblem(_("La valeur doit être inférieure ou égale à %(max)s.", max=shown(field.max)))


MAX_NUMBER = Decimal(10) ** 15


def _number(field: Field, value: Any, source: str) -> int | str:
    if isinstance(value, bool):
        raise ValueProblem(_("Un nombre est attendu."))
    if isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, float) and field.decimals:
        number = Decimal(str(value))
    elif isinstance(value, str) and (source == "form" or field.decimals):
        number = _decimal_from_text(value)
        if number is None:
            raise ValueProblem(_("Saisissez un nombre entier.") if not field.decimals else _("Saisissez un nombre, par exemple 12,5."))
    else:
        raise ValueProblem(_("Un nombre entier est attendu.") if not field.decimals else _("Un nombre est attendu."))
    if _exponent(number) > field.decimals:
        if not field.decimals:
            raise ValueProblem(_("Saisissez un nombre entier."))
        raise ValueProblem(_("Au plus %(n)s chiffre(s) après la virgule.", n=field.decimals))
    if abs(number) >= MAX_NUMBER:  # a field without a maximum still holds a figure, not a 400-digit string
        raise ValueProblem(_("Ce nombre est trop grand (au plus 15 chiffres avant la virgule)."))
    _check_bounds(field, number, format_number)
    return int(number) if not field.decimals else _plain(number)


def _money(field: Field, value: Any, source: str) -> int:
    if source == "form":
        text = _SPACES.sub("", value).replace("€", "").replace("EUR", "").replace("eur", "")
        if text.startswith("-"):
            raise ValueProblem(_("Le montant ne peut pas être négatif."))
        if "," in text:
            text = text.replace(".", "").replace(",", ".")  # 1.234,56: the dots group thousands
        if not re.fullmatch(r"\d+(\.\d+)?", text):
            raise ValueProblem(_("Saisissez un montant en euros, par exemple 12 500 ou 12 500,50."))
        amount = Decimal(text)
        if _exponent(amount) > 2:
            raise ValueProblem(_("Un montant a au plus deux chiffres après la virgule (les centimes)."))
        cents = int((amount * 100).to_integral_value())
    else:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueProblem(_("Un montant en centimes (nombre entier) est attendu, par exemple 1250000 pour 12 500 €."))
        cents = value
        if cents < 0:
            raise ValueProblem(_("Le montant ne peut pas être négatif."))
    if cents > MAX_MONEY_CENTS:
        raise ValueProblem(_("Ce montant est trop élevé."))
    if field.min is not None and cents < field.min:
        raise ValueProblem(_("Le montant doit être d'au moins %(min)s.", min=format_money(field.min)))
    if field.max is not None and cents > field.max:
        raise ValueProblem(_("Le montant ne peut pas dépasser %(max)s.", max=format_money(field.max)))
    return cents


def _percentage(field: Field, value: Any, source: str) -> str:
    if isinstance(value, bool):
        raise ValueProblem(_("Un pourcentage est attendu."))
    if isinstance(value, (int, float)):
        number = Decimal(str(value))
    elif isinstance(value, str):
        number = _decimal_from_text(value.replace("%", ""))
    else:
        number = None
    low = field.min if field.min is not None else 0
    high = field.max if field.max is not None else 100
    if number is None:
        raise ValueProblem(_("Saisissez un pourcentage entre %(min)s et %(max)s, par exemple 12,5.",
                             min=format_number(low), max=format_number(high)))
    if _exponent(number) > 2:
        raise ValueProblem(_("Un pourcentage a au plus deux chiffres après la virgule."))
    if not Decimal(str(low)) <= number <= Decimal(str(high)):
        raise ValueProblem(_("Saisissez un pourcentage entre %(min)s et %(max)s.", min=format_number(low),
                             max=format_number(high)))
    return _plain(number)


def _date(field: Field, value: Any, source: str) -> str:
    text = _expect_str(value)
    day = None
    if _ISO_DATE.match(text):
        try:
            day = date.fromisoformat(text)
        except ValueError:
            day = None
    elif source == "form" and (m := _FR_DATE.match(text)):
        try:
            day = date(int(m.group(3)), int(m.group(2)), int(m.group(1)))
        except ValueError:
            day = None
    if day is None:
        if source == "form":
            raise ValueProblem(_("Saisissez une date valide, par exemple 31/12/2026."))
        raise ValueProblem(_("Une date au format AAAA-MM-JJ est attendue, par exemple 2026-12-31."))
    if field.min is not None and day < date.fromisoformat(field.min):
        raise ValueProblem(_("La date doit être le %(min)s ou après.", min=format_long_date(field.min)))
    if field.max is not None and day > date.fromisoformat(field.max):
        raise ValueProblem(_("La date doit être le %(max)s ou avant.", max=format_long_date(field.max)))
    return day.isoformat()


def _yes_no(field: Field, value: Any, source: str) -> bool:
    if isinstance(value, bool):
        return value
    if source == "form" and isinstance(value, str):
        word = value.strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
    if source == "form":
        raise ValueProblem(_("Répondez par oui ou par non."))
    raise ValueProblem(_("Répondez par true (oui) ou false (non)."))


def _choice(field: Field, value: Any, source: str) -> str:
    if not isinstance(value, str) or value not in field.option_values:
        if source == "form":
            raise ValueProblem(_("Choisissez une des options proposées."))
        raise ValueProblem(_("Valeur inconnue : les valeurs possibles sont %(values)s.",
                             values=", ".join(field.option_values)))
    return value


def _multi_choice(field: Field, value: Any, source: str) -> list[str] | None:
    if value is None:
        return None
    if source == "form" and isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueProblem(_("Une liste de valeurs est attendue."))
    values = [v.strip() for v in value if v.strip()]
    unknown = [v for v in values if v not in field.option_values]
    if unknown:
        if source == "form":
            raise ValueProblem(_("Choisissez parmi les options proposées."))
        raise ValueProblem(_("Valeurs inconnues : %(unknown)s (valeurs possibles : %(values)s).",
                             unknown=", ".join(unknown), values=", ".join(field.option_values)))
    chosen = [v for v in field.option_values if v in values]
    return chosen or None


def _department(field: Field, value: Any, source: str) -> str:
    code = _expect_str(value).strip().upper()
    if code.isdigit() and len(code) == 1:
        code = "0" + code
    if code not in DEPARTMENTS:
        raise ValueProblem(_("Choisissez un département français (par exemple 67, 2A ou 974)."))
    return code


def _siret(field: Field, value: Any, source: str) -> str:
    text = _expect_str(value)
    try:
        return stdnum_siret.validate(text)
    except InvalidChecksum:
        raise ValueProblem(_("Ce numéro SIRET n'existe pas : la clé de contrôle ne correspond pas. Vérifiez les chiffres saisis.")) from None
    except ValidationError:
        raise ValueProblem(_("Un numéro SIRET compte 14 chiffres, par exemple 732 829 320 00074.")) from None


def _email(field: Field, value: Any, source: str) -> str:
    text = _expect_str(value)
    if len(text) > 254:
        raise ValueProblem(_("Cette adresse e-mail est trop longue."))
    try:
        return validate_email(text, check_deliverability=False,
                              test_environment=SETTINGS["email_test_environment"]).normalized
    except EmailNotValidError:
        raise ValueProblem(_("Saisissez une adresse e-mail valide, par exemple nom@entreprise.fr.")) from None


def _phone(field: Field, value: Any, source: str) -> str:
    text = re.sub(r"[\s\u00a0\u202f.\-]", "", _expect_str(value))
    match = _PHONE.match(text)
    if not match:
        raise ValueProblem(_("Saisissez un numéro de téléphone français à 10 chiffres, par exemple 03 88 15 68 67 ou +33 3 88 15 68 67."))
    digits = "0" + (match.group(1) or match.group(2))
    return " ".join(digits[i:i + 2] for i in range(0, 10, 2))


def _iban(field: Field, value: Any, source: str) -> str:
    text = _expect_str(value)
    wrong_format = ValueProblem(_("Cet IBAN n'a pas le bon format : il commence par le code du pays, par exemple FR76 3000 6000 0112 3456 7890 189."))
    number = stdnum_iban.compact(text)
    if not re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]{11,30}", number):
        raise wrong_format
    try:
        return stdnum_iban.validate(number)
    except ValidationError:
        # Only the check digits wrong (the rest fits the country's format)? Then say so.
        fixed = number[:2] + stdnum_iban.calc_check_digits(number) + number[4:]
        if stdnum_iban.is_valid(fixed):
            raise ValueProblem(_("Cet IBAN n'est pas valide : la clé de contrôle ne correspond pas. Vérifiez les caractères saisis.")) from None
        raise wrong_format from None


_PARSERS = {
    "text": _text,
    "long_text": _text,
    "number": _number,
    "money": _money,
    "percentage": _percentage,
    "date": _date,
    "yes_no": _yes_no,
    "choice": _choice,
    "department": _department,
    "siret": _siret,
    "email": _email,
    "phone": _phone,
    "iban": _iban,
}


# --- formatting -----------------------------------------------------------------------------------


def display_value(field: Field, value: Any, locale: str = "fr") -> str:
    """The stored ``value`` as a French (or English) reader sees it."""
    if is_empty(value):
        return _("Non renseigné")
    t = field.type
    try:
        if t == "money":
            return format_money(int(value), locale)
        if t == "number":
            return format_number(value, locale)
        if t == "percentage":
            return format_percentage(value, locale)
        if t == "date":
            return format_long_date(value, locale)
        if t == "yes_no":
            return _("Oui") if value else _("Non")
        if t == "choice":
            return field.option_label(value)
        if t == "multi_choice":
            return ", ".join(field.option_label(v) for v in value)
        if t == "department":
            return f"{value} — {DEPARTMENTS.get(value, '')}".rstrip(" —")
        if t == "siret":
            return stdnum_siret.format(value)
        if t == "iban":
            return stdnum_iban.format(value)
    except (ValueError, TypeError, InvalidOperation):
        return str(value)
    return str(value)


def input_value(field: Field, value: Any) -> Any:
    """The stored ``value`` as the HTML input shows it (French formats)."""
    if is_empty(value):
        return [] if field.type == "multi_choice" else ""
    t = field.type
    try:
        if t == "money":
            cents = int(value)
            euros, rest = divmod(cents, 100)
            text = f"{euros:,}".replace(",", " ")
            return f"{text},{rest:02d}" if rest else text
        if t in ("number", "percentage"):
            return str(value).replace(".", ",")
        if t == "yes_no":
            return "oui" if value else "non"
        if t == "multi_choice":
            return list(value)
        if t == "iban":
            return stdnum_iban.format(value)
        if t == "siret":
            return stdnum_siret.format(value)
    except (ValueError, TypeError):
        return str(value)
    return str(value)


def percent_of(part: int, whole: int) -> Decimal | None:
    """``part`` as a percentage of ``whole``, two decimals (None when whole is 0)."""
    if not whole:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
