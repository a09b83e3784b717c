"""Scoring grids: declared per call as YAML data, validated into frozen dataclasses.

See ``scoring/README.md`` for the format. ``grid_from_dict`` collects every problem
and raises a single ``GridError`` listing them all.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from .aid import AidScheme, aid_scheme_to_dict, parse_aid_scheme
from .numbers import FINAL_SCALE, to_decimal
from .registry import AGGREGATIONS, NORMALISATIONS, Registry

#: Folder holding the grids shipped with Guichet.
GRIDS_DIR = Path(__file__).resolve().parent / "grids"

_SLUG = re.compile(r"^[a-z][a-z0-9_]*$")
_GRID_KEYS = {
    "name", "title", "scale", "criteria", "aggregation", "normalisation",
    "disagreement_threshold", "tie_breakers", "aid",
}
_REQUIRED_GRID_KEYS = {"name", "scale", "criteria", "aggregation"}
_CRITERION_KEYS = {
    "code", "label", "weight", "description", "eliminatory", "eliminatory_below",
    "comment_required_below",
}
_SCALE_KEYS = {"min", "max", "step"}


class GridError(ValueError):
    """A grid is invalid; ``problems`` lists every problem found (in French)."""

    def __init__(self, problems: list[str], grid_name: str | None = None) -> None:
        self.problems = list(problems)
        self.grid_name = grid_name
        head = f"Grille « {grid_name} » invalide" if grid_name else "Grille invalide"
        super().__init__(head + " :\n" + "\n".join(f"- {p}" for p in self.problems))


@dataclass(frozen=True)
class Scale:
    """Allowed scores: integers from ``min`` to ``max`` by ``step``."""

    min: int
    max: int
    step: int = 1

    def allows(self, value: int) -> bool:
        """True if ``value`` is on the scale."""
        return self.min <= value <= self.max and (value - self.min) % self.step == 0


@dataclass(frozen=True)
class Criterion:
    """One scored criterion. Thresholds are strict: a score *below* them triggers."""

    code: str
    label: str
    weight: Decimal
    description: str = ""
    eliminatory: bool = False
    eliminatory_below: int | None = None
    comment_required_below: int | None = None


@dataclass(frozen=True)
class FunctionSpec:
    """A registered function name and its parameters."""

    name: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Grid:
    """A validated scoring grid."""

    name: str
    title: str
    scale: Scale
    criteria: tuple[Criterion, ...]
    aggregation: FunctionSpec
    normalisation: FunctionSpec
    disagreement_threshold: Decimal
    tie_breakers: tuple[str, ...]
    #: How the call computes its aid (instrument, rates); None: no computation.
    aid: AidScheme | None = None

    @cached_property
    def codes(self) -> tuple[str, ...]:
        """Criterion codes, in grid order."""
        return tuple(c.code for c in self.criteria)

    @cached_property
    def total_weight(self) -> Decimal:
        """Sum of the criteria weights."""
        return sum((c.weight for c in self.criteria), Decimal(0))

    def criterion(self, code: str) -> Criterion:
        """The criterion with this code, or ``KeyError``."""
        for c in self.criteria:
            if c.code == code:
                return c
        raise KeyError(code)


# ------------------------------------------------------------------------------ parsing


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _parse_scale(raw: Any, problems: list[str]) -> Scale | None:
    if not isinstance(raw, Mapping):
        problems.append("« scale » doit être un dictionnaire {min, max, step}")
        return None
    for key in sorted(set(raw) - _SCALE_KEYS):
        problems.append(f"scale : clé inconnue « {key} »")
    lo, hi, step = raw.get("min"), raw.get("max"), raw.get("step", 1)
    ok = True
    for key, value in (("min", lo), ("max", hi), ("step", step)):
        if not _is_int(value):
            problems.append(f"scale : « {key} » doit être un entier (reçu : {value!r})")
            ok = False
    if not ok:
        return None
    if step < 1:
        problems.append(f"scale : « step » doit être au moins 1 (reçu : {step})")
        return None
    if lo >= hi:
        problems.append(f"scale : « min » ({lo}) doit être inférieur à « max » ({hi})")
        return None
    if (hi - lo) % step:
        problems.append(f"scale : l'écart entre min et max ({hi - lo}) n'est pas un multiple du pas ({step})")
        return None
    return Scale(lo, hi, step)


def _parse_threshold(where: str, key: str, value: Any, scale: Scale | None, problems: list[str]) -> int | None:
    if value is None:
        return None
    if not _is_int(value):
        problems.append(f"{where} : « {key} » doit être un entier (reçu : {value!r})")
        return None
    if scale is not None and not scale.min < value <= scale.max:
        problems.append(
            f"{where} : « {key} » ({value}) hors de l'échelle : attendu entre "
            f"{scale.min + 1} et {scale.max} (une note inférieure à {scale.min} est impossible)"
        )
        return None
    return value


def _parse_criterion(index: int, raw: Any, scale: Scale | None, problems: list[str]) -> Criterion | None:
    where = f"critère n° {index}"
    if not isinstance(raw, Mapping):
        problems.append(f"{where} : doit être un dictionnaire")
        return None
    code = raw.get("code")
    if isinstance(code, str) and _SLUG.match(code):
        where = f"critère « {code} »"
    else:
        problems.append(f"{where} : « code » doit être un identifiant en minuscules (reçu : {code!r})")
        code = None
    for key in sorted(set(raw) - _CRITERION_KEYS):
        problems.append(f"{where} : clé inconnue « {key} »")
    label = raw.get("label")
    if not isinstance(label, str) or not label.strip():
        problems.append(f"{where} : « label » (libellé) manquant")
    description = raw.get("description", "")
    if not isinstance(description, str):
        problems.append(f"{where} : « description » doit être un texte")
    weight: Decimal | None = None
    try:
        weight = to_decimal(raw.get("weight"))
    except (TypeError, ValueError):
        problems.append(
            f"{where} : « weight » doit être un entier ou une chaîne décimale "
            f"comme \"1.5\" (reçu : {raw.get('weight')!r})"
        )
    if weight is not None and weight <= 0:
        problems.append(f"{where} : « weight » doit être strictement positif (reçu : {weight})")
        weight = None
    eliminatory = raw.get("eliminatory", False)
    if not isinstance(eliminatory, bool):
        problems.append(f"{where} : « eliminatory » doit valoir true ou false")
        eliminatory = False
    below = _parse_threshold(where, "eliminatory_below", raw.get("eliminatory_below"), scale, problems)
    if eliminatory and raw.get("eliminatory_below") is None:
        problems.append(f"{where} : critère éliminatoire sans seuil « eliminatory_below »")
    if not eliminatory and raw.get("eliminatory_below") is not None:
        problems.append(f"{where} : « eliminatory_below » donné sans « eliminatory: true »")
    comment_below = _parse_threshold(
        where, "comment_required_below", raw.get("comment_required_below"), scale, problems
    )
    if code is None or weight is None or not isinstance(label, str) or not isinstance(description, str):
        return None
    return Criterion(
        code=code,
        label=label.strip(),
        weight=weight,
        description=description.strip(),
        eliminatory=eliminatory,
        eliminatory_below=below,
        comment_required_below=comment_below,
    )


def _parse_function(key: str, raw: Any, registry: Registry, problems: list[str]) -> FunctionSpec | None:
    if isinstance(raw, str):
        name, params = raw, {}
    elif isinstance(raw, Mapping):
        for extra in sorted(set(raw) - {"name", "params"}):
            problems.append(f"{key} : clé inconnue « {extra} »")
        name, params = raw.get("name"), raw.get("params") or {}
    else:
        problems.append(f"« {key} » doit être un nom ou un dictionnaire {{name, params}}")
        return None
    if not isinstance(params, Mapping):
        problems.append(f"{key} : « params » doit être un dictionnaire")
        return None
    if not isinstance(name, str) or name not in registry:
        problems.append(
            f"{key} : fonction inconnue {name!r} ; disponibles : {', '.join(registry.names())}"
        )
        return None
    errors = registry.get(name).param_problems(params)
    problems.extend(f"{key} : {e}" for e in errors)
    return None if errors else FunctionSpec(name, dict(params))


def grid_from_dict(data: Mapping[str, Any]) -> Grid:
    """Validate a grid declaration and build a ``Grid``; raise ``GridError`` listing all problems."""
    if not isinstance(data, Mapping):
        raise GridError(["la grille doit être un dictionnaire"])
    problems: list[str] = []
    raw_name = data.get("name")
    name = raw_name if isinstance(raw_name, str) else None
    if name is None or not _SLUG.match(name):
        problems.append(f"« name » doit être un identifiant en minuscules (reçu : {raw_name!r})")
    for key in sorted(set(data) - _GRID_KEYS):
        problems.append(f"clé inconnue « {key} »")
    for key in sorted(_REQUIRED_GRID_KEYS - set(data)):
        problems.append(f"clé obligatoire « {key} » manquante")
    title = data.get("title", name or "")
    if not isinstance(title, str):
        problems.append("« title » doit être un texte")

    scale = _parse_scale(data.get("scale"), problems) if "scale" in data else None

    criteria: list[Criterion] = []
    raw_criteria = data.get("criteria")
    if "criteria" in data:
        if not isinstance(raw_criteria, list) or not raw_criteria:
            problems.append("« criteria » doit être une liste non vide")
        else:
            for i, raw in enumerate(raw_criteria, start=1):
                criterion = _parse_criterion(i, raw, scale, problems)
                if criterion is not None:
                    criteria.append(criterion)
    seen: set[str] = set()
    for c in criteria:
        if c.code in seen:
            problems.append(f"code de critère en double « {c.code} »")
        seen.add(c.code)

    agg = _parse_function("aggregation", data.get("aggregation"), AGGREGATIONS, problems) if "aggregation" in data else None
    norm = _parse_function("normalisation", data.get("normalisation", "none"), NORMALISATIONS, problems)

    threshold: Decimal | None = None
    raw_threshold = data.get("disagreement_threshold", FINAL_SCALE)
    try:
        threshold = to_decimal(raw_threshold)
    except (TypeError, ValueError):
        problems.append(
            f"« disagreement_threshold » doit être un entier ou une chaîne décimale (reçu : {raw_threshold!r})"
        )
    if threshold is not None and not 0 < threshold <= FINAL_SCALE:
        problems.append(f"« disagreement_threshold » ({threshold}) doit être compris entre 0 (exclu) et {FINAL_SCALE}")
        threshold = None

    tie_breakers = data.get("tie_breakers", [])
    if not isinstance(tie_breakers, list) or not all(isinstance(t, str) for t in tie_breakers):
        problems.append("« tie_breakers » doit être une liste de codes de critères")
        tie_breakers = []
    else:
        codes = {c.code for c in criteria}
        for code in tie_breakers:
            if code not in codes:
                problems.append(f"tie_breakers : « {code} » n'est pas un critère de la grille")
        for code in sorted({t for t in tie_breakers if tie_breakers.count(t) > 1}):
            problems.append(f"tie_breakers : « {code} » apparaît plusieurs fois")

    aid = parse_aid_scheme(data["aid"], problems) if "aid" in data else None

    if problems:
        raise GridError(problems, name)
    assert name is not None and scale is not None and agg is not None
    assert norm is not None and threshold is not None and isinstance(title, str)
    return Grid(
        name=name,
        title=title,
        scale=scale,
        criteria=tuple(criteria),
        aggregation=agg,
        normalisation=norm,
        disagreement_threshold=threshold,
        tie_breakers=tuple(tie_breakers),
        aid=aid,
    )


def grid_to_dict(grid: Grid) -> dict[str, Any]:
    """Plain, JSON/YAML-safe form of a grid (weights as decimal strings); inverse of ``grid_from_dict``."""
    criteria = []
    for c in grid.criteria:
        item: dict[str, Any] = {"code": c.code, "label": c.label, "weight": str(c.weight)}
        if c.description:
            item["description"] = c.description
        if c.eliminatory:
            item["eliminatory"] = True
            item["eliminatory_below"] = c.eliminatory_below
        if c.comment_required_below is not None:
            item["comment_required_below"] = c.comment_required_below
        criteria.append(item)
    data: dict[str, Any] = {
        "name": grid.name,
        "title": grid.title,
        "scale": {"min": grid.scale.min, "max": grid.scale.max, "step": grid.scale.step},
        "criteria": criteria,
        "aggregation": {"name": grid.aggregation.name, "params": dict(grid.aggregation.params)},
        "normalisation": {"name": grid.normalisation.name, "params": dict(grid.normalisation.params)},
        "disagreement_threshold": str(grid.disagreement_threshold),
        "tie_breakers": list(grid.tie_breakers),
    }
    if grid.aid is not None:
        data["aid"] = aid_scheme_to_dict(grid.aid)
    return data


def available_grids(directory: Path | None = None) -> list[str]:
    """Names of the grid files (``<name>.yaml``) in ``directory``, sorted."""
    folder = directory or GRIDS_DIR
    return sorted(p.stem for p in folder.glob("*.yaml") if _SLUG.match(p.stem))


def load_grid(name: str, directory: Path | None = None) -> Grid:
    """Load and validate ``<directory>/<name>.yaml`` (the shipped grids by default)."""
    folder = directory or GRIDS_DIR
    if not isinstance(name, str) or not _SLUG.match(name) or not (folder / f"{name}.yaml").is_file():
        raise GridError(
            [f"grille inconnue {name!r} ; disponibles : {', '.join(available_grids(folder))}"], None
        )
    try:
        data = yaml.safe_load((folder / f"{name}.yaml").read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise GridError([f"YAML illisible : {exc}"], name) from exc
    grid = grid_from_dict(data)
    if grid.name != name:
        raise GridError([f"« name » ({grid.name}) doit être égal au nom du fichier ({name})"], name)
    return grid
