"""The dataset folder on disk: its manifest and rejection logs, crash-safe and resumable.

While building, both logs are append-only and every line is flushed to disk after its clip has
been renamed into place, so a line never points at a missing or partial clip. On open, a torn last
line (from kill -9) is dropped; at the end of a run the logs are rewritten sorted by id, so an
interrupted-and-resumed run ends with the same files as an uninterrupted one.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from data_prep.rejections import RETRIED

log = logging.getLogger(__name__)

MANIFEST = "manifest.jsonl"
REJECTED = "rejected.jsonl"
META = "meta.json"
CLIPS = "clips"
SHARDS = "shards"


def read_jsonl(path: Path) -> list[dict]:
    """Parse a JSON-lines file, dropping torn or unparsable lines (with a warning)."""
    if not path.exists():
        return []
    records = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            log.warning("%s:%d: dropping a torn line (interrupted write)", path, number)
    return records


def write_jsonl(path: Path, records: list[dict]) -> None:
    """Replace ``path`` atomically with ``records``, one JSON object a line."""
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        for record in records:
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def recorded(dataset: Path, log_dir: Path, retry_rejected: bool = False) -> tuple[dict[str, dict], dict[str, dict]]:
    """What earlier runs of a build finished: its manifest lines whose clip is on disk, and (unless
    they are to be tried again: all with ``retry_rejected``, else those of a :data:`RETRIED` reason)
    its rejections of the other ids, each by id."""
    entries = {e["id"]: e for e in read_jsonl(log_dir / MANIFEST) if (dataset / e["clip"]).is_file()}
    rejected = [] if retry_rejected else read_jsonl(log_dir / REJECTED)
    return entries, {r["id"]: r for r in rejected if r["id"] not in entries and r["reason"] not in RETRIED}


class BuildLog:
    """The manifest and rejection log of one build (a dataset folder or one shard of it)."""

    def __init__(self, dataset: Path, log_dir: Path, retry_rejected: bool = False):
        self.dataset = dataset
        self.log_dir = log_dir
        log_dir.mkdir(parents=True, exist_ok=True)
        self.manifest_path = log_dir / MANIFEST
        self.rejected_path = log_dir / REJECTED
        self._remove_stale_temporaries()

        self.entries, self.rejected = recorded(dataset, log_dir, retry_rejected)
        # Rewrite now if anything was dropped, so appends continue from a clean file.
        write_jsonl(self.manifest_path, list(self.entries.values()))
        write_jsonl(self.rejected_path, list(self.rejected.values()))
        self._manifest = self.manifest_path.open("a", encoding="utf-8")
        self._rejected = self.rejected_path.open("a", encoding="utf-8")

    def _remove_stale_temporaries(self) -> None:
        clips = self.dataset / CLIPS
        if clips.is_dir():
            for tmp in clips.rglob(".*.tmp*.mp4"):
                tmp.unlink(missing_ok=True)

    def done(self, utterance_id: str) -> bool:
        return utterance_id in self.entries or utterance_id in self.rejected

    def add_entry(self, entry: dict) -> None:
        self.entries[entry["id"]] = entry
        self.rejected.pop(entry["id"], None)
        _append(self._manifest, entry)

    def add_rejection(self, rejection: dict) -> None:
        if rejection["id"] in self.rejected:
            return
        self.rejected[rejection["id"]] = rejection
        _append(self._rejected, rejection)

    def finish(self) -> None:
        """Close the logs and rewrite them sorted by id (deterministic final output)."""
        self.close()
        write_jsonl(self.manifest_path, [self.entries[k] for k in sorted(self.entries)])
        write_jsonl(self.rejected_path, [self.rejected[k] for k in sorted(self.rejected)])

    def close(self) -> None:
        for fh in (self._manifest, self._rejected):
            if not fh.closed:
                fh.close()


def _append(fh, record: dict) -> None:
    fh.write(json.dumps(record, ensure_ascii=False) + "\n")
    fh.flush()
    os.fsync(fh.fileno())
