"""Registry of named guards and effects.

Definitions reference guards and effects by name only; the code lives here,
registered with :func:`guard` / :func:`effect`. The parameter spec of each
entry is read from the keyword-only parameters of the function and their type
hints, so the spec cannot drift from the code. Supported parameter types:
``str``, ``int``, ``bool``, ``list[str]`` and ``Literal["a", "b", ...]``
(a string restricted to those choices). Nothing is ever ``eval``-ed.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal, TypeVar, get_args, get_origin, get_type_hints

from .errors import Problem

F = TypeVar("F", bound=Callable[..., Any])


class Phase(StrEnum):
    """When the application must run an effect."""

    IN_TRANSACTION = "in_transaction"  # same DB transaction as the state change and audit row
    AFTER_COMMIT = "after_commit"  # only once the transaction has committed (mail, PDF, webhook)


@dataclass(frozen=True)
class GuardResult:
    """Outcome of a guard: ``passed``, and a French ``message`` when it did not."""

    passed: bool
    message: str = ""

    @classmethod
    def ok(cls) -> GuardResult:
        return cls(True)

    @classmethod
    def fail(cls, message: str) -> GuardResult:
        return cls(False, message)


@dataclass(frozen=True)
class ParamSpec:
    """One declared parameter of a guard or effect."""

    name: str
    type: str  # "str" | "int" | "bool" | "list[str]"
    required: bool
    choices: tuple[str, ...] | None = None
    default: Any = None

    def check(self, value: Any) -> str | None:
        """Return a French problem description, or None when ``value`` fits."""
        if self.type == "str":
            if not isinstance(value, str) or not value.strip():
                return "chaîne non vide attendue"
            if self.choices is not None and value not in self.choices:
                return f"valeur « {value} » hors de : {', '.join(self.choices)}"
        elif self.type == "int":
            if not isinstance(value, int) or isinstance(value, bool):
                return "entier attendu"
            if value < 0:
                return "entier positif ou nul attendu"
        elif self.type == "bool":
            if not isinstance(value, bool):
                return "booléen attendu"
        elif self.type == "list[str]":
            if not isinstance(value, list) or not value:
                return "liste non vide de chaînes attendue"
            if not all(isinstance(v, str) and v.strip() for v in value):
                return "liste non vide de chaînes attendue"
        return None


@dataclass(frozen=True)
class GuardSpec:
    name: str
    func: Callable[..., GuardResult]
    params: Mapping[str, ParamSpec]
    description: str


@dataclass(frozen=True)
class EffectSpec:
    name: str
    func: Callable[..., Mapping[str, Any]]
    params: Mapping[str, ParamSpec]
    phase: Phase
    description: str

    @property
    def in_transaction(self) -> bool:
        return self.phase is Phase.IN_TRANSACTION


def _type_label(annotation: Any) -> tuple[str, tuple[str, ...] | None]:
    if annotation is str:
        return "str", None
    if annotation is bool:
        return "bool", None
    if annotation is int:
        return "int", None
    if get_origin(annotation) is list and get_args(annotation) == (str,):
        return "list[str]", None
    if get_origin(annotation) is Literal:
        choices = get_args(annotation)
        if choices and all(isinstance(c, str) for c in choices):
            return "str", tuple(choices)
    raise TypeError(f"unsupported parameter type: {annotation!r}")


def param_specs(func: Callable[..., Any]) -> dict[str, ParamSpec]:
    """Read the spec from ``func(ctx, *, p1: T1, p2: T2 = default)``."""
    signature = inspect.signature(func)
    hints = get_type_hints(func)
    parameters = list(signature.parameters.values())
    if not parameters or parameters[0].kind not in (
        inspect.Parameter.POSITIONAL_ONLY,
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
    ):
        raise TypeError(f"{func.__name__}: first parameter must be the context")
    specs: dict[str, ParamSpec] = {}
    for p in parameters[1:]:
        if p.kind is not inspect.Parameter.KEYWORD_ONLY:
            raise TypeError(f"{func.__name__}: parameter {p.name!r} must be keyword-only")
        if p.name not in hints:
            raise TypeError(f"{func.__name__}: parameter {p.name!r} needs a type hint")
        type_label, choices = _type_label(hints[p.name])
        required = p.default is inspect.Parameter.empty
        specs[p.name] = ParamSpec(
            name=p.name,
            type=type_label,
            required=required,
            choices=choices,
            default=None if required else p.default,
        )
    return specs


def check_params(
    where: str, params: Mapping[str, Any], specs: Mapping[str, ParamSpec]
) -> list[Problem]:
    """Every missing, unknown or wrongly typed parameter, as problems."""
    problems: list[Problem] = []
    for name, spec in specs.items():
        if spec.required and name not in params:
            problems.append(Problem("missing_param", f"{where} : paramètre obligatoire « {name} » manquant"))
    for name, value in params.items():
        found = specs.get(name)
        if found is None:
            problems.append(Problem("unknown_param", f"{where} : paramètre inconnu « {name} »"))
            continue
        fault = found.check(value)
        if fault:
            problems.append(
                Problem("bad_param", f"{where} : paramètre « {name} » invalide ({fault}, type {found.type})")
            )
    return problems


def _doc(func: Callable[..., Any]) -> str:
    return inspect.getdoc(func) or ""


class Registry:
    """Named guards and effects. One default instance, :data:`REGISTRY`."""

    def __init__(self) -> None:
        self.guards: dict[str, GuardSpec] = {}
        self.effects: dict[str, EffectSpec] = {}

    def guard(self, name: str) -> Callable[[F], F]:
        """Decorator: register ``func(ctx, *, params...) -> GuardResult`` as ``name``."""

        def register(func: F) -> F:
            if name in self.guards:
                raise ValueError(f"guard {name!r} is already registered")
            self.guards[name] = GuardSpec(name, func, param_specs(func), _doc(func))
            return func

        return register

    def effect(self, name: str, *, phase: Phase) -> Callable[[F], F]:
        """Decorator: register an effect and the phase in which the app runs it.

        The function is pure: ``func(ctx, *, params...) -> dict`` returns the
        payload (plain values captured at firing time) handed to the app's
        handler. It never performs the side effect itself.
        """
        if not isinstance(phase, Phase):
            raise TypeError("phase must be a Phase")

        def register(func: F) -> F:
            if name in self.effects:
                raise ValueError(f"effect {name!r} is already registered")
            self.effects[name] = EffectSpec(name, func, param_specs(func), phase, _doc(func))
            return func

        return register

    def describe(self) -> dict[str, Any]:
        """Plain description (for docs and the admin UI)."""

        def params(specs: Mapping[str, ParamSpec]) -> list[dict[str, Any]]:
            return [
                {"name": s.name, "type": s.type, "required": s.required, "choices": s.choices}
                for s in specs.values()
            ]

        return {
            "guards": {n: {"params": params(g.params), "doc": g.description} for n, g in sorted(self.guards.items())},
            "effects": {
                n: {"params": params(e.params), "phase": e.phase.value, "doc": e.description}
                for n, e in sorted(self.effects.items())
            },
        }


#: The default registry, filled by :mod:`workflows.guards` and :mod:`workflows.effects`.
REGISTRY = Registry()
guard = REGISTRY.guard
effect = REGISTRY.effect
