"""tre's errors as HTTP answers: the message says what was wrong and what to do."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from tre.api.auth import HubUnreachable, NotAuthenticated, TokenLacksScope
from tre.api.schemas import ErrorOut
from tre.errors import (
    InvalidInput,
    InvalidStateTransition,
    NotFound,
    PolicyDenied,
    PolicyEngineUnavailable,
    StorageError,
    TREError,
)


class Forbidden(TREError):
    """The caller may not see or do this (a rule of the API's own, not a policy decision)."""


STATUS: tuple[tuple[type[TREError], int], ...] = (
    (NotAuthenticated, 401),
    (TokenLacksScope, 403),
    (Forbidden, 403),
    (PolicyDenied, 403),
    (NotFound, 404),
    (InvalidStateTransition, 409),
    (InvalidInput, 400),
    (HubUnreachable, 503),
    (PolicyEngineUnavailable, 503),
    (StorageError, 503),
)
"""The HTTP status of each error, first match wins; any other TREError is a 500."""


def status_of(exc: TREError) -> int:
    """The HTTP status answering ``exc``."""
    return next((code for kind, code in STATUS if isinstance(exc, kind)), 500)


def _answer(exc: TREError) -> JSONResponse:
    body = ErrorOut(detail=str(exc))
    if isinstance(exc, PolicyDenied):
        body = ErrorOut(detail=str(exc), decision=exc.decision, reasons=exc.reasons)
    headers = {"WWW-Authenticate": "token"} if isinstance(exc, NotAuthenticated) else None
    return JSONResponse(body.model_dump(), status_code=status_of(exc), headers=headers)


def _where(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc)


def install(app: FastAPI) -> None:
    """Answer TREErrors with their status and bad bodies with 422 naming each field to fix."""

    async def tre_error(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, TREError)
        return _answer(exc)

    async def bad_request(_request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        problems = [f"{_where(e['loc'])}: {e['msg']}" for e in exc.errors()]
        body = ErrorOut(detail="the request does not match the API (see /api/v1/openapi.json)"
                        ": " + "; ".join(problems), reasons=problems)
        return JSONResponse(body.model_dump(), status_code=422)

    app.add_exception_handler(TREError, tre_error)
    app.add_exception_handler(RequestValidationError, bad_request)
