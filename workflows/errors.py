"""Exceptions and problem reports of the workflow engine."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


class Problem(str):
    """A validation problem: a French message that is also a plain ``str``.

    It carries a stable machine ``code`` (``unknown_state``, ``dead_end``…) so
    callers and tests can match on the kind of fault rather than on wording.
    """

    code: str

    def __new__(cls, code: str, message: str) -> Problem:
        obj = super().__new__(cls, message)
        obj.code = code
        return obj

    def __reduce__(self) -> tuple[type[Problem], tuple[str, str]]:  # keep code on copy/pickle
        return (Problem, (self.code, str(self)))


@dataclass(frozen=True)
class GuardFailure:
    """One guard that did not pass, with its French explanation."""

    guard: str
    message: str


class WorkflowError(Exception):
    """Base class of every error raised by the ``workflows`` package."""


class DefinitionError(WorkflowError):
    """A workflow definition is malformed; ``problems`` lists every fault."""

    def __init__(self, name: str, problems: Iterable[str]) -> None:
        self.name = name
        self.problems: list[str] = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"Définition de workflow « {name} » invalide :\n{lines}")


class UnknownDefinition(WorkflowError, LookupError):
    """No definition file of that name."""


class UnknownState(WorkflowError):
    """The state is not declared by the definition."""

    def __init__(self, workflow: str, state: str) -> None:
        self.workflow = workflow
        self.state = state
        super().__init__(f"État « {state} » inconnu du workflow « {workflow} ».")


class UnknownTransition(WorkflowError):
    """No transition of that name anywhere in the definition."""

    def __init__(self, workflow: str, transition: str) -> None:
        self.workflow = workflow
        self.transition = transition
        super().__init__(f"Transition « {transition} » inconnue du workflow « {workflow} ».")


class TransitionNotAllowed(WorkflowError):
    """The transition exists but not from this state (``why == "state"``)
    or not for these roles (``why == "role"``)."""

    def __init__(self, transition: str, state: str, roles: Iterable[str], why: str) -> None:
        self.transition = transition
        self.state = state
        self.roles = frozenset(roles)
        self.why = why
        if why == "state":
            msg = f"La transition « {transition} » n'est pas possible depuis l'état « {state} »."
        else:
            shown = ", ".join(sorted(self.roles)) or "aucun"
            msg = f"La transition « {transition} » n'est pas permise pour le(s) rôle(s) : {shown}."
        super().__init__(msg)


class GuardFailed(WorkflowError):
    """One or more guards refused the transition; ``failures`` holds them all."""

    def __init__(self, transition: str, failures: Iterable[GuardFailure]) -> None:
        self.transition = transition
        self.failures: tuple[GuardFailure, ...] = tuple(failures)
        super().__init__(
            f"Transition « {transition} » refusée : " + " ".join(self.messages)
        )

    @property
    def messages(self) -> list[str]:
        """The French messages of every failing guard, in declaration order."""
        return [f.message for f in self.failures]
