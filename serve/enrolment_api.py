"""The enrolment endpoints (``/v1/enrol/...``): prompts, recordings, adapting, its progress."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path

from fastapi import APIRouter, File, Form, Query, UploadFile
from fastapi.responses import FileResponse

from serve.crop_strip import crop_strip
from serve.enrolment import PERSONAL, Enrolment, EnrolmentError
from serve.errors import busy, error
from serve.server_state import ServerState
from serve.uploads import UploadRefused, save_upload

PROMPTS_MAX = 50


def enrolment_router(state: ServerState) -> APIRouter:
    """Routes over ``state.enrolment`` (None when the server has no ``--data-dir``)."""
    router = APIRouter(prefix="/v1/enrol", tags=["enrolment"])
    limits = state.limits

    def on_adapted(user: str) -> None:  # the next request reads with the new personal model
        state.forget_model(f"{PERSONAL}{user}")

    def enrolment() -> Enrolment:
        if state.enrolment is None:
            raise EnrolmentError("enrolment_off", "this server keeps no recordings: start it with "
                                 "`lipread serve --data-dir DIR` to let users train a personal model", 404)  # fmt: skip
        return state.enrolment

    def refused(err: EnrolmentError):
        return error(err.status, err.code, err.detail)

    @router.get("/prompts")
    async def prompts(count: int = Query(20, ge=1, le=PROMPTS_MAX), seed: int = 0):
        """Sentences to read out: from the model's grammar (covering its words), else its training sentences."""
        try:
            enrolment()
        except EnrolmentError as err:
            return refused(err)
        grammar = state.default_grammar
        if grammar is not None:
            return {"prompts": grammar.examples(count, seed), "source": f"grammar {grammar.name}"}
        texts = list(state.model.card.train_texts)
        step = max(1, len(texts) // count)
        return {"prompts": texts[::step][:count], "source": "the model's training sentences"}

    @router.get("/{user}")
    async def status(user: str):
        """The user's checked recordings, the adaptation in progress and the personal model's report."""
        try:
            return enrolment().status(user)
        except EnrolmentError as err:
            return refused(err)

    @router.get("/{user}/report.png", response_class=FileResponse)
    async def report_picture(user: str):
        """The personal model's adaptation at a glance: training loss by epoch, held-out WER before and after."""
        try:
            return FileResponse(enrolment().report_picture(user), media_type="image/png")
        except EnrolmentError as err:
            return refused(err)

    @router.post("/{user}/recordings", status_code=201)
    async def add_recording(
        user: str,
        file: UploadFile = File(..., description="a few seconds of video of the user saying `text`"),
        text: str = Form(..., description="the sentence the user said"),
        id: str = Form(..., description="the recording's id (a prompt's number, say); the same id replaces it"),
    ):
        """Check a recording (face, light, length) and keep it: 201 with what was found, or a 422 that says why not."""
        if not state.admit():  # checks share the transcription workers
            await file.close()
            return busy()
        workdir = Path(tempfile.mkdtemp(prefix="lipread-enrol-"))
        try:
            keeper = enrolment()
            keeper.user_dir(user)
            upload = workdir / "upload"
            await save_upload(file, upload, limits.max_upload_mb)
            suffix = Path(file.filename or "").suffix
            loop = asyncio.get_running_loop()
            record = await loop.run_in_executor(state.executor, keeper.add_recording, user, upload, text, id, suffix)
            return {**record.to_json(), "crops_png": crop_strip(keeper.crops(user, id), columns=8, rows=1)}
        except EnrolmentError as err:
            return refused(err)
        except UploadRefused as err:
            return error(err.status, err.code, err.detail)
        finally:
            state.leave()
            await file.close()
            shutil.rmtree(workdir, ignore_errors=True)

    @router.delete("/{user}/recordings/{recording}")
    async def delete_recording(user: str, recording: str):
        try:
            enrolment().delete_recording(user, recording)
        except EnrolmentError as err:
            return refused(err)
        return {"deleted": recording}

    @router.post("/{user}/adapt", status_code=202)
    async def start_adapt(user: str):
        """Adapt the server's model to the user's recordings in the background; poll ``GET /v1/enrol/{user}``."""
        try:
            return enrolment().start(user, on_adapted).to_json()
        except EnrolmentError as err:
            return refused(err)

    return router
