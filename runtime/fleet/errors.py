"""The fleet API's one error shape: `{"error": code, "message": text, ...details}`."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException


class FleetError(Exception):
    """A refusal with an HTTP status and a stable machine-readable code."""

    def __init__(self, status: int, code: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details


def not_found(kind: str, key: Any) -> FleetError:
    return FleetError(404, "not_found", f"no {kind} {key!r}")


def envelope(status: int, code: str, message: str, **details: Any) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse({"error": code, "message": message, **details}, status_code=status,
                        headers=headers)


_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
          405: "method_not_allowed", 409: "conflict", 413: "too_large", 422: "invalid_request"}


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(FleetError)
    async def fleet_error(_request: Request, exc: FleetError) -> JSONResponse:
        return envelope(exc.status, exc.code, exc.message, **exc.details)

    @app.exception_handler(HTTPException)
    async def http_error(_request: Request, exc: HTTPException) -> JSONResponse:
        return envelope(exc.status_code, _CODES.get(exc.status_code, "error"), str(exc.detail))

    @app.exception_handler(OverflowError)
    @app.exception_handler(DataError)
    async def out_of_range(_request: Request, _exc: Exception) -> JSONResponse:
        # A number past what the database stores (SQLite's driver raises OverflowError,
        # PostgreSQL a DataError), in a body or a query the routers do not bound one by
        # one. Nothing was written: the request's transaction is rolled back.
        return envelope(422, "invalid_request",
                        "a number in the request is out of range for the database")

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [{"where": ".".join(str(p) for p in e.get("loc", ())),
                     "problem": str(e.get("msg", ""))} for e in exc.errors()]
        first = problems[0] if problems else {"where": "", "problem": "invalid request"}
        return envelope(422, "invalid_request", f"{first['where']}: {first['problem']}",
                        problems=problems)
