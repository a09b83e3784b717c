"""Reading definitions from YAML / plain data, with every fault reported."""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from .errors import DefinitionError, Problem, UnknownDefinition
from .model import Definition, State, Step, Transition
from .registry import Registry
from .validation import validate

#: Folder of the shipped definitions, one ``<name>.yaml`` per workflow.
DEFINITIONS_DIR = Path(__file__).resolve().parent / "definitions"

_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
_TOP_KEYS = {"name", "version", "label", "initial", "states", "transitions"}
_STATE_KEYS = {"stage", "final", "label"}
_TRANSITION_KEYS = {"name", "from", "to", "roles", "guards", "effects", "label", "requires_reason"}
_STEP_KEYS = {"name", "params"}


def parse(data: Any) -> tuple[Definition, list[Problem]]:
    """Build a :class:`Definition` leniently, listing structural faults.

    Malformed parts are skipped or replaced by empty values so that the
    semantic :func:`validate` can still run and report everything at once.
    """
    problems: list[Problem] = []

    def fault(message: str) -> None:
        problems.append(Problem("structure", message))

    if not isinstance(data, Mapping):
        fault("la définition doit être un dictionnaire (mapping)")
        data = {}
    for key in sorted(set(data) - _TOP_KEYS, key=str):
        fault(f"clé inconnue « {key} »")

    name = _text(data.get("name"), "name", fault, required=True)
    version = _text(data.get("version"), "version", fault, required=True, number_ok=True)
    label = _text(data.get("label"), "label", fault, default=None)
    initial = _text(data.get("initial"), "initial", fault)  # emptiness: see validate()

    states: dict[str, State] = {}
    raw_states = data.get("states")
    if not isinstance(raw_states, Mapping) or not raw_states:
        fault("« states » doit être un dictionnaire non vide d'états")
        raw_states = {}
    for state_name, raw in raw_states.items():
        where = f"état « {state_name} »"
        if not isinstance(state_name, str) or not _NAME_RE.match(state_name):
            fault(f"{where} : nom invalide (minuscules, chiffres, _)")
            continue
        if not isinstance(raw, Mapping):
            fault(f"{where} : doit être un dictionnaire (stage, final, label)")
            raw = {}
        for key in sorted(set(raw) - _STATE_KEYS, key=str):
            fault(f"{where} : clé inconnue « {key} »")
        states[state_name] = State(
            name=state_name,
            stage=_text(raw.get("stage"), f"{where}, stage", fault),
            label=_text(raw.get("label"), f"{where}, label", fault, default=None),
            final=_flag(raw.get("final"), f"{where}, final", fault),
        )

    transitions: list[Transition] = []
    raw_transitions = data.get("transitions")
    if not isinstance(raw_transitions, list):
        fault("« transitions » doit être une liste")
        raw_transitions = []
    for index, raw in enumerate(raw_transitions, start=1):
        if not isinstance(raw, Mapping):
            fault(f"transition n° {index} : doit être un dictionnaire")
            continue
        t_name = _text(raw.get("name"), f"transition n° {index}, name", fault, required=True)
        where = f"transition « {t_name or index} »"
        if t_name and not _NAME_RE.match(t_name):
            fault(f"{where} : nom invalide (minuscules, chiffres, _)")
        for key in sorted(set(raw) - _TRANSITION_KEYS, key=str):
            fault(f"{where} : clé inconnue « {key} »")
        transitions.append(
            Transition(
                name=t_name,
                from_states=_names(raw.get("from"), f"{where}, from", fault, single_ok=True),
                to_state=_text(raw.get("to"), f"{where}, to", fault, required=True),
                roles=frozenset(_names(raw.get("roles"), f"{where}, roles", fault, single_ok=False)),
                guards=_steps(raw.get("guards"), f"{where}, guards", fault),
                effects=_steps(raw.get("effects"), f"{where}, effects", fault),
                label=_text(raw.get("label"), f"{where}, label", fault, default=None),
                requires_reason=_flag(raw.get("requires_reason"), f"{where}, requires_reason", fault),
            )
        )

    definition = Definition(
        name=name,
        version=version,
        initial=initial,
        states=states,
        transitions=tuple(transitions),
        label=label,
    )
    return definition, problems


def _text(
    value: Any, where: str, fault: Any, *, required: bool = False, default: str | None = "", number_ok: bool = False
) -> Any:
    if value is None:
        if required:
            fault(f"{where} : valeur obligatoire manquante")
        return default
    if number_ok and isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)  # ``version: 2`` is accepted
    if not isinstance(value, str):
        fault(f"{where} : chaîne attendue")
        return default
    return value


def _flag(value: Any, where: str, fault: Any) -> bool:
    if value is None:
        return False
    if not isinstance(value, bool):
        fault(f"{where} : booléen attendu (true / false)")
        return False
    return value


def _names(value: Any, where: str, fault: Any, single_ok: bool) -> tuple[str, ...]:
    if isinstance(value, str) and single_ok:
        return (value,)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        fault(f"{where} : liste de noms attendue")
        return ()
    if not value and single_ok:
        fault(f"{where} : liste vide")
    return tuple(value)


def _steps(value: Any, where: str, fault: Any) -> tuple[Step, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        fault(f"{where} : liste attendue")
        return ()
    steps: list[Step] = []
    for raw in value:
        if isinstance(raw, str):  # shorthand: "- reason_given"
            steps.append(Step(raw))
            continue
        if not isinstance(raw, Mapping) or not isinstance(raw.get("name"), str):
            fault(f"{where} : chaque élément doit avoir un « name »")
            continue
        for key in sorted(set(raw) - _STEP_KEYS, key=str):
            fault(f"{where}, « {raw['name']} » : clé inconnue « {key} »")
        params = raw.get("params") or {}
        if not isinstance(params, Mapping) or not all(isinstance(k, str) for k in params):
            fault(f"{where}, « {raw['name']} » : « params » doit être un dictionnaire")
            params = {}
        steps.append(Step(raw["name"], _plain(params)))
    return tuple(steps)


def _plain(value: Any) -> Any:
    """Deep copy of plain data (dicts, lists, scalars)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


# -- public loading API -------------------------------------------------------


def from_dict(data: Any, *, check: bool = True, registry: Registry | None = None) -> Definition:
    """Build a definition from plain data; raise :class:`DefinitionError` on any fault."""
    definition, problems = parse(data)
    if check:
        problems = problems + validate(definition, registry)
        if problems:
            raise DefinitionError(definition.name or "?", problems)
    return definition


def load_from_text(text: str, *, check: bool = True, registry: Registry | None = None) -> Definition:
    """Build a definition from YAML text (``yaml.safe_load``, no object tags)."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise DefinitionError("?", [Problem("yaml", f"YAML illisible : {exc}")]) from exc
    return from_dict(data, check=check, registry=registry)


def available_definitions(directory: Path | None = None) -> list[str]:
    """Names of the definition files in ``directory`` (default: shipped ones)."""
    folder = directory or DEFINITIONS_DIR
    return sorted(p.stem for p in folder.glob("*.yaml") if _NAME_RE.match(p.stem))


def _path_of(name: str, directory: Path | None) -> Path:
    folder = directory or DEFINITIONS_DIR
    if not _NAME_RE.match(name) or not (folder / f"{name}.yaml").is_file():
        raise UnknownDefinition(f"Aucune définition de workflow « {name} ».")
    return folder / f"{name}.yaml"


def _problems_of_file(name: str, directory: Path | None) -> tuple[Definition | None, list[Problem]]:
    text = _path_of(name, directory).read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        return None, [Problem("yaml", f"YAML illisible : {exc}")]
    definition, problems = parse(data)
    problems += validate(definition)
    if definition.name and definition.name != name:
        problems.append(
            Problem("name_mismatch", f"le nom « {definition.name} » ne correspond pas au fichier « {name}.yaml »")
        )
    return definition, problems


@cache
def load_definition(name: str) -> Definition:
    """Load, validate and cache the shipped definition ``name``."""
    definition, problems = _problems_of_file(name, None)
    if problems or definition is None:
        raise DefinitionError(name, problems)
    return definition


def check_all(directory: Path | None = None) -> dict[str, list[str]]:
    """Validate every definition file: ``{name: problems}`` (empty lists when fine)."""
    return {
        name: list(_problems_of_file(name, directory)[1])
        for name in available_definitions(directory)
    }
