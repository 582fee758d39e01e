"""OpenAPI descriptions of the API's JSON, derived from lipread's typed records instead of restated.

The transcript's fields are defined once, in :mod:`lipread.transcript`; the models here only tell
FastAPI's ``/docs`` page what they are, so the page cannot drift from what the server sends."""

from __future__ import annotations

import dataclasses
import sys
import typing

from pydantic import BaseModel, Field, create_model

from lipread.transcript import Transcript


def json_model(record: type, leave_out: tuple[str, ...] = (), **extra: typing.Any) -> type[BaseModel]:
    """A pydantic model of ``record``'s JSON: its dataclass fields less ``leave_out`` (those that
    never reach JSON, such as arrays), plus ``extra`` fields (``name=(type, Field(...))``)."""
    hints = typing.get_type_hints(record, vars(sys.modules[record.__module__]))
    fields = {f.name: (hints[f.name], ...) for f in dataclasses.fields(record) if f.name not in leave_out}
    return create_model(record.__name__, __doc__=record.__doc__, **fields, **extra)


class ErrorJSON(BaseModel):
    """Every error the API answers, whatever its status: a reason code and what went wrong, in words."""

    error: str = Field(description="a reason code, e.g. no_face, too_large, bad_option, busy")
    detail: str = Field(description="what went wrong, for a person to read")


TranscriptJSON = json_model(
    Transcript,
    leave_out=("mouth_frames",),
    crops_png=(
        str | None,
        Field(None, description="with crops=true: the mouth crop read at each word, a PNG in base64"),
    ),
)
