"""The REST server's two failures: a request answered with an error, a model it cannot serve."""

from __future__ import annotations


class ApiError(Exception):
    """A request that gets an error response: ``{"error": message}`` with ``status``."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


class ModelLoadError(RuntimeError):
    """A version directory whose SavedModel cannot be served."""
