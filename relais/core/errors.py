"""Every error Relais raises on purpose: one root, one subclass per kind of failure.

A handler that catches `RelaisError` catches what Relais knows how to explain; anything else
is a bug. The docstring of each class is its default message.
"""

from __future__ import annotations


class RelaisError(Exception):
    """Relais could not do what was asked."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (self.__doc__ or "").strip())


class ConfigError(RelaisError, ValueError):
    """A configuration file or setting holds a value that cannot be used."""


class NotFound(RelaisError):
    """The thing asked for does not exist."""


class Conflict(RelaisError):
    """The action cannot be done in the current state (shown to the person as is)."""


class RasaUnavailable(RelaisError):
    """Rasa (or its action server) did not answer properly; the message will be retried."""


class SendFailed(RelaisError):
    """The platform did not take the message; `retry_after` (seconds) if it said when.

    `delivered` lists the ids of the pieces of a split message that did go out before the
    failure: the retry starts after them, so no piece is sent twice.
    """

    def __init__(
        self,
        reason: str,
        retry_after: float | None = None,
        permanent: bool = False,
        delivered: list[str] | None = None,
    ) -> None:
        super().__init__(reason)
        self.retry_after = retry_after
        self.permanent = permanent
        self.delivered = list(delivered or [])


class ModelError(RelaisError):
    """A model could not be found, loaded or read."""
