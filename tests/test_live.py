"""Live lip reading: ``lipread live`` on a video played in real time, and ``/v1/live`` on a real server
fed at 25 fps by a WebSocket client (and by headless Chromium's fake camera): phrases arrive in order
as they end, their words are the offline transcript's, a bad client leaves the server healthy."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest
from test_enrolment import CHROMEDRIVER, CHROMIUM, fake_camera_chromium, write_y4m
from test_serve import start_server

from conftest import EXAMPLE, ROOT, clip_path, frames_of, write_video
from data_prep.video import iter_frames

pytestmark = pytest.mark.slow  # real models, face tracking, servers and a browser
CLIPS = ["bbaf2n", "bbaf4p", "bbal6n", "bbas2p"]  # four s1 sentences joined: 12 s
LATENCY_FLOOR = 1.5  # seconds, the p95


@pytest.fixture(scope="module")
def joined(tmp_path_factory) -> Path:
    frames = np.concatenate([frames_of(clip_path(n))[:75] for n in CLIPS])
    return write_video(tmp_path_factory.mktemp("live") / "joined.mp4", frames)


@pytest.fixture(scope="module")
def offline_words(joined: Path) -> list[tuple]:
    done = subprocess.run([sys.executable, "-m", "lipread.cli", "transcribe", str(joined), "-f", "json"],
                          capture_output=True, text=True, timeout=600, cwd=ROOT)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return [(w["word"], w["start"], w["end"]) for w in json.loads(done.stdout)["words"]]


def words_of(phrases: list[dict]) -> list[tuple]:
    return [(w["word"], w["start"], w["end"]) for p in phrases for w in p["words"]]


def test_live_cli_prints_each_phrase_as_it_ends(joined: Path, offline_words: list[tuple]):
    proc = subprocess.Popen([sys.executable, "-m", "lipread.cli", "live", str(joined), "--realtime", "-f", "jsonl"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)  # fmt: skip
    phrases, printed_at = [], []
    for line in proc.stdout:
        phrases.append(json.loads(line))
        printed_at.append(time.monotonic())
    assert proc.wait(timeout=120) == 0
    summary = proc.stderr.read()
    assert len(phrases) == len(CLIPS), summary
    assert [p["start"] for p in phrases] == sorted(p["start"] for p in phrases)
    assert all(p["end"] <= q["start"] for p, q in zip(phrases, phrases[1:]))
    assert words_of(phrases) == offline_words  # the same words, at the same times, as `lipread transcribe`
    assert all(0 < p["latency"] < LATENCY_FLOOR for p in phrases), [p["latency"] for p in phrases]
    assert printed_at[-1] - printed_at[0] > 6  # printed while the video played, not all at its end
    assert "(0 of 300 source frames dropped)" in summary


# ---------------------------------------------------------------- /v1/live


@pytest.fixture(scope="module")
def live_server(tmp_path_factory):
    base, proc = start_server(tmp_path_factory.mktemp("live_server"), "--live-streams", "1")
    yield base
    proc.terminate()
    proc.wait(timeout=30)


class LiveClient:
    """A WebSocket client of /v1/live that collects the server's messages on a thread."""

    def __init__(self, base: str, query: str = ""):
        import websocket

        self.ws = websocket.create_connection(base.replace("http://", "ws://") + "/v1/live" + query, timeout=60)
        self.messages: list[dict] = []
        self.received_at: list[float] = []
        self.reader = threading.Thread(target=self._receive, daemon=True)
        self.reader.start()

    def _receive(self) -> None:
        while True:
            try:
                text = self.ws.recv()
            except Exception:
                return
            if not text:
                return
            self.messages.append(json.loads(text))
            self.received_at.append(time.monotonic())
            if self.messages[-1]["type"] == "end":
                return

    def send_frames(self, frames: list[tuple[float, bytes]], fps: float = 25.0) -> None:
        """Send ``(time, encoded image)`` frames at their own pace."""
        begun = time.monotonic()
        for t, data in frames:
            time.sleep(max(0.0, begun + t - time.monotonic()))
            self.ws.send_binary(struct.pack("<d", t) + data)

    def stop(self) -> list[dict]:
        self.ws.send(json.dumps({"type": "stop"}))
        self.reader.join(120)
        self.ws.close()
        return self.messages

    def of_type(self, kind: str) -> list[dict]:
        return [m for m in self.messages if m["type"] == kind]


def connect_when_free(base: str, query: str = "", wait: float = 30) -> LiveClient:
    """A client, once the one stream place this server has is free again."""
    deadline = time.monotonic() + wait
    while True:
        try:
            return LiveClient(base, query)
        except Exception:
            assert time.monotonic() < deadline, "the stream's place was never freed"
            time.sleep(0.5)


def png_frames(path: Path) -> list[tuple[float, bytes]]:
    """A video's frames with their times, each a PNG: lossless, so the server sees the file's pixels."""
    return [
        (t, cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))[1].tobytes()) for t, rgb in iter_frames(path)
    ]


def test_websocket_reads_phrases_as_they_end_and_health_stays_quick(live_server: str, joined: Path,
                                                                     offline_words: list[tuple]):  # fmt: skip
    frames = png_frames(joined)
    health: list[float] = []
    streaming = threading.Event()

    def poll_health() -> None:
        while streaming.is_set():
            begun = time.monotonic()
            assert httpx.get(f"{live_server}/healthz", timeout=10).json() == {"status": "ok"}
            health.append(time.monotonic() - begun)
            time.sleep(0.2)

    client = LiveClient(live_server)
    streaming.set()
    poller = threading.Thread(target=poll_health, daemon=True)
    poller.start()
    client.send_frames(frames)
    streaming.clear()
    poller.join(30)
    messages = client.stop()
    assert messages[0]["type"] == "ready" and messages[-1]["type"] == "end"
    phrases = client.of_type("phrase")
    assert [p["start"] for p in phrases] == sorted(p["start"] for p in phrases) and len(phrases) == len(CLIPS)
    assert words_of(phrases) == offline_words
    assert all(0 < p["latency"] < LATENCY_FLOOR for p in phrases), [p["latency"] for p in phrases]
    end = messages[-1]
    assert end["received"] == len(frames) and end["dropped"] == 0 and end["bad_frames"] == 0
    statuses = client.of_type("status")
    assert statuses and all(s["face"] for s in statuses[1:])
    yaws = [s["yaw"] for s in statuses if s["yaw"] is not None]
    assert yaws and all(abs(y) < messages[0]["max_yaw"] for y in yaws), yaws  # GRID speakers face the camera
    pitches = [s["pitch"] for s in statuses if s["pitch"] is not None]
    assert len(pitches) == len(yaws) and all(abs(p) < messages[0]["max_pitch"] / 2 for p in pitches), pitches
    assert statuses[-1]["crop"].startswith("data:image/jpeg;base64,")
    assert len(health) > 20 and max(health) < 1.0, max(health)


def test_a_face_turned_away_says_so_in_the_status_and_the_phrase(live_server: str, turned_example: Path):
    client = LiveClient(live_server)
    client.send_frames(png_frames(turned_example))
    messages = client.stop()
    limit = messages[0]["max_yaw"]
    yaws = [s["yaw"] for s in client.of_type("status") if s["yaw"] is not None]
    assert yaws and yaws[-1] < -limit, yaws
    phrases = client.of_type("phrase")
    assert phrases and all(p["out_of_domain"] and p["reason"].startswith("the face is turned ") for p in phrases)


def test_a_stream_beyond_the_limit_is_refused_with_503(live_server: str, joined: Path):
    import websocket

    first = LiveClient(live_server)
    first.send_frames(png_frames(joined)[:5])
    with pytest.raises(websocket.WebSocketBadStatusException) as refused:
        websocket.create_connection(live_server.replace("http://", "ws://") + "/v1/live", timeout=30)
    assert refused.value.status_code == 503
    assert json.loads(refused.value.resp_body)["error"] == "busy"
    assert first.stop()[-1]["type"] == "end"
    assert LiveClient(live_server).stop()[-1]["type"] == "end"  # a client that has read "end" may open the next at once
    with pytest.raises(websocket.WebSocketBadStatusException) as bad:
        websocket.create_connection(live_server.replace("http://", "ws://") + "/v1/live?model=personal:nobody")
    assert bad.value.status_code == 404
    with pytest.raises(websocket.WebSocketBadStatusException) as bad:
        websocket.create_connection(live_server.replace("http://", "ws://") + "/v1/live?min_confidence=1.5")
    assert bad.value.status_code == 400 and "min_confidence must be between 0 and 1" in bad.value.resp_body.decode()
    with pytest.raises(websocket.WebSocketBadStatusException) as bad:
        websocket.create_connection(live_server.replace("http://", "ws://") + "/v1/live?partial=true&grammar=none")
    assert bad.value.status_code == 400 and "needs a grammar" in bad.value.resp_body.decode()


def test_a_stream_that_stops_mid_sentence_reads_the_part_said_with_partial(live_server: str):
    """The camera is switched off after "lay green": with ``partial`` the last phrase is that part,
    marked; without, the grammar completes it with words nobody said."""
    said = png_frames(EXAMPLE)[:30]  # 1.2 s of "lay green at f six please"
    readings = {}
    for query in ("?partial=true", ""):
        client = connect_when_free(live_server, query)
        client.send_frames(said)
        readings[query] = client.stop() and client.of_type("phrase")
    (part,), (whole,) = readings["?partial=true"], readings[""]
    assert part["partial"] is True and part["text"].startswith("lay green") and len(part["text"].split()) < 6
    assert whole["partial"] is False and len(whole["text"].split()) == 6 and whole["out_of_domain"] is True


def test_garbage_and_a_client_gone_mid_phrase_leave_the_server_healthy(live_server: str, joined: Path):
    frames = png_frames(joined)
    client = LiveClient(live_server)
    client.ws.send_binary(b"not a frame")
    client.ws.send_binary(struct.pack("<d", 0.0) + b"\xff\xd8 not a jpeg either")
    client.send_frames(frames[:40])  # into the first sentence
    client.ws.sock.close()  # gone without a word
    deadline = time.monotonic() + 5
    while not client.of_type("error") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [m["error"] for m in client.of_type("error")][:2] == ["bad_frame", "bad_frame"]
    assert httpx.get(f"{live_server}/healthz", timeout=10).json() == {"status": "ok"}
    again = connect_when_free(live_server)  # the stream's place is free again once its reader has stopped
    again.send_frames(frames[:75])
    phrases = [m for m in again.stop() if m["type"] == "phrase"]
    assert len(phrases) == 1 and len(phrases[0]["words"]) == 6 and phrases[0]["dropped"] is False
    # a threshold no reading reaches: the phrase still comes, marked for the client to leave out
    strict = connect_when_free(live_server, "?min_confidence=1")
    strict.send_frames(frames[:75])
    phrases = [m for m in strict.stop() if m["type"] == "phrase"]
    assert len(phrases) == 1 and phrases[0]["dropped"] is True and phrases[0]["confidence"] < 1


@pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER), reason="no Debian chromium + chromium-driver on this machine")
def test_live_page_with_a_fake_camera(live_server: str, joined: Path, tmp_path: Path):
    """The page's live mode in headless Chromium whose camera plays the joined sentences."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver = fake_camera_chromium(write_y4m(tmp_path / "camera.y4m", frames_of(joined)))
    wait = WebDriverWait(driver, 90)
    try:
        driver.get(live_server + "/")
        driver.find_element(By.ID, "live-start").click()
        wait.until(lambda d: d.find_element(By.ID, "live-face").text == "Face in view")
        wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#live-text .phrase")) >= 2)
        first = driver.find_elements(By.CSS_SELECTOR, "#live-text .phrase")[0].text
        assert len(first.split()) == 8, first  # "0.1-2.7 s" and a six-word GRID sentence
        assert driver.find_element(By.ID, "live-crop").get_attribute("src").startswith("data:image/jpeg")
        assert "frames read" in driver.find_element(By.ID, "live-stats").text
        driver.find_element(By.ID, "live-stop").click()
        wait.until(lambda d: d.find_element(By.ID, "live-face").text.startswith("Stopped"))
    finally:
        driver.quit()


@pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER), reason="no Debian chromium + chromium-driver on this machine")
def test_live_page_reads_a_part_of_a_sentence_with_the_switch_on(live_server: str, tmp_path: Path):
    """The page's "parts of sentences" switch goes with its live stream: a camera that says "lay green"
    and then rests reads as that part, marked as one, not as a whole sentence with words nobody said."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    said = frames_of(EXAMPLE)
    camera = np.concatenate([said[:30], np.repeat(said[:1], 45, 0)])  # 1.2 s of the sentence, 1.8 s of rest
    driver = fake_camera_chromium(write_y4m(tmp_path / "camera.y4m", camera))
    try:
        driver.get(live_server + "/")
        driver.find_element(By.ID, "partial").click()
        driver.find_element(By.ID, "live-start").click()
        WebDriverWait(driver, 90).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#live-text .phrase"))
        line = driver.find_elements(By.CSS_SELECTOR, "#live-text .phrase")[0].text  # "0.5-1.3 s lay green at (...)"
        assert line.endswith(" (part of a sentence)"), line
        words = line.split(" s ", 1)[1].removesuffix(" (part of a sentence)").removesuffix(" (?)").split()
        assert words[:2] == ["lay", "green"] and len(words) < 6, line
        driver.find_element(By.ID, "live-stop").click()
    finally:
        driver.quit()


@pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER), reason="no Debian chromium + chromium-driver on this machine")
@pytest.mark.parametrize("held, said", [("turned", "Face turned "), ("tilted", "Face tilted ")])
def test_live_page_asks_a_face_turned_or_tilted_away_to_face_the_camera(
    live_server: str, held: str, said: str, request: pytest.FixtureRequest, tmp_path: Path
):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    video = request.getfixturevalue(f"{held}_example")
    driver = fake_camera_chromium(write_y4m(tmp_path / "camera.y4m", frames_of(video)))
    try:
        driver.get(live_server + "/")
        driver.find_element(By.ID, "live-start").click()
        hint = lambda d: d.find_element(By.ID, "live-face")  # noqa: E731
        WebDriverWait(driver, 90).until(lambda d: hint(d).text.startswith(said))
        ending = " away: face the camera" if held == "turned" else " down: face the camera"
        assert hint(driver).text.endswith(ending) and hint(driver).get_attribute("class") == "noface"
        driver.find_element(By.ID, "live-stop").click()
    finally:
        driver.quit()
