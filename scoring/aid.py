"""Aid intensity: the rate a call may grant, by instrument and company size.

Pure data and functions (DOMAIN.md §5). The GBER table (Reg. (EU) 651/2014):

====================== ======= ======== ======= =====================================
instrument             base    + medium + small notes
====================== ======= ======== ======= =====================================
fundamental_research   100 %   —        —       no bonus, never capped below 100 %
industrial_research    50 %    + 10     + 20    + 15 effective collaboration, max 80 %
experimental_develop.  25 %    + 10     + 20    + 15 effective collaboration, max 80 %
feasibility_study      50 %    + 10     + 20    max 80 %
sme_consultancy        50 %    SMEs only (a large company gets 0 %)
process_innovation     SMEs 50 %, large 15 %
de_minimis             the rate the call sets (``rate_percent``)
====================== ======= ======== ======= =====================================

"micro" counts as small. A call names its instrument in its grid (``aid`` key,
see ``scoring/README.md``). ``aid_amount`` = eligible costs × rate, rounded down
to the cent, capped by the call's maximum aid per file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from typing import Any

from .numbers import to_decimal

SIZES = ("micro", "small", "medium", "large")
MAX_BONUS_RATE = Decimal(80)

#: instrument → (base rate, takes the size bonus, takes the collaboration bonus)
GBER_RESEARCH: dict[str, tuple[Decimal, bool, bool]] = {
    "fundamental_research": (Decimal(100), False, False),
    "industrial_research": (Decimal(50), True, True),
    "experimental_development": (Decimal(25), True, True),
    "feasibility_study": (Decimal(50), True, False),
}
SIZE_BONUS = {"micro": Decimal(20), "small": Decimal(20), "medium": Decimal(10), "large": Decimal(0)}
COLLABORATION_BONUS = Decimal(15)
#: instrument → rate per size (None: not allowed for that size)
SIZE_TABLES: dict[str, dict[str, Decimal | None]] = {
    "sme_consultancy": {"micro": Decimal(50), "small": Decimal(50), "medium": Decimal(50), "large": None},
    "process_innovation": {"micro": Decimal(50), "small": Decimal(50), "medium": Decimal(50), "large": Decimal(15)},
}
INSTRUMENTS = (*GBER_RESEARCH, *SIZE_TABLES, "de_minimis")

INSTRUMENT_LABELS = {
    "fundamental_research": "Recherche fondamentale (RGEC)",
    "industrial_research": "Recherche industrielle (RGEC)",
    "experimental_development": "Développement expérimental (RGEC)",
    "feasibility_study": "Étude de faisabilité (RGEC)",
    "sme_consultancy": "Services de conseil aux PME (RGEC)",
    "process_innovation": "Innovation de procédé (RGEC)",
    "de_minimis": "Aide de minimis",
}

_SCHEME_KEYS = {"instrument", "collaboration", "rate_percent"}

#: The legal basis each instrument is granted under, as the call's ``aid_regime``
#: names it (``de_minimis`` or ``gber:<article>``): the GBER article numbers that
#: cover the instrument (art. 25 R&D projects and feasibility studies, art. 18
#: consultancy for SMEs and art. 28 innovation advisory services, art. 29 process
#: innovation). A call's regime and its grid's instrument must agree.
INSTRUMENT_ARTICLES: dict[str, frozenset[str]] = {
    "fundamental_research": frozenset({"25"}),
    "industrial_research": frozenset({"25"}),
    "experimental_development": frozenset({"25"}),
    "feasibility_study": frozenset({"25"}),
    "sme_consultancy": frozenset({"18", "28"}),
    "process_innovation": frozenset({"29"}),
}


class AidError(ValueError):
    """The instrument does not apply (e.g. SME consultancy for a large company)."""


@dataclass(frozen=True)
class AidScheme:
    """How a call computes its aid: an instrument, the collaboration bonus, a de minimis rate."""

    instrument: str
    collaboration: bool = False
    rate_percent: Decimal | None = None

    @property
    def label(self) -> str:
        return INSTRUMENT_LABELS[self.instrument]


def parse_aid_scheme(raw: Any, problems: list[str]) -> AidScheme | None:
    """Validate the grid's ``aid`` declaration; append French problems."""
    if not isinstance(raw, Mapping):
        problems.append("« aid » doit être un dictionnaire (instrument, collaboration, rate_percent)")
        return None
    before = len(problems)
    for key in sorted(set(raw) - _SCHEME_KEYS):
        problems.append(f"aid : clé inconnue « {key} »")
    instrument = raw.get("instrument")
    if instrument not in INSTRUMENTS:
        problems.append(f"aid : instrument inconnu {instrument!r} ; possibles : {', '.join(INSTRUMENTS)}")
    collaboration = raw.get("collaboration", False)
    if not isinstance(collaboration, bool):
        problems.append("aid : « collaboration » doit valoir true ou false")
    rate: Decimal | None = None
    if "rate_percent" in raw:
        try:
            rate = to_decimal(raw["rate_percent"])
        except (TypeError, ValueError):
            problems.append(f"aid : « rate_percent » doit être un entier ou une chaîne décimale (reçu : {raw['rate_percent']!r})")
        else:
            if not 0 < rate <= 100:
                problems.append(f"aid : « rate_percent » ({rate}) doit être compris entre 0 (exclu) et 100")
    if instrument == "de_minimis" and "rate_percent" not in raw:
        problems.append("aid : un appel de minimis doit fixer « rate_percent »")
    if instrument in INSTRUMENTS and instrument != "de_minimis" and "rate_percent" in raw:
        problems.append("aid : « rate_percent » ne s'emploie qu'avec l'instrument de_minimis (le RGEC fixe les taux)")
    if len(problems) > before:
        return None
    return AidScheme(instrument=instrument, collaboration=collaboration, rate_percent=rate)


def aid_scheme_to_dict(scheme: AidScheme) -> dict[str, Any]:
    data: dict[str, Any] = {"instrument": scheme.instrument}
    if scheme.collaboration:
        data["collaboration"] = True
    if scheme.rate_percent is not None:
        data["rate_percent"] = str(scheme.rate_percent)
    return data


def regime_article(regime: str) -> str | None:
    """The GBER article number of a regime (``gber:25(2)(b)`` → ``25``); None for de minimis or a malformed one."""
    if not isinstance(regime, str) or not regime.startswith("gber:"):
        return None
    digits = ""
    for char in regime[len("gber:"):]:
        if not char.isdigit():
            break
        digits += char
    return digits or None


def regime_problem(scheme: AidScheme, regime: str) -> str | None:
    """Why the grid's aid ``scheme`` cannot be granted under the call's ``regime``
    (French), or None when they agree: a de minimis scheme needs the de minimis
    regime, a GBER instrument a GBER article that covers it."""
    if scheme.instrument == "de_minimis":
        if regime == "de_minimis":
            return None
        return (f"la grille calcule une aide de minimis, mais le régime d'aide de l'appel est « {regime} » : "
                "choisissez le régime « de_minimis » ou une grille RGEC")
    articles = INSTRUMENT_ARTICLES[scheme.instrument]
    wanted = " ou ".join(f"« gber:{a} »" for a in sorted(articles, key=int))
    if regime == "de_minimis":
        return (f"la grille calcule une aide « {scheme.label} », mais le régime d'aide de l'appel est « de_minimis » : "
                f"choisissez le régime {wanted} ou une grille de minimis")
    if regime_article(regime) not in articles:
        return (f"la grille calcule une aide « {scheme.label} », que l'article du RGEC du régime « {regime} » ne couvre "
                f"pas : choisissez le régime {wanted}")
    return None


def aid_rate(instrument: str, size: str, *, collaboration: bool = False, rate_percent: object = None) -> Decimal:
    """The maximum aid intensity, in percent, for ``instrument`` and a company of ``size``.

    Raises ``AidError`` (French message) when the instrument does not apply to the size,
    ``ValueError`` on an unknown instrument or size.
    """
    if size not in SIZES:
        raise ValueError(f"taille d'entreprise inconnue {size!r} ; possibles : {', '.join(SIZES)}")
    if instrument == "de_minimis":
        if rate_percent is None:
            raise ValueError("un taux doit être fixé pour une aide de minimis")
        rate = to_decimal(rate_percent)
        if not 0 < rate <= 100:
            raise ValueError(f"taux de minimis invalide : {rate}")
        return rate
    if instrument in GBER_RESEARCH:
        base, size_bonus, collaboration_bonus = GBER_RESEARCH[instrument]
        if not size_bonus and not collaboration_bonus:
            return base
        rate = base
        if size_bonus:
            rate += SIZE_BONUS[size]
        if collaboration and collaboration_bonus:
            rate += COLLABORATION_BONUS
        return min(rate, MAX_BONUS_RATE)
    if instrument in SIZE_TABLES:
        rate_or_none = SIZE_TABLES[instrument][size]
        if rate_or_none is None:
            raise AidError(f"{INSTRUMENT_LABELS[instrument]} : réservé aux PME, une grande entreprise n'y a pas droit.")
        return rate_or_none
    raise ValueError(f"instrument inconnu {instrument!r}")


def scheme_rate(scheme: AidScheme, size: str) -> Decimal:
    """``aid_rate`` for a call's scheme."""
    return aid_rate(scheme.instrument, size, collaboration=scheme.collaboration, rate_percent=scheme.rate_percent)


def aid_amount(eligible_cents: int, rate_percent: Decimal, max_aid_cents: int | None = None) -> int:
    """Eligible costs × rate, rounded down to the cent, capped by ``max_aid_cents`` when given."""
    if isinstance(eligible_cents, bool) or not isinstance(eligible_cents, int) or eligible_cents < 0:
        raise ValueError("les coûts éligibles doivent être un entier de centimes positif ou nul")
    amount = int((Decimal(eligible_cents) * rate_percent / 100).to_integral_value(rounding=ROUND_DOWN))
    if max_aid_cents is not None:
        amount = min(amount, max_aid_cents)
    return amount


__all__ = [
    "INSTRUMENTS",
    "INSTRUMENT_ARTICLES",
    "INSTRUMENT_LABELS",
    "SIZES",
    "AidError",
    "AidScheme",
    "aid_amount",
    "aid_rate",
    "aid_scheme_to_dict",
    "parse_aid_scheme",
    "regime_article",
    "regime_problem",
    "scheme_rate",
]
