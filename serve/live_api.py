"""``/v1/live``: lip reading over a WebSocket, phrase by phrase (the page's live mode).

The client sends frames as binary messages: 8 bytes of little-endian float64, the frame's time in
seconds on the client's clock, then a JPEG or PNG image. It may send ``{"type": "stop"}`` as text to
end the stream; the server then reads the last phrase, sends ``end`` and closes. The server sends JSON
text messages:

- ``{"type": "ready", "model", "fps", "max_waiting_frames", "max_yaw", "max_pitch"}`` once, first
  (``max_yaw``, ``max_pitch``: the degrees a face may be turned from the camera, or tilted up or down,
  before its phrases are called out of domain);
- ``{"type": "phrase", "text", "words", "sentences", "start", "end", "latency", "track", "confidence",
  "out_of_domain", "reason", "dropped", "partial"}`` as each phrase is read (times in stream seconds, from the first
  frame; ``sentences``: each sentence of the phrase with its own times, as in a transcription's JSON);
- ``{"type": "status", "frames", "received", "dropped", "bad_frames", "face", "yaw", "pitch", "crop"}``
  about twice a second: frames read at 25 fps, frames received, dropped because the reader was
  behind, not decodable; whether a face is in view; how far the largest face is turned from the
  camera and tilted up (+) or down (degrees, ``data_prep.head_pose``; null before a face is
  followed); the newest mouth crop as a
  ``data:image/jpeg`` URL, or null;
- ``{"type": "error", "error", "detail"}`` for a frame that is not an image (the stream goes on);
- ``{"type": "end", "frames", "received", "dropped", "bad_frames"}`` last.

Query parameters: ``decoder``, ``grammar`` (a built-in name, ``default`` or ``none``), ``model``
(``default`` or ``personal:USER``), ``min_confidence`` (0-1, default 0: a phrase read with less
confidence still comes, with ``"dropped": true``, for the client to leave out), ``partial``
(``true``: a phrase cut mid-sentence reads as the part of a sentence it holds). A bad one is
refused with 400 (404 for an unknown model), like the HTTP API; when ``--live-streams`` streams run already, with 503 and Retry-After.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import struct
import threading
import time
from collections.abc import Iterator

import cv2
import numpy as np
from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from data_prep.contracts import DECODERS
from lipread.grammar import Grammar, GrammarError
from lipread.live import LiveFrame, LiveReader, read_stream
from lipread.live_sources import FEED_CAPACITY, FrameFeed, frame_from_rgb
from serve.errors import error, partial_needs_grammar
from serve.server_state import ServerState

log = logging.getLogger("lipread.serve.live")
#: The message format, for the /docs page (OpenAPI has no WebSocket routes).
LIVE_PROTOCOL = "## Live: WebSocket `/v1/live`\n\n" + __doc__.split("\n", 2)[2]
HEADER = struct.Struct("<d")
#: Frames between two status messages (about half a second at 25 fps).
STATUS_EVERY = 12
#: Largest frame message accepted, in bytes (a 1080p JPEG is well under).
MAX_FRAME_BYTES = 4 * 2**20


def live_router(state: ServerState) -> APIRouter:
    """``/v1/live``: each stream gets a reader of its own (face tracker, decoders), made on its own thread."""
    router = APIRouter()
    limits = state.limits

    @router.websocket("/v1/live")
    async def live(websocket: WebSocket, decoder: str = "beam", grammar: str = "default", model: str = "default",
                   min_confidence: float = 0.0, partial: bool = False):  # fmt: skip
        if decoder not in DECODERS:
            return await websocket.send_denial_response(
                error(400, "bad_option", f"decoder must be one of {', '.join(DECODERS)}")
            )
        if not 0.0 <= min_confidence <= 1.0:
            return await websocket.send_denial_response(
                error(400, "bad_option", f"min_confidence must be between 0 and 1, not {min_confidence:g}")
            )
        if not state.ready:
            return await websocket.send_denial_response(error(503, "not_ready", "the model is still loading"))
        if not state.choose_model(model):
            return await websocket.send_denial_response(
                error(404, "model_not_found", f"no model {model!r}; /v1/models lists the ones this server has")
            )
        try:
            chosen = await state.grammar(grammar, None)
        except GrammarError as err:
            return await websocket.send_denial_response(error(400, "bad_grammar", str(err)))
        if partial and chosen is None:
            return await websocket.send_denial_response(partial_needs_grammar())
        if state.live >= limits.live_streams:
            return await websocket.send_denial_response(
                error(
                    503,
                    "busy",
                    f"{limits.live_streams} live stream(s) run already; try again shortly",
                    {"Retry-After": "5"},
                )  # fmt: skip
            )
        state.live += 1
        loop = asyncio.get_running_loop()
        outbox: asyncio.Queue = asyncio.Queue()
        feed = FrameFeed(drop=True)

        def send(message: dict) -> None:
            loop.call_soon_threadsafe(outbox.put_nowait, message)

        def free_place() -> None:
            state.live -= 1

        def release(last: dict | None) -> None:
            # the place is freed on the loop before the last message is queued, so a client that has
            # read "end" can open its next stream at once
            loop.call_soon_threadsafe(free_place)
            if last is not None:
                send(last)
            send({"type": "_done"})

        worker = threading.Thread(
            target=_stream, args=(state, model, chosen, decoder, min_confidence, partial, feed, send, release), daemon=True,
            name="lipread-live",
        )  # fmt: skip
        await websocket.accept()
        worker.start()
        sender = asyncio.create_task(_send_all(websocket, outbox))
        try:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    break
                if message.get("bytes") is not None:
                    feed.put((message["bytes"], time.monotonic()))
                elif message.get("text") is not None and _is_stop(message["text"]):
                    feed.end()
                    await sender  # the last phrases, then "end", then the close
                    return
        except WebSocketDisconnect:
            pass
        finally:
            feed.close()  # a client that went away: the reader stops at its next frame
            if not sender.done():
                sender.cancel()

    return router


def _is_stop(text: str) -> bool:
    try:
        return json.loads(text).get("type") == "stop"
    except (ValueError, AttributeError):
        return False


async def _send_all(websocket: WebSocket, outbox: asyncio.Queue) -> None:
    """Send the worker's messages in order until it is done, then close the socket."""
    while True:
        message = await outbox.get()
        if message["type"] == "_done":
            break
        try:
            await websocket.send_text(json.dumps(message))
        except (RuntimeError, WebSocketDisconnect):
            return
    try:
        await websocket.close()
    except RuntimeError:
        pass


def _stream(state: ServerState, model: str, grammar: Grammar | None, decoder: str, min_confidence: float, partial: bool,
            feed: FrameFeed, send, release) -> None:  # fmt: skip
    """One stream's reader, on a thread of its own."""
    counts = {"bad_frames": 0}
    transcriber = None
    last: dict | None = None
    try:
        transcriber = state.new_transcriber(model)
        transcriber.grammar, transcriber.partial = grammar, partial
        send({"type": "ready", "model": transcriber.name, "fps": transcriber.fps, "max_waiting_frames": FEED_CAPACITY,
              "max_yaw": transcriber.calibration.max_yaw, "max_pitch": transcriber.calibration.max_pitch})  # fmt: skip
        reader = LiveReader(transcriber, decoder, min_confidence)

        def status(reader: LiveReader) -> None:
            if reader.count % STATUS_EVERY == 0:
                pose = reader.latest_pose
                angles = (
                    {"yaw": None, "pitch": None}
                    if pose is None
                    else {k: round(v, 1) for k, v in pose._asdict().items()}
                )
                send({"type": "status", **_counts(reader, feed, counts), "face": reader.face_seen, **angles,
                      "crop": _jpeg_url(reader.latest_crop)})  # fmt: skip

        for phrase in read_stream(reader, _frames(feed, send, counts), status):
            send({"type": "phrase", **phrase.to_json()})
        last = {"type": "end", **_counts(reader, feed, counts)}
    except Exception:  # the stream's own failure must not reach the server
        log.exception("live stream failed")
        last = {"type": "error", "error": "internal", "detail": "the stream failed; see the server's log"}
    finally:
        if transcriber is not None:
            transcriber.close()
        release(last)


def _frames(feed: FrameFeed, send, counts: dict) -> Iterator[tuple[float, LiveFrame]]:
    """The feed's frames decoded, times from the first frame; a frame that is not an image is reported and skipped."""
    first = None
    last = -1.0
    for raw, arrival in feed:
        image = _decode(raw)
        if image is None:
            counts["bad_frames"] += 1
            if counts["bad_frames"] <= 3 or counts["bad_frames"] % 100 == 0:
                send({"type": "error", "error": "bad_frame", "detail": f"frame {feed.received}: expected 8 bytes of "
                      "float64 time, then a JPEG or PNG image"})  # fmt: skip
            continue
        stamp, rgb = image
        first = stamp if first is None else first
        t = stamp - first
        if t <= last:  # out of order or repeated: a stream's time only moves on
            continue
        last = t
        yield t, frame_from_rgb(rgb, arrival)


def _decode(raw: bytes) -> tuple[float, np.ndarray] | None:
    if len(raw) <= HEADER.size or len(raw) > MAX_FRAME_BYTES:
        return None
    (stamp,) = HEADER.unpack_from(raw)
    if not np.isfinite(stamp):
        return None
    bgr = cv2.imdecode(np.frombuffer(raw, np.uint8, offset=HEADER.size), cv2.IMREAD_COLOR)
    if bgr is None or bgr.shape[0] < 16 or bgr.shape[1] < 16:
        return None
    return stamp, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _counts(reader: LiveReader, feed: FrameFeed, counts: dict) -> dict:
    return {
        "frames": reader.count,
        "received": feed.received,
        "dropped": feed.dropped,
        "bad_frames": counts["bad_frames"],
    }


def _jpeg_url(crop: np.ndarray | None) -> str | None:
    if crop is None:
        return None
    ok, data = cv2.imencode(".jpg", cv2.cvtColor(crop, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 80])
    return "data:image/jpeg;base64," + base64.b64encode(data.tobytes()).decode() if ok else None
