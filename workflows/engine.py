"""Firing transitions: pure, plain values in and out.

The engine checks state, roles and guards, then returns the effects to run.
It never performs them: the app runs ``in_transaction`` effects inside the
DB transaction that writes the new state and the audit row, and
``after_commit`` effects once that transaction has committed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .context import FileContext
from .errors import GuardFailed, GuardFailure, TransitionNotAllowed, UnknownTransition
from .model import Definition, Step, Transition, _role_set
from .registry import REGISTRY, GuardResult, Phase, Registry

_REASON_GUARD = "reason_given"


@dataclass(frozen=True)
class EffectCall:
    """An effect the app must run, with its params and captured payload."""

    name: str
    params: Mapping[str, Any]
    phase: Phase
    payload: Mapping[str, Any]

    @property
    def in_transaction(self) -> bool:
        return self.phase is Phase.IN_TRANSACTION

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "params": dict(self.params),
            "phase": self.phase.value,
            "payload": dict(self.payload),
        }


@dataclass(frozen=True)
class FireResult:
    """Outcome of :func:`fire`: what to write and what to run."""

    workflow: str
    version: str
    definition_hash: str
    from_state: str
    to_state: str
    transition: Transition
    effects: tuple[EffectCall, ...]

    @property
    def in_transaction_effects(self) -> list[EffectCall]:
        return [e for e in self.effects if e.phase is Phase.IN_TRANSACTION]

    @property
    def after_commit_effects(self) -> list[EffectCall]:
        return [e for e in self.effects if e.phase is Phase.AFTER_COMMIT]

    def audit_fields(self) -> dict[str, Any]:
        """Workflow part of the audit row (the app adds actor, role, reason, time)."""
        return {
            "workflow": self.workflow,
            "workflow_version": self.version,
            "workflow_hash": self.definition_hash,
            "transition": self.transition.name,
            "from_state": self.from_state,
            "to_state": self.to_state,
        }


def guard_steps(transition: Transition) -> tuple[Step, ...]:
    """Declared guards, plus an implicit ``reason_given`` when ``requires_reason``."""
    if transition.requires_reason and all(g.name != _REASON_GUARD for g in transition.guards):
        return (Step(_REASON_GUARD), *transition.guards)
    return transition.guards


def check_guards(
    transition: Transition, ctx: FileContext, registry: Registry | None = None
) -> list[GuardFailure]:
    """Run every guard of ``transition`` (none short-circuits); return the failures."""
    registry = registry or REGISTRY
    failures: list[GuardFailure] = []
    for step in guard_steps(transition):
        result = registry.guards[step.name].func(ctx, **step.params)
        if not isinstance(result, GuardResult):
            raise TypeError(f"guard {step.name!r} returned {type(result).__name__}, not GuardResult")
        if not result.passed:
            failures.append(GuardFailure(step.name, result.message or f"Condition « {step.name} » non remplie."))
    return failures


def find_transition(
    definition: Definition, state: str, transition_name: str, roles: Iterable[str]
) -> Transition:
    """The transition ``transition_name`` from ``state`` for ``roles``, or raise."""
    role_set = _role_set(roles)
    definition.state(state)  # UnknownState
    named = definition.transitions_named(transition_name)
    if not named:
        raise UnknownTransition(definition.name, transition_name)
    from_here = [t for t in named if state in t.from_states]
    if not from_here:
        raise TransitionNotAllowed(transition_name, state, role_set, why="state")
    for t in from_here:
        if t.allows(role_set):
            return t
    raise TransitionNotAllowed(transition_name, state, role_set, why="role")


def fire(
    definition: Definition,
    state: str,
    transition_name: str,
    roles: Iterable[str],
    ctx: FileContext,
    *,
    registry: Registry | None = None,
) -> FireResult:
    """Check and fire ``transition_name`` from ``state``.

    Raises :class:`UnknownState`, :class:`UnknownTransition`,
    :class:`TransitionNotAllowed` (wrong state or roles) or
    :class:`GuardFailed` (with every failing guard's message).
    """
    registry = registry or REGISTRY
    transition = find_transition(definition, state, transition_name, roles)
    failures = check_guards(transition, ctx, registry)
    if failures:
        raise GuardFailed(transition.name, failures)
    effects = []
    for step in transition.effects:
        spec = registry.effects[step.name]
        effects.append(
            EffectCall(
                name=step.name,
                params=dict(step.params),
                phase=spec.phase,
                payload=dict(spec.func(ctx, **step.params)),
            )
        )
    return FireResult(
        workflow=definition.name,
        version=definition.version,
        definition_hash=definition.hash,
        from_state=state,
        to_state=transition.to_state,
        transition=transition,
        effects=tuple(effects),
    )


@dataclass(frozen=True)
class Option:
    """A transition offered to the user, with the reasons it is blocked (if any)."""

    transition: Transition
    failures: tuple[GuardFailure, ...]

    @property
    def enabled(self) -> bool:
        return not self.failures


def available(
    definition: Definition,
    state: str,
    roles: Iterable[str],
    ctx: FileContext,
    *,
    registry: Registry | None = None,
) -> list[Option]:
    """Transitions ``roles`` may fire from ``state``, guards evaluated (for the UI)."""
    return [
        Option(t, tuple(check_guards(t, ctx, registry)))
        for t in definition.transitions_from(state, roles)
    ]
