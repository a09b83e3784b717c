"""Errors that carry a message meant for the user (already in their language)."""

from __future__ import annotations


class UserFacingError(Exception):
    status = 400

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status


class Conflict(UserFacingError):
    """Someone else changed the object first (optimistic locking)."""

    status = 409
