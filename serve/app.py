"""The FastAPI application: one model loaded once, inference off the event loop, a bounded queue."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import math
import shutil
import tempfile
import time
import uuid
from contextlib import asynccontextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Literal

from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, Response
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from data_prep.contracts import DECODERS
from data_prep.preview import png_bytes
from data_prep.rejections import PrepError
from data_prep.video import probe
from lipread.decoding import N_BEST_MAX
from lipread.grammar import Grammar, GrammarError, builtin_names
from lipread.reading_sheet import reading_sheet
from lipread.subtitles import cues as cue_list
from lipread.subtitles import to_srt, to_vtt
from lipread.transcribe import FACES, TranscriptionError, default_model_path
from lipread.transcript import Sentence, Span, TranscriptWord
from serve.enrolment import Enrolment
from serve.enrolment_api import enrolment_router
from serve.errors import STATUS, busy, error, partial_needs_grammar
from serve.limits import Limits
from serve.live_api import LIVE_PROTOCOL, live_router
from serve.schemas import ErrorJSON, TranscriptJSON
from serve.server_state import DEFAULT_MODEL, ServerState
from serve.uploads import UploadRefused, save_upload

log = logging.getLogger("lipread.serve")
access_log = logging.getLogger("lipread.serve.access")
STATIC = Path(__file__).with_name("static")
FORM_OVERHEAD = 64 * 1024  # multipart boundaries and form fields around the file


def create_app(checkpoint: str | Path | None = None, limits: Limits | None = None, device: str = "cpu",
               grammar: str = "default", data_dir: str | Path | None = None,
               adapt_options: dict | None = None) -> FastAPI:  # fmt: skip
    """The service; each upload goes to a private folder under the system's temporary folder.

    ``grammar`` is what a request's ``grammar=default`` means: a grammar file or built-in name,
    ``none``, or ``default`` (the model folder's own choice). With ``data_dir``, users may enrol
    (:mod:`serve.enrolment`): their recordings and personal models live there."""
    limits = limits or Limits()
    path = Path(checkpoint) if checkpoint else default_model_path()
    state = ServerState(path, limits, device, grammar)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        first = await asyncio.get_running_loop().run_in_executor(state.executor, state.load)
        if data_dir is not None:
            state.enrolment = Enrolment(Path(data_dir), path, first.card.crop, adapt_options)
        state.ready = True
        log.info("model %s loaded; %d worker(s), queue %d", path, limits.workers, limits.queue_size)
        yield
        state.executor.shutdown(wait=False, cancel_futures=True)

    # FastAPIOffline serves the /docs page's Swagger UI files from the installed package: no CDN.
    app = FastAPIOffline(
        title="lipread",
        # WebSocket routes are not in OpenAPI: /v1/live's messages are described on the /docs page here
        description="Visual speech recognition: silent video in, text with word timings out.\n\n" + LIVE_PROTOCOL,
        lifespan=lifespan,
        favicon_url="/favicon.ico",
        # every error has the one {"error", "detail"} shape (FastAPI's own 422 body is replaced below)
        responses={code: {"model": ErrorJSON, "description": "an error"} for code in ("4XX", "5XX")},
    )

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError):
        # the same {"error", "detail"} shape as every other error, naming the fields
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'][1:]) or 'body'}: {e['msg']}" for e in exc.errors())
        if request.url.path == "/v1/transcriptions" and any(tuple(e["loc"]) == ("body", "file") for e in exc.errors()):
            problems += " (send the video as the multipart/form-data field 'file')"
        return error(422, "bad_request", problems)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException):
        # Starlette's own 404 and 405 (a wrong path or method) in the same shape, with what to do
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        detail = {
            404: f"no {request.url.path} here; /docs lists the routes",
            405: f"{request.method} is not allowed on {request.url.path}; /docs lists the routes and their methods",
        }.get(exc.status_code, str(exc.detail))
        return error(exc.status_code, code, detail, exc.headers)

    @app.middleware("http")
    async def refuse_large_uploads(request: Request, call_next):
        # Checked before the body is read: FastAPI parses a whole multipart body before the handler runs.
        length = request.headers.get("content-length", "")
        if request.method == "POST" and length.isdigit() and int(length) > limits.max_upload_mb * 2**20 + FORM_OVERHEAD:
            return error(413, "too_large", f"upload exceeds {limits.max_upload_mb:g} MB")
        return await call_next(request)

    @app.middleware("http")
    async def access(request: Request, call_next):
        request.state.id = request.headers.get("x-request-id") or uuid.uuid4().hex[:12]
        request.state.stages = {}
        start = time.perf_counter()
        response = await call_next(request)
        response.headers["x-request-id"] = request.state.id
        access_log.info(json.dumps({
            "request_id": request.state.id, "method": request.method, "path": request.url.path,
            "status": response.status_code, "ms": round(1000 * (time.perf_counter() - start), 1),
            "stages": {k: round(v, 4) for k, v in request.state.stages.items()},
        }))  # fmt: skip
        return response

    @app.get("/healthz")
    async def healthz():
        """The process is up (it may still be loading the model)."""
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz():
        """The model is loaded: 503 until it is."""
        if not state.ready:
            return error(503, "not_ready", "the model is still loading")
        return {"status": "ready"}

    @app.get("/v1/models")
    async def models():
        """The model this server reads with: its words, grammars, decoders, out-of-domain thresholds, limits."""
        transcriber = state.model  # the model is the same in every worker
        card = transcriber.card
        return {
            "name": card.name,
            "path": str(state.model_path),
            "arch": card.arch,
            "alphabet": card.alphabet,
            "crop": card.crop.to_json(),
            "channels": card.channels,
            "input_size": card.input_size,
            "fps": card.fps,
            "decoders": list(DECODERS),
            "decoder_defaults": card.decoder.to_json(),
            "vocabulary_size": len(card.train_words),
            "vocabulary": list(card.train_words),
            "training_sentences": len(card.train_texts),
            "grammars": builtin_names(),
            "default_grammar": state.default_grammar.name if state.default_grammar is not None else None,
            "out_of_domain": transcriber.calibration.to_json(),
            "limits": {
                "max_upload_mb": limits.max_upload_mb,
                "max_duration_s": limits.max_duration_s,
                "live_streams": limits.live_streams,
            },  # fmt: skip
            "enrolment": state.enrolment is not None,
            "personal": state.personal_models(),
        }

    @app.post("/v1/subtitles")
    async def subtitles(request: SubtitleRequest):
        """Words of a transcription (its JSON ``words``, and ``sentences`` to keep cues inside them) as SRT,
        WebVTT or timed cues, without running the model again: the page offers downloads and shows
        phrases with the very writers the CLI uses."""
        words, per, sentences = request.words, request.cues, request.sentences
        if request.format == "srt":
            return PlainTextResponse(to_srt(words, per, sentences), media_type="application/x-subrip")
        if request.format == "vtt":
            return PlainTextResponse(to_vtt(words, per, sentences), media_type="text/vtt")
        return {"cues": [asdict(c) for c in cue_list(words, per, sentences)]}

    @app.post(
        "/v1/transcriptions",
        responses={
            200: {
                "model": TranscriptJSON,
                "description": "format=json: the transcript (docs/formats.md, 'The transcript'); srt and vtt: "
                "subtitles; png: the mouth crop read at each word",
                "content": {"application/x-subrip": {}, "text/vtt": {}, "image/png": {}},
            }
        },
    )
    async def transcriptions(
        request: Request,
        file: UploadFile = File(..., description="a video file"),
        decoder: str = Form("beam"),
        format: str = Form("json", description="json, srt, vtt, or png (the mouth crop read at each word)"),
        cues: str = Form("phrase"),
        faces: str = Form("all", description="all: every face, each talker a track; largest: the largest face only"),
        crops: bool = Form(False, description="include the mouth crop read at each word (PNG, base64)"),
        grammar: str = Form(
            "default",
            description="a built-in grammar (see /v1/models), 'default' for the "
            "model's own, or 'none' for the lexicon + LM; a grammar_file overrides it",
        ),
        grammar_file: UploadFile | None = File(None, description="a grammar text file (README: Grammars)"),
        n_best: int = Form(0, ge=0, le=N_BEST_MAX, description="JSON: the n best sentences with their scores"),
        min_confidence: float = Form(
            0.0, ge=0, le=1, description="leave out phrases read with a lower confidence (JSON lists them in 'dropped')"
        ),
        model: str = Form(
            DEFAULT_MODEL,
            description="'default' (the server's model) or a personal model's name from /v1/models ('personal:USER')",
        ),  # fmt: skip
        start: float = Form(0.0, description="read the video from this second on (times stay the video's own)"),
        end: float | None = Form(None, description="read the video up to this second (default: its end)"),
        partial: bool = Form(
            False,
            description="with a grammar: a phrase cut mid-sentence reads as the part of a sentence it holds, "
            "marked 'partial', instead of the whole sentence that fits it least badly",
        ),  # fmt: skip
    ):
        """Read the lips in an uploaded video: its text, each word's time and face, and how far to trust them."""
        if decoder not in DECODERS:
            return error(400, "bad_option", f"decoder must be one of {', '.join(DECODERS)}")
        if not state.choose_model(model):
            return error(404, "model_not_found", f"no model {model!r}; /v1/models lists the ones this server has")
        try:
            chosen = await state.grammar(grammar, grammar_file)
        except GrammarError as err:
            return error(400, "bad_grammar", str(err))
        if partial and chosen is None:
            return partial_needs_grammar()
        if format not in ("json", "srt", "vtt", "png") or cues not in ("phrase", "word"):
            return error(400, "bad_option", "format must be json, srt, vtt or png; cues phrase or word")
        if faces not in FACES:
            return error(400, "bad_option", f"faces must be one of {', '.join(FACES)}")
        try:
            span = Span.asked(start, end)
        except ValueError as err:
            return error(400, "bad_option", f"start/end: {err}")
        if not state.admit():
            return busy()
        workdir = Path(tempfile.mkdtemp(prefix="lipread-upload-"))
        job = None

        def release() -> None:
            state.leave()
            shutil.rmtree(workdir, ignore_errors=True)

        try:
            upload = workdir / "upload"  # never a client-given name or path
            try:
                await save_upload(file, upload, limits.max_upload_mb)
            except UploadRefused as err:
                return error(err.status, err.code, err.detail)
            try:
                info = probe(upload)
            except PrepError as err:
                return error(
                    STATUS.get(err.reason, 422),
                    err.reason,
                    "not a readable video" if err.reason == "unreadable" else err.detail,
                )
            read = None if info.duration is None else min(info.duration, end or math.inf) - start
            if read is not None and read > limits.max_duration_s:
                what = "video" if span is None else f"the part asked for ({span}) of the video"
                return error(422, "too_long", f"{what} is {read:.1f} s; the limit is {limits.max_duration_s:g} s")
            loop = asyncio.get_running_loop()
            job = loop.run_in_executor(
                state.executor,
                _transcribe,
                state,
                model,
                upload,
                decoder,
                faces,
                chosen,
                n_best,
                min_confidence,
                format == "png" or crops,
                span,
                partial,
            )
            try:
                # shield: a time-out answers the client, but the worker thread cannot be stopped, so the
                # job keeps its queue place and its upload until it really ends (release() below).
                result = await asyncio.wait_for(asyncio.shield(job), timeout=limits.timeout_s)
            except asyncio.TimeoutError:
                return error(504, "timeout", f"transcription took longer than {limits.timeout_s:g} s")
            except TranscriptionError as err:
                return error(STATUS.get(err.code, 422), err.code, err.detail.replace(str(upload), "upload"))
            request.state.stages.update(result.timings)
            if format == "srt":
                return PlainTextResponse(
                    to_srt(result.words, cues, result.sentences), media_type="application/x-subrip"
                )
            if format == "vtt":
                return PlainTextResponse(to_vtt(result.words, cues, result.sentences), media_type="text/vtt")
            if format == "png":  # the mouth the model read at each word, the word under it
                return Response(png_bytes(reading_sheet(result)), media_type="image/png")
            body = result.to_json()
            body["file"] = file.filename or "upload"
            if crops:  # the page shows it under the words
                body["crops_png"] = base64.b64encode(png_bytes(reading_sheet(result))).decode()
            return JSONResponse(body)
        finally:
            await file.close()
            if job is not None and not job.done():
                job.add_done_callback(lambda _: release())
            else:
                release()

    app.include_router(enrolment_router(state))
    app.include_router(live_router(state))

    @app.get("/")
    async def page():
        """The web page: upload or record a video, see the words in time with it."""
        return FileResponse(STATIC / "index.html")

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon():
        return FileResponse(STATIC / "favicon.png", media_type="image/png")

    @app.get("/static/{name}")
    async def static(name: str):
        path = (STATIC / name).resolve()
        if path.parent != STATIC.resolve() or not path.is_file():
            return error(404, "not_found", "no such file")
        return FileResponse(path)

    return app


class SubtitleRequest(BaseModel):
    words: list[TranscriptWord]
    sentences: list[Sentence] = []  # the transcription's: a phrase cue then never runs into the next sentence
    format: Literal["srt", "vtt", "cues"] = "srt"
    cues: Literal["phrase", "word"] = "phrase"


def _transcribe(state: ServerState, model: str, path: Path, decoder: str, faces: str, grammar: Grammar | None, n_best: int,
                min_confidence: float, keep_crops: bool, span: Span | None, partial: bool = False):  # fmt: skip
    transcriber = state.thread_transcriber(model)
    transcriber.grammar = grammar  # this thread's own transcriber: no other request sees it
    transcriber.partial = partial
    return transcriber.transcribe(path, decoder, faces, n_best, min_confidence, keep_crops, span)
