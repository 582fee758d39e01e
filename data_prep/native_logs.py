"""Keep the native libraries' log lines (mediapipe, TensorFlow Lite, absl/glog) off the terminal.

Those lines are written by C++ straight to file descriptor 2, in this process and in prep's worker
processes, from threads Python does not know about; no Python logging setting or environment
variable stops all of them. So the process's descriptor 2 is replaced by a pipe, and a thread copies
what comes through it to the real stderr, leaving out lines in the native libraries' formats. Worker
processes inherit the pipe, so their lines are filtered too. Partial lines (progress bars end in
``\\r``) pass at once; the filter drops a native line from its start to its end, also when it was
written straight after another writer's unfinished line.
"""

from __future__ import annotations

import atexit
import os
import re
import select
import sys
import threading

#: glog/absl ("W0000 00:00:1795504408.672756 2564 file.cc:114] ..."), TFLite's "INFO: Created
#: TensorFlow Lite ..." (seen after a progress bar without its "INFO: "), absl's pre-init warning,
#: and mediapipe's "I0000 ..." lines.
NATIVE_LINE = re.compile(
    rb"(?:[IWEF]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ [\w./-]+:\d+\]"
    rb"|(?:INFO: )?Created TensorFlow Lite"
    rb"|WARNING: All log messages before absl::InitializeLog\(\) is called"
    rb"|(?:INFO|WARNING): .*(?:TfLite|XNNPACK|delegate))"
)

_installed: dict[str, object] = {}


def quiet_native_stderr() -> None:
    """Filter native log lines out of this process's stderr (and its children's) until exit."""
    if _installed or os.environ.get("LIPREAD_NATIVE_LOGS") == "1":
        return
    try:
        real = os.dup(2)
        read_end, write_end = os.pipe()
    except OSError:
        return
    sys.stderr.flush()
    os.dup2(write_end, 2)
    os.close(write_end)
    thread = threading.Thread(target=_copy, args=(read_end, real), name="native-log-filter", daemon=True)
    thread.start()
    _installed.update(real=real, thread=thread)
    atexit.register(_restore)


def stderr_is_terminal() -> bool:
    """Whether what this process writes to stderr reaches a terminal (the real stderr's, when the
    filter has put a pipe in its place): progress bars are for people, not for log files."""
    real = _installed.get("real")
    try:
        return os.isatty(real) if isinstance(real, int) else sys.stderr.isatty()
    except (OSError, ValueError):
        return False


def _copy(read_end: int, real: int) -> None:
    pending = b""
    while True:
        ready, _, _ = select.select([read_end], [], [], 0.05 if pending else None)
        if not ready:  # a partial line sat for 50 ms: a progress bar or a prompt, show it
            _write(real, pending)
            pending = b""
            continue
        chunk = os.read(read_end, 65536)
        if not chunk:
            _write(real, pending)
            os.close(read_end)
            return
        pending += chunk
        pieces = re.split(rb"(?<=[\n\r])", pending)
        pending = pieces.pop()  # the unfinished tail (b"" when the chunk ended a line)
        _write(real, b"".join(_without_native(p) for p in pieces))


def _without_native(piece: bytes) -> bytes:
    """A line with its native log line cut out. The native line may follow another writer's
    unfinished line (a progress bar shown after 50 ms, then a worker's log line): that part stays."""
    found = NATIVE_LINE.search(piece)
    return piece if found is None else piece[: found.start()]


def _write(fd: int, data: bytes) -> None:
    while data:
        try:
            data = data[os.write(fd, data) :]
        except OSError:
            return


def _restore() -> None:
    """Put the real stderr back and let the filter thread finish what is in the pipe."""
    real = _installed.get("real")
    if real is None:
        return
    try:
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    os.dup2(real, 2)  # the pipe's last write end closes: the thread reads to the end and stops
    _installed["thread"].join(timeout=2)
    _installed.clear()
