"""One error tree, grouped by what the caller can do about it."""

from __future__ import annotations


class BrisaError(Exception):
    """Root of every error Brisa raises on purpose. The message says what to do."""


class InvalidInput(BrisaError):
    """The caller sent something malformed; fix the input and retry."""


class NotFound(BrisaError):
    """The named thing does not exist (or is not visible to the caller)."""


class Conflict(BrisaError):
    """The request is valid but clashes with the current state (e.g. a lost race)."""


class ConfigError(InvalidInput):
    """The configuration file or an environment override is wrong."""


class IllegalTransition(Conflict):
    """A lifecycle move that the transition table does not allow."""


class DagDefinitionError(InvalidInput):
    """A mistake in a DAG file; carries the file and line so authors can find it."""

    def __init__(self, message: str, filename: str | None = None, lineno: int | None = None):
        self.filename = filename
        self.lineno = lineno
        where = (
            f"{filename}:{lineno}: " if filename and lineno else f"{filename}: " if filename else ""
        )
        super().__init__(f"{where}{message}")
        self.bare_message = message


class Unauthorized(BrisaError):
    """Missing or invalid credentials (e.g. an execution token for another attempt)."""


class Forbidden(BrisaError):
    """Valid credentials that do not allow this (e.g. a pod's identity for another attempt)."""


class Unavailable(BrisaError):
    """A service Brisa depends on cannot answer now (e.g. the Kubernetes API server): retry."""
