"""``lipread serve``: the HTTP API and web page on uvicorn."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from serve.limits import Limits


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    parser = parser or argparse.ArgumentParser(prog="lipread serve")
    parser.description = "Serve transcription over HTTP (POST /v1/transcriptions) and a web page at /."
    d = Limits()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--checkpoint", type=Path, help="model folder or .ckpt (default: the shipped GRID model)")
    parser.add_argument("--workers", type=int, default=d.workers, help="transcriptions at once (threads)")
    parser.add_argument("--queue-size", type=int, default=d.queue_size, help="waiting requests before 503")
    parser.add_argument("--max-upload-mb", type=float, default=d.max_upload_mb)
    parser.add_argument("--max-duration", type=float, default=d.max_duration_s, help="seconds of video")
    parser.add_argument("--timeout", type=float, default=d.timeout_s, help="seconds per transcription")
    parser.add_argument("--device", default="cpu")
    return parser


def run(args: argparse.Namespace) -> int:
    import uvicorn

    from serve.app import create_app

    limits = Limits(args.max_upload_mb, args.max_duration, args.queue_size, args.workers, args.timeout)
    app = create_app(args.checkpoint, limits, args.device)
    logging.getLogger("lipread.serve.access").setLevel(logging.INFO)
    uvicorn.run(app, host=args.host, port=args.port, log_level="info", access_log=False)
    return 0
