"""Why an input produced no clip: one ``rejected.jsonl`` line per utterance."""

from __future__ import annotations

from dataclasses import asdict, dataclass

#: Every reason code prep can give, with what it means (shown in the end-of-run summary and README).
REASONS = {
    "unreadable": "the file could not be opened or decoded",
    "truncated": "the file ends before its stated duration or before its transcript's last word",
    "no_video_stream": "the file has no video stream",
    "too_few_frames": "fewer frames than --min-frames",
    "no_face": "no face in too many frames, or a gap longer than --max-gap",
    "face_too_small": "the mouth is smaller than --min-mouth-width pixels",
    "face_turned_away": "the face is turned further from the camera than --max-yaw degrees, or tilted further "
    "up or down than --max-pitch",
    "missing_transcript": "no transcript found for the video",
    "unreadable_transcript": "the transcript file could not be parsed",
    "empty_transcript": "the transcript is empty",
    "bad_characters": "the transcript has characters outside the alphabet",
    "cue_outside_video": "the cue's times (or transcription's --start) lie outside the video",
    "missing_video": "a manifest row names a video that does not exist",
    "duplicate_id": "two inputs map to the same utterance id",
    "error": "an unexpected error or a worker that died (the next run tries again; if it recurs, a bug: "
    "please report it with the detail)",
}
#: Reasons that say nothing final about the input (a worker killed, say by the out-of-memory killer,
#: or a bug): a later run of the same build tries those inputs again; the others stay rejected
#: unless asked (``--retry-rejected``).
RETRIED = frozenset({"error"})


@dataclass
class Rejection:
    id: str
    source: str
    reason: str
    detail: str

    def to_json(self) -> dict:
        return asdict(self)


class PrepError(Exception):
    """A per-utterance failure with a reason code from :data:`REASONS`."""

    def __init__(self, reason: str, detail: str):
        if reason not in REASONS:
            raise ValueError(f"unknown rejection reason {reason!r}; add it to REASONS")
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
