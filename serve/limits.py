"""What the service accepts, each limit configurable from the command line."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Limits:
    max_upload_mb: float = 50.0  # 413 above
    max_duration_s: float = 120.0  # 422 above
    queue_size: int = 8  # requests waiting for a worker; 503 + Retry-After beyond
    workers: int = 1  # transcriptions at once
    timeout_s: float = 120.0  # 504 when a transcription takes longer
    live_streams: int = 2  # /v1/live streams at once; 503 beyond (each keeps about a core busy)
