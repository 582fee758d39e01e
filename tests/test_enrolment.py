"""Enrolment on a real server: prompts from the grammar, recordings checked as they arrive (a real
speaker's clips pass; no face, darkness and a too-short take are refused with their reason), a
personal model adapted in the background that then appears in /v1/models and transcribes."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from test_serve import start_server

from conftest import DATA, align_text, frames_of, write_video

pytestmark = pytest.mark.slow  # a real server, mediapipe and a fine-tune on CPU
S26 = sorted((DATA / "grid_s26" / "s26").glob("*.mp4"))


@pytest.fixture(scope="module")
def enrol_server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("enrol")
    base, proc = start_server(tmp, "--workers", "1", "--data-dir", str(tmp / "users"), "--adapt-epochs", "1")
    yield base, tmp / "users"
    proc.terminate()
    proc.wait(timeout=30)


def record(base: str, user: str, path: Path, text: str, rec: str) -> httpx.Response:
    return httpx.post(f"{base}/v1/enrol/{user}/recordings", files={"file": (path.name, path.read_bytes())},
                      data={"text": text, "id": rec}, timeout=120)  # fmt: skip


def test_prompts_are_sentences_of_the_models_grammar(enrol_server) -> None:
    from lipread.grammar import load

    base, _ = enrol_server
    body = httpx.get(f"{base}/v1/enrol/prompts", params={"count": 8}).json()
    assert body["source"] == "grammar grid" and len(body["prompts"]) == 8
    grid = load("grid")
    assert all(grid.allows(p) for p in body["prompts"])
    assert len(set(body["prompts"])) == 8
    colours = {p.split()[1] for p in body["prompts"]}
    assert colours == {"blue", "green", "red", "white"}  # prompts spread over every alternative


def test_bad_recordings_are_refused_with_their_reason(enrol_server, tmp_path: Path) -> None:
    base, users = enrol_server
    rng = np.random.default_rng(0)
    no_face = write_video(tmp_path / "wall.mp4", rng.integers(90, 160, (60, 120, 160, 3), dtype=np.uint8))
    dark = write_video(tmp_path / "dark.mp4", frames_of(S26[0]) // 12)
    short = write_video(tmp_path / "short.mp4", frames_of(S26[0])[:15])
    cases = [(no_face, "no_face", "no face was found"), (dark, "too_dark", "too dark"),
             (short, "too_short", "0.6 s long")]  # fmt: skip
    for path, code, words in cases:
        answer = record(base, "bea", path, "bin blue at f two now", "p01")
        assert answer.status_code == 422, answer.text
        assert answer.json()["error"] == code and words in answer.json()["detail"]
    dim = write_video(tmp_path / "dim.mp4", frames_of(S26[0]) // 4)  # mean 36 of 255: dim, but it reads
    assert record(base, "cy", dim, align_text(S26[0].stem, "s26"), "p01").status_code == 201
    garbage = httpx.post(f"{base}/v1/enrol/bea/recordings", files={"file": ("x.webm", b"not a video")},
                         data={"text": "bin blue", "id": "p02"})  # fmt: skip
    assert garbage.json()["error"] == "unreadable"
    assert record(base, "Bea!", S26[0], "bin blue", "p01").json()["error"] == "bad_user"
    assert record(base, "bea", S26[0], "bin 2 blue", "p01").json()["error"] == "bad_text"
    assert httpx.get(f"{base}/v1/enrol/bea").json()["recordings"] == []  # nothing was kept
    assert not any((users / "bea").glob("recordings/*"))
    few = httpx.post(f"{base}/v1/enrol/bea/adapt")
    assert few.status_code == 409 and few.json()["error"] == "too_few_recordings"


def test_recordings_become_a_personal_model(enrol_server) -> None:
    base, users = enrol_server
    for number, path in enumerate(S26[:6], 1):
        answer = record(base, "ana", path, align_text(path.stem, "s26"), f"p{number:02d}")
        assert answer.status_code == 201, answer.text
        assert answer.json()["text"] == align_text(path.stem, "s26") and answer.json()["frames"] >= 70
        assert answer.json()["crops_png"].startswith("iVBORw0KGgo")  # a PNG of the mouth crops cut
    again = record(base, "ana", S26[6], align_text(S26[6].stem, "s26"), "p06")  # re-recorded prompt 6
    assert again.status_code == 201
    status = httpx.get(f"{base}/v1/enrol/ana").json()
    assert [r["id"] for r in status["recordings"]] == [f"p{n:02d}" for n in range(1, 7)]
    assert status["recordings"][-1]["text"] == align_text(S26[6].stem, "s26")
    assert status["model"] is None and status["needed"] == 6

    started = httpx.post(f"{base}/v1/enrol/ana/adapt")
    assert started.status_code == 202 and started.json()["user"] == "ana"
    busy = httpx.post(f"{base}/v1/enrol/ana/adapt")
    assert busy.status_code == 503 and busy.json()["error"] == "busy"
    assert httpx.get(f"{base}/healthz").json() == {"status": "ok"}  # the server answers while it adapts
    deadline = time.time() + 600
    while (job := httpx.get(f"{base}/v1/enrol/ana").json()["job"])["state"] not in ("done", "failed"):
        assert time.time() < deadline, job
        time.sleep(1)
    assert job["state"] == "done", job["error"]
    assert job["report"]["train_clips"] + job["report"]["test_clips"] == 6
    assert 0 <= job["report"]["after"]["wer"] <= 1.5

    personal = httpx.get(f"{base}/v1/models").json()["personal"]
    assert [m["name"] for m in personal] == ["personal:ana"]
    assert (users / "ana" / "model" / "adapt_report.json").is_file()
    assert (users / "ana" / "model" / "adapt_report.png").read_bytes()[:4] == b"\x89PNG"  # drawn off the main thread
    picture = httpx.get(f"{base}/v1/enrol/ana/report.png")  # the page shows it
    assert picture.headers["content-type"] == "image/png" and picture.content[:4] == b"\x89PNG"
    none_yet = httpx.get(f"{base}/v1/enrol/bea/report.png")
    assert none_yet.status_code == 404 and none_yet.json()["error"] == "no_model"
    clip = S26[7]
    answer = httpx.post(f"{base}/v1/transcriptions", files={"file": (clip.name, clip.read_bytes())},
                        data={"model": "personal:ana"}, timeout=120)  # fmt: skip
    assert answer.status_code == 200, answer.text
    assert answer.json()["model"] == "lipnet-grid-s1+ana" and len(answer.json()["text"].split()) == 6
    missing = httpx.post(f"{base}/v1/transcriptions", files={"file": (clip.name, clip.read_bytes())},
                         data={"model": "personal:nobody"})  # fmt: skip
    assert missing.status_code == 404 and missing.json()["error"] == "model_not_found"

    assert httpx.delete(f"{base}/v1/enrol/ana/recordings/p06").json() == {"deleted": "p06"}
    assert len(httpx.get(f"{base}/v1/enrol/ana").json()["recordings"]) == 5
    assert httpx.delete(f"{base}/v1/enrol/ana/recordings/p06").status_code == 404


def write_y4m(path: Path, frames: np.ndarray, fps: int = 25) -> Path:
    """Frames as a YUV4MPEG2 file: what Chromium's fake camera plays, in a loop."""
    import cv2

    h, w = frames.shape[1:3]
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{w} H{h} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for frame in frames:
            out.write(b"FRAME\n" + cv2.cvtColor(frame, cv2.COLOR_RGB2YUV_I420).tobytes())
    return path


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


def fake_camera_chromium(camera: Path):
    """Headless Chromium (a selenium driver) whose webcam plays ``camera`` (a .y4m file) in a loop."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--no-first-run",
                 "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                 f"--use-file-for-fake-video-capture={camera}"):  # fmt: skip
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


@pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER), reason="no Debian chromium + chromium-driver on this machine")
def test_enrolment_page_with_a_fake_camera(enrol_server, tmp_path: Path) -> None:
    """The page's flow in headless Chromium whose camera plays a GRID clip: six prompts recorded,
    one re-recorded, the model trained with live progress, then chosen for transcription."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    base, users = enrol_server
    driver = fake_camera_chromium(write_y4m(tmp_path / "camera.y4m", frames_of(S26[1])))
    wait = WebDriverWait(driver, 120)
    try:
        driver.get(base + "/")
        wait.until(lambda d: d.find_element(By.ID, "enrol").is_displayed())
        driver.find_element(By.ID, "enrol-user").send_keys("cam")
        driver.find_element(By.ID, "enrol-start").click()
        wait.until(lambda d: d.find_element(By.ID, "enrol-prompt").text)
        first_prompt = driver.find_element(By.ID, "enrol-prompt").text
        for take in range(6):
            driver.find_element(By.ID, "enrol-again" if take == 1 else "enrol-record").click()
            wait.until(lambda d: d.find_element(By.ID, "enrol-result").get_attribute("class") in ("ok", "error")
                       and not d.find_element(By.ID, "enrol-again").get_attribute("disabled"))  # fmt: skip
            result = driver.find_element(By.ID, "enrol-result")
            assert result.get_attribute("class") == "ok", result.text
            assert "your face was found" in result.text
            assert driver.find_element(By.ID, "enrol-crops").get_attribute("src").startswith("data:image/png")
            if take != 0:
                driver.find_element(By.ID, "enrol-next").click()
        recordings = httpx.get(f"{base}/v1/enrol/cam").json()["recordings"]
        assert len(recordings) == 5 and recordings[0]["text"] == first_prompt  # take 2 re-recorded prompt 1
        assert (users / "cam" / "recordings" / "p01" / "cam" / "p01.webm").is_file()
        driver.find_element(By.ID, "enrol-record").click()  # a sixth sentence: enough to train
        wait.until(lambda d: len(httpx.get(f"{base}/v1/enrol/cam").json()["recordings"]) == 6)
        wait.until(lambda d: d.find_element(By.ID, "enrol-train").is_enabled())
        driver.find_element(By.ID, "enrol-train").click()
        WebDriverWait(driver, 600).until(lambda d: "Your model is ready" in d.find_element(By.ID, "enrol-job").text)
        assert driver.find_element(By.ID, "model").get_attribute("value") == "personal:cam"
        assert "words wrong" in driver.find_element(By.ID, "enrol-job").text
        # the adaptation's picture, loaded and shown (a broken image has no natural width)
        wait.until(lambda d: d.execute_script("const i = document.getElementById('enrol-report');"
                                              "return !i.hidden && i.complete && i.naturalWidth > 0;"))  # fmt: skip
    finally:
        driver.quit()
