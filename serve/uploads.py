"""Saving an upload to disk in chunks, refusing it as soon as it passes the size limit."""

from __future__ import annotations

from pathlib import Path

from fastapi import UploadFile

CHUNK = 1 << 20


class UploadRefused(Exception):
    """An upload that is too large or empty: ``status``, ``code`` and ``detail`` for the JSON error."""

    def __init__(self, status: int, code: str, detail: str):
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail


async def save_upload(file: UploadFile, target: Path, max_mb: float) -> int:
    """Write ``file`` to ``target`` (never a client-given name); returns its size in bytes."""
    size = 0
    with target.open("wb") as out:
        while chunk := await file.read(CHUNK):
            size += len(chunk)
            if size > max_mb * 2**20:
                raise UploadRefused(413, "too_large", f"upload exceeds {max_mb:g} MB")
            out.write(chunk)
    if size == 0:
        raise UploadRefused(422, "empty", "the uploaded file is empty")
    return size
