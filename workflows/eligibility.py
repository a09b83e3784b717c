"""Eligibility as a library of small named checks with parameters.

Pure Python, like the rest of ``workflows``: a call declares its checks as
data (``workflows/eligibility_rules/<workflow>.yaml``); the application
gathers the facts of one file into :class:`Facts`; :func:`run_checks` runs
every check and returns every outcome at once: ``pass``, ``fail`` or
``review`` (a person must look), each with its reason in French.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Literal

import yaml

from .errors import Problem
from .registry import check_params, param_specs

Outcome = Literal["pass", "fail", "review"]
RULES_DIR = Path(__file__).resolve().parent / "eligibility_rules"


@dataclass(frozen=True)
class Facts:
    """What the checks read about one file (plain values)."""

    department: str | None = None
    headcount: int | None = None
    size_category: str | None = None
    naf_code: str | None = None
    answers: dict[str, Any] = field(default_factory=dict)
    submitted_on: date | None = None
    requested_cents: int = 0
    documents: frozenset[str] = frozenset()
    # Workflows (kinds of call) on which the same company (SIREN) already had aid approved by Guichet.
    aided_workflows: frozenset[str] = frozenset()
    # De minimis aid over the rolling three years: granted through Guichet and declared by the applicant.
    de_minimis_granted_cents: int = 0
    de_minimis_declared_cents: int | None = None


@dataclass(frozen=True)
class CheckResult:
    name: str
    outcome: Outcome
    reason: str


CheckFunc = Callable[..., tuple[Outcome, str]]
CHECKS: dict[str, CheckFunc] = {}


def check(name: str) -> Callable[[CheckFunc], CheckFunc]:
    def register(func: CheckFunc) -> CheckFunc:
        param_specs(func)  # fails at import when the signature is not declarative
        CHECKS[name] = func
        return func

    return register


def _euros(cents: int) -> str:
    """French display of integer cents, without floats: 1234567 → "12 345,67 €"."""
    sign = "-" if cents < 0 else ""
    euros, rest = divmod(abs(cents), 100)
    return f"{sign}{euros:,}".replace(",", "\u202f") + f",{rest:02d} €"


@check("established_in")
def established_in(facts: Facts, *, departments: list[str]) -> tuple[Outcome, str]:
    """The organisation is established in one of ``departments``."""
    if not facts.department:
        return "review", "Le département de l'établissement n'est pas renseigné."
    if facts.department in departments:
        return "pass", f"Établissement dans le département {facts.department}."
    return "fail", f"L'établissement (département {facts.department}) n'est pas situé dans le territoire de l'appel."


@check("headcount_below")
def headcount_below(facts: Facts, *, limit: int) -> tuple[Outcome, str]:
    """Fewer than ``limit`` employees."""
    if facts.headcount is None:
        return "review", "L'effectif n'est pas renseigné."
    if facts.headcount < limit:
        return "pass", f"Effectif de {facts.headcount}, inférieur à {limit}."
    return "fail", f"Effectif de {facts.headcount} : l'appel est réservé aux entreprises de moins de {limit} salariés."


# The EU size categories (Annex I of the GBER), as the applicant reads them.
SIZE_NAMES = {"micro": "micro-entreprise", "small": "petite entreprise", "medium": "moyenne entreprise",
              "large": "grande entreprise"}


@check("size_in")
def size_in(facts: Facts, *, categories: list[str]) -> tuple[Outcome, str]:
    """The EU size category is one of ``categories``."""
    if not facts.size_category:
        return "review", "La catégorie d'entreprise (taille UE) n'a pas pu être établie."
    name = SIZE_NAMES.get(facts.size_category, facts.size_category)
    if facts.size_category in categories:
        return "pass", f"Catégorie « {name} » admise."
    return "fail", f"La catégorie « {name} » n'est pas admise par l'appel."


@check("naf_excluded")
def naf_excluded(facts: Facts, *, prefixes: list[str]) -> tuple[Outcome, str]:
    """The NAF code does not start with any of ``prefixes`` (excluded sectors)."""
    if not facts.naf_code:
        return "review", "Le code NAF n'est pas renseigné."
    code = facts.naf_code.replace(".", "").upper()
    for prefix in prefixes:
        if code.startswith(prefix.replace(".", "").upper()):
            return "fail", f"Le secteur d'activité (NAF {facts.naf_code}) est exclu de l'appel."
    return "pass", f"Secteur d'activité (NAF {facts.naf_code}) admis."


@check("declared")
def declared(facts: Facts, *, key: str, expected: bool, label: str) -> tuple[Outcome, str]:
    """The applicant's yes/no answer ``key`` equals ``expected``."""
    value = facts.answers.get(key)
    if value is None:
        return "review", f"Déclaration manquante : {label}."
    if bool(value) is expected:
        return "pass", f"Déclaré : {label}."
    return "fail", f"Déclaration contraire à la condition : {label}."


@check("declared_preferably")
def declared_preferably(facts: Facts, *, key: str, label: str) -> tuple[Outcome, str]:
    """A recommendation: a "no" asks an instructor to look, it does not exclude."""
    value = facts.answers.get(key)
    if value:
        return "pass", f"Déclaré : {label}."
    return "review", f"Recommandé mais non déclaré : {label}."


@check("not_aided_before")
def not_aided_before(facts: Facts, *, workflows: list[str]) -> tuple[Outcome, str]:
    """Guichet's own history: no aid approved before for the company (same
    SIREN) on calls running one of ``workflows``."""
    hits = sorted(facts.aided_workflows & set(workflows))
    if hits:
        return "fail", f"L'entreprise a déjà été aidée par la Région pour l'IA ({', '.join(hits)})."
    return "pass", "Aucune aide antérieure de la Région pour l'IA dans l'historique de Guichet."


@check("starts_after_submission")
def starts_after_submission(facts: Facts, *, key: str) -> tuple[Outcome, str]:
    """Incentive effect: the project's start date (answer ``key``) is after the submission."""
    raw = facts.answers.get(key)
    if not raw:
        return "review", "La date de début du projet n'est pas renseignée."
    try:
        start = date.fromisoformat(str(raw))
    except ValueError:
        return "review", "La date de début du projet n'est pas lisible."
    if facts.submitted_on is None:
        return "review", "Le dossier n'est pas encore déposé."
    if start > facts.submitted_on:
        return "pass", f"Le projet commence le {start.strftime('%d/%m/%Y')}, après le dépôt (effet incitatif)."
    return "fail", (f"Le projet a commencé le {start.strftime('%d/%m/%Y')}, avant le dépôt du "
                    f"{facts.submitted_on.strftime('%d/%m/%Y')} : pas d'effet incitatif.")


@check("amount_between")
def amount_between(facts: Facts, *, min_cents: int, max_cents: int) -> tuple[Outcome, str]:
    """The requested aid is between ``min_cents`` and ``max_cents``."""
    if facts.requested_cents < min_cents:
        return "fail", f"Aide demandée ({_euros(facts.requested_cents)}) inférieure au minimum de {_euros(min_cents)}."
    if facts.requested_cents > max_cents:
        return "fail", f"Aide demandée ({_euros(facts.requested_cents)}) supérieure au plafond de {_euros(max_cents)}."
    return "pass", f"Aide demandée de {_euros(facts.requested_cents)}, dans les limites de l'appel."


@check("de_minimis_headroom")
def de_minimis_headroom(facts: Facts, *, ceiling_cents: int) -> tuple[Outcome, str]:
    """De minimis (Reg. (EU) 2023/2831): Guichet's grants plus the declared ones
    plus the request stay within ``ceiling_cents`` over three rolling years."""
    if facts.de_minimis_declared_cents is None:
        return "review", "Les aides de minimis des trois dernières années ne sont pas déclarées."
    total = facts.de_minimis_granted_cents + facts.de_minimis_declared_cents + facts.requested_cents
    if total <= ceiling_cents:
        return "pass", f"De minimis : {_euros(total)} sur trois ans avec cette aide, plafond {_euros(ceiling_cents)}."
    return "fail", (f"De minimis : {_euros(total)} sur trois ans avec cette aide, au-delà du plafond de "
                    f"{_euros(ceiling_cents)} ; l'aide ne peut pas être accordée à ce titre, même en partie.")


@check("documents_present")
def documents_present(facts: Facts, *, keys: list[str]) -> tuple[Outcome, str]:
    """Every document in ``keys`` is attached."""
    missing = [k for k in keys if k not in facts.documents]
    if missing:
        return "fail", f"Pièces manquantes : {', '.join(missing)}."
    return "pass", "Toutes les pièces requises sont jointes."


def validate_rules(rules: list[dict[str, Any]]) -> list[Problem]:
    problems: list[Problem] = []
    if not isinstance(rules, list):
        return [Problem("structure", "les règles d'éligibilité doivent être une liste")]
    for i, rule in enumerate(rules):
        where = f"règle {i + 1}"
        if not isinstance(rule, dict) or "check" not in rule:
            problems.append(Problem("structure", f"{where} : clé « check » manquante"))
            continue
        func = CHECKS.get(rule["check"])
        if func is None:
            problems.append(Problem("unknown_check", f"{where} : contrôle inconnu « {rule['check']} »"))
            continue
        problems.extend(check_params(f"{where} ({rule['check']})", rule.get("params") or {}, param_specs(func)))
    return problems


@lru_cache(maxsize=32)
def load_rules(workflow_name: str) -> tuple[dict[str, Any], ...]:
    """The checks declared for a workflow; validated, or ValueError listing the problems."""
    path = RULES_DIR / f"{workflow_name}.yaml"
    if not path.exists():
        return ()
    rules = yaml.safe_load(path.read_text(encoding="utf-8")) or []
    problems = validate_rules(rules)
    if problems:
        raise ValueError(f"{path.name}: " + " ; ".join(problems))
    return tuple(rules)


def check_all_rules() -> dict[str, list[str]]:
    results = {}
    for path in sorted(RULES_DIR.glob("*.yaml")):
        rules = yaml.safe_load(path.read_text(encoding="utf-8")) or []
        results[f"eligibility/{path.stem}"] = [str(p) for p in validate_rules(rules)]
    return results


def run_checks(rules: tuple[dict[str, Any], ...] | list[dict[str, Any]], facts: Facts) -> list[CheckResult]:
    results = []
    for rule in rules:
        name = rule["check"]
        outcome, reason = CHECKS[name](facts, **(rule.get("params") or {}))
        results.append(CheckResult(rule.get("label") or name, outcome, reason))
    return results


def overall(results: list[CheckResult]) -> Outcome:
    """fail if any check fails, else review if any needs a person, else pass."""
    outcomes = {r.outcome for r in results}
    if "fail" in outcomes:
        return "fail"
    if "review" in outcomes:
        return "review"
    return "pass"
