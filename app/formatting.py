"""French-first formatting of money, numbers and dates (Europe/Paris), as
Jinja filters and plain functions."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from babel.dates import format_date as _babel_date
from babel.dates import format_datetime as _babel_datetime
from babel.numbers import format_currency, format_decimal
from flask import Flask
from flask_babel import get_locale, gettext, lazy_gettext

PARIS = ZoneInfo("Europe/Paris")


def translate(text: str, **variables: object) -> str:
    return gettext(text, **variables)


lazy = lazy_gettext


def _locale() -> str:
    try:
        loc = get_locale()
    except RuntimeError:
        loc = None
    return str(loc) if loc else "fr"


def cents_to_decimal(cents: int) -> Decimal:
    return (Decimal(cents) / 100).quantize(Decimal("0.01"))


def money(cents: int | None, locale: str | None = None) -> str:
    """``123456789`` → ``1 234 567,89 €`` (fr) or ``€1,234,567.89`` (en)."""
    if cents is None:
        return "—"
    loc = locale or _locale()
    return format_currency(cents_to_decimal(cents), "EUR", locale="fr_FR" if loc == "fr" else "en_GB")


def money_short(cents: int | None, locale: str | None = None) -> str:
    """Whole euros, for budgets: ``350 000 000 €``."""
    if cents is None:
        return "—"
    loc = locale or _locale()
    return format_currency(
        cents_to_decimal(cents), "EUR", locale="fr_FR" if loc == "fr" else "en_GB", format="#,##0 ¤" if loc == "fr" else "¤#,##0", currency_digits=False
    )


def number(value: int | Decimal | None, locale: str | None = None) -> str:
    if value is None:
        return "—"
    loc = locale or _locale()
    return format_decimal(value, locale="fr_FR" if loc == "fr" else "en_GB")


def local_datetime(value: datetime | None, locale: str | None = None) -> str:
    if value is None:
        return "—"
    loc = locale or _locale()
    return _babel_datetime(value, format="d MMMM y 'à' HH:mm" if loc == "fr" else "d MMMM y, HH:mm", tzinfo=PARIS, locale=loc)


def local_date(value: date | datetime | None, locale: str | None = None) -> str:
    if value is None:
        return "—"
    loc = locale or _locale()
    if isinstance(value, datetime):
        value = value.astimezone(PARIS).date()
    return _babel_date(value, format="long", locale=loc)


def register(app: Flask) -> None:
    app.add_template_filter(money)
    app.add_template_filter(money_short)
    app.add_template_filter(number)
    app.add_template_filter(local_datetime, "datetime")
    app.add_template_filter(local_date, "date")


STATE_LABELS = {
    "draft": lazy("Brouillon"),
    "submitted": lazy("Déposé"),
    "eligibility_check": lazy("Contrôle de recevabilité"),
    "corrections_requested": lazy("Compléments demandés"),
    "ineligible": lazy("Irrecevable"),
    "instruction": lazy("En instruction"),
    "committee": lazy("En commission"),
    "approved": lazy("Aide accordée"),
    "rejected": lazy("Refusé"),
    "withdrawn": lazy("Retiré"),
    "closed_without_follow_up": lazy("Classé sans suite"),
    "agreement": lazy("Convention"),
    "payments": lazy("Paiements"),
    "closed": lazy("Clôturé"),
    "lapsed": lazy("Caduc"),
}
ROLE_LABELS = {
    "applicant": lazy("Porteur de projet"),
    "instructor": lazy("Instruction"),
    "expert": lazy("Expertise"),
    "committee": lazy("Commission"),
    "finance": lazy("Finances"),
    "admin": lazy("Administration"),
}
CALL_STATUS_LABELS = {"draft": lazy("Brouillon"), "published": lazy("Publié"), "closed": lazy("Clos")}
NAV_SPACES = (
    ("applicant", "applicant.index", lazy("Mon espace")),
    ("instructor", "instruction.index", lazy("Instruction")),
    ("instructor", "workspace.index", lazy("Dossiers à instruire")),
    ("expert", "experts.index", lazy("Expertise")),
    ("committee", "committee.index", lazy("Commission")),
    ("finance", "finance.index", lazy("Finances")),
    ("admin", "committee.manage", lazy("Séances de commission")),
    ("admin", "admin.index", lazy("Administration")),
)


def template_context() -> dict[str, object]:
    return {
        "current_locale": _locale(),
        "state_labels": STATE_LABELS,
        "role_labels": ROLE_LABELS,
        "call_status_labels": CALL_STATUS_LABELS,
        "nav_spaces": NAV_SPACES,
    }
