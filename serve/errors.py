"""JSON errors with the right HTTP status for each way an upload can fail."""

from __future__ import annotations

from fastapi.responses import JSONResponse

from serve.schemas import ErrorJSON

#: prep/transcription reason code -> HTTP status
STATUS = {
    "unreadable": 415,
    "truncated": 422,
    "no_video_stream": 422,
    "too_few_frames": 422,
    "no_face": 422,
    "face_too_small": 422,
}


def error(status: int, code: str, detail: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse(ErrorJSON(error=code, detail=detail).model_dump(), status_code=status, headers=headers)


def busy() -> JSONResponse:
    """503 when every worker and queue place is taken (:meth:`serve.server_state.ServerState.admit`)."""
    return error(503, "busy", "the queue is full; try again shortly", {"Retry-After": "2"})


def partial_needs_grammar() -> JSONResponse:
    """400 for ``partial`` asked of a request read without a grammar (the upload's field, /v1/live's parameter)."""
    return error(400, "bad_option", "partial reads parts of a grammar's sentences, so it needs a grammar")
