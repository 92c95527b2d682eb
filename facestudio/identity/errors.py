"""Errors of the identity comparison; str() of each is one line fit to show a user as is."""

from __future__ import annotations

# Quoted so that zsh does not expand the brackets.
INSTALL_HINT = "pip install -e '.[identity]'"


class IdentityError(Exception):
    """Two images could not be compared (bad input for a backend, a backend that failed)."""


class BackendUnavailableError(IdentityError):
    """An identity backend cannot run here: a package or model file is missing."""

    def __init__(self, backend: str, problem: str, hint: str | None = f"install it with: {INSTALL_HINT}") -> None:
        self.backend = backend
        self.problem = problem
        advice = f"; {hint}" if hint else ""
        super().__init__(f"identity backend {backend!r} is not available ({problem}){advice}")
