"""Immutable data model of a workflow definition."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import Any

from .errors import UnknownState

#: Coarse stages every state belongs to (dashboards, permissions, deadlines).
STAGES: tuple[str, ...] = (
    "draft",
    "eligibility",
    "instruction",
    "committee",
    "agreement",
    "payments",
    "closed",
)

#: Roles allowed to fire transitions. ``system`` is used by scheduled jobs.
ROLES: tuple[str, ...] = (
    "applicant",
    "instructor",
    "expert",
    "committee",
    "finance",
    "admin",
    "system",
)


def _frozen(mapping: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True)
class Step:
    """A reference to a registered guard or effect, with its parameters."""

    name: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", _frozen(self.params))

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "params": dict(self.params)}


@dataclass(frozen=True)
class State:
    """A state of a file (``dossier``)."""

    name: str
    stage: str
    label: str | None = None
    final: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"stage": self.stage, "final": self.final, "label": self.label}


@dataclass(frozen=True)
class Transition:
    """A named move from one of ``from_states`` to ``to_state``."""

    name: str
    from_states: tuple[str, ...]
    to_state: str
    roles: frozenset[str]
    guards: tuple[Step, ...] = ()
    effects: tuple[Step, ...] = ()
    label: str | None = None
    requires_reason: bool = False

    def allows(self, roles: Iterable[str]) -> bool:
        """True when at least one of ``roles`` may fire this transition."""
        return not self.roles.isdisjoint(roles)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "from": sorted(self.from_states),
            "to": self.to_state,
            "roles": sorted(self.roles),
            "guards": [g.to_dict() for g in self.guards],
            "effects": [e.to_dict() for e in self.effects],
            "label": self.label,
            "requires_reason": self.requires_reason,
        }


@dataclass(frozen=True, eq=False)
class Definition:
    """A whole workflow: states, transitions, and a content hash as identity.

    Two definitions are equal when their hashes are equal.
    """

    name: str
    version: str
    initial: str
    states: Mapping[str, State]
    transitions: tuple[Transition, ...]
    label: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "states", _frozen(self.states))

    # -- identity ---------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Normalised plain-data form (JSON-serialisable); basis of :attr:`hash`."""
        return {
            "name": self.name,
            "version": self.version,
            "label": self.label,
            "initial": self.initial,
            "states": {name: s.to_dict() for name, s in self.states.items()},
            "transitions": [t.to_dict() for t in self.transitions],
        }

    def canonical_json(self) -> str:
        """JSON with sorted keys and no whitespace: independent of key order."""
        return json.dumps(
            self.to_dict(), sort_keys=True, ensure_ascii=False, separators=(",", ":")
        )

    @cached_property
    def hash(self) -> str:
        """sha256 (hex) of :meth:`canonical_json`: the version identity."""
        return hashlib.sha256(self.canonical_json().encode("utf-8")).hexdigest()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Definition):
            return NotImplemented
        return self.hash == other.hash

    def __hash__(self) -> int:
        return hash(self.hash)

    # -- queries ----------------------------------------------------------
    def state(self, name: str) -> State:
        try:
            return self.states[name]
        except KeyError:
            raise UnknownState(self.name, name) from None

    def stage_of(self, state: str) -> str:
        return self.state(state).stage

    def is_final(self, state: str) -> bool:
        return self.state(state).final

    def label_of(self, state: str) -> str:
        """French label of a state (its name when no label is declared)."""
        s = self.state(state)
        return s.label or s.name

    def transitions_named(self, name: str) -> list[Transition]:
        return [t for t in self.transitions if t.name == name]

    def transitions_from(self, state: str, roles: Iterable[str] | None = None) -> list[Transition]:
        """Transitions leaving ``state``, restricted to ``roles`` when given.

        Guards are not evaluated here (see :func:`workflows.engine.available`).
        """
        self.state(state)
        role_set = None if roles is None else _role_set(roles)
        return [
            t
            for t in self.transitions
            if state in t.from_states and (role_set is None or t.allows(role_set))
        ]

    def __repr__(self) -> str:
        return f"<Definition {self.name} {self.version} {self.hash[:12]}>"


def _role_set(roles: Iterable[str]) -> frozenset[str]:
    if isinstance(roles, str):
        raise TypeError("roles must be a collection of role names, not a single string")
    return frozenset(roles)
