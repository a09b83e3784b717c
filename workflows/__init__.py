"""Guichet workflow engine: pure, no Flask, no database.

Definitions are YAML data (``workflows/definitions/*.yaml``); guards and
effects are named Python functions in a registry; :func:`fire` checks a
transition and returns the effects the application must run.
"""

from . import effects as _effects  # noqa: F401  (registers the built-in effects)
from . import guards as _guards  # noqa: F401  (registers the built-in guards)
from .context import FileContext, StaticContext
from .engine import EffectCall, FireResult, Option, available, check_guards, fire, guard_steps
from .errors import (
    DefinitionError,
    GuardFailed,
    GuardFailure,
    Problem,
    TransitionNotAllowed,
    UnknownDefinition,
    UnknownState,
    UnknownTransition,
    WorkflowError,
)
from .loader import (
    DEFINITIONS_DIR,
    available_definitions,
    check_all,
    from_dict,
    load_definition,
    load_from_text,
    parse,
)
from .migration import check_migration
from .model import ROLES, STAGES, Definition, State, Step, Transition
from .registry import REGISTRY, GuardResult, ParamSpec, Phase, Registry, effect, guard
from .validation import validate

__all__ = [
    "DEFINITIONS_DIR",
    "REGISTRY",
    "ROLES",
    "STAGES",
    "Definition",
    "DefinitionError",
    "EffectCall",
    "FileContext",
    "FireResult",
    "GuardFailed",
    "GuardFailure",
    "GuardResult",
    "Option",
    "ParamSpec",
    "Phase",
    "Problem",
    "Registry",
    "State",
    "StaticContext",
    "Step",
    "Transition",
    "TransitionNotAllowed",
    "UnknownDefinition",
    "UnknownState",
    "UnknownTransition",
    "WorkflowError",
    "available",
    "available_definitions",
    "check_all",
    "check_guards",
    "check_migration",
    "effect",
    "fire",
    "from_dict",
    "guard",
    "guard_steps",
    "load_definition",
    "load_from_text",
    "parse",
    "validate",
]
