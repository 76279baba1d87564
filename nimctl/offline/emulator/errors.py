"""Refusals of the emulated server (stdlib only, so every emulator module can raise them cheaply)."""

from __future__ import annotations


class Invalid(ValueError):
    """A spec the emulated server rejects with 400."""


class ApiError(Exception):
    """A refusal with the HTTP status and message the emulated server sends."""

    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code or {400: "InvalidArgument", 401: "Unauthorized", 404: "NotFound", 409: "AlreadyExists"}.get(
            status, "Error"
        )

    def body(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}
