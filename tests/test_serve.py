"""`lipread serve` as a real process on a loopback port: transcripts, bad uploads, a bounded burst,
and the web page in a real headless browser (when Debian's chromium is installed)."""

from __future__ import annotations

import base64
import concurrent.futures
import os
import queue
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import httpx
import numpy as np
import psutil
import pytest

from conftest import EXAMPLE, EXAMPLE_TEXT, THREE_PHRASES, TRAIN_CLIPS, align_text, clip_path, frames_of, write_video

pytestmark = pytest.mark.slow  # real models, face tracking or servers: the full tier

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def uploads_tmp(tmp_path_factory) -> Path:
    """The server's temporary folder (TMPDIR): where its private upload folders go."""
    return tmp_path_factory.mktemp("server_tmp")


def start_server(tmp: Path, *options: str):
    """A real server on a port the system picks (``--port 0``), at the address it says it serves
    on; its output is read on a thread to the end, kept in ``proc.output``."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "lipread.cli", "serve", "--port", "0", *options],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT, env={**os.environ, "TMPDIR": str(tmp)},
    )  # fmt: skip
    proc.output = []
    lines: queue.Queue[str | None] = queue.Queue()

    def drain() -> None:
        for line in proc.stdout:
            proc.output.append(line)
            lines.put(line)
        lines.put(None)

    proc.drain = threading.Thread(target=drain, daemon=True)
    proc.drain.start()
    deadline = time.time() + 180
    while time.time() < deadline:
        try:
            line = lines.get(timeout=1)
        except queue.Empty:
            continue
        assert line is not None, "server stopped:\n" + "".join(proc.output)
        if line.startswith("serving on "):
            base = line.split()[2]
            assert httpx.get(f"{base}/readyz", timeout=10).status_code == 200
            return base, proc
    proc.kill()
    pytest.fail("server did not say where it serves:\n" + "".join(proc.output))


def stop_server(proc: subprocess.Popen) -> str:
    """Stop a server from :func:`start_server`; everything it printed."""
    proc.terminate()
    proc.wait(timeout=30)
    proc.drain.join(timeout=30)
    return "".join(proc.output)


@pytest.fixture(scope="module")
def server(uploads_tmp: Path):
    base, proc = start_server(uploads_tmp, "--workers", "1", "--queue-size", "8", "--max-upload-mb", "2",
                              "--max-duration", "20")  # fmt: skip
    yield base, proc
    proc.terminate()
    proc.wait(timeout=30)


def post(
    base: str, path: Path | None = None, content: bytes | None = None, name: str = "clip.mp4", **form
) -> httpx.Response:
    data = content if content is not None else path.read_bytes()
    return httpx.post(f"{base}/v1/transcriptions", files={"file": (name, data)}, data=form, timeout=120)


def test_transcribes_a_real_clip(server):
    base, _ = server
    response = post(base, EXAMPLE, decoder="beam", crops="true")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["text"] == EXAMPLE_TEXT and [w["word"] for w in body["words"]] == EXAMPLE_TEXT.split()
    assert response.headers["x-request-id"]
    crops = cv2.imdecode(np.frombuffer(base64.b64decode(body["crops_png"]), np.uint8), cv2.IMREAD_COLOR)
    assert crops.shape[1] == len(EXAMPLE_TEXT.split()) * (96 + 2)  # a mouth a word, as -f png draws it
    srt = post(base, EXAMPLE, format="srt")
    assert srt.status_code == 200 and EXAMPLE_TEXT in srt.text and "-->" in srt.text
    png = post(base, EXAMPLE, format="png")  # the mouth at each word, as `transcribe -f png` draws it
    sheet = cv2.imdecode(np.frombuffer(png.content, np.uint8), cv2.IMREAD_COLOR)
    assert png.headers["content-type"] == "image/png" and sheet.shape[1] == len(EXAMPLE_TEXT.split()) * (96 + 2)


def test_a_span_of_a_video_longer_than_the_limit_is_read(server, tmp_path: Path):
    """start/end read only those seconds, in the video's own times; the duration limit is the part's."""
    names = TRAIN_CLIPS * 2  # 24 s, over the server's 20 s limit
    video = write_video(tmp_path / "long.mp4", np.concatenate([frames_of(clip_path(n)) for n in names]))
    base, _ = server
    whole = post(base, video)
    assert whole.status_code == 422 and whole.json() == {
        "error": "too_long", "detail": "video is 24.0 s; the limit is 20 s"}  # fmt: skip
    body = post(base, video, start="3", end="6").json()
    assert body["text"] == align_text(names[1]) and body["span"] == [3.0, 6.0] and body["duration"] == 3.0
    assert all(3 <= w["start"] < w["end"] <= 6 for w in body["words"])
    srt = post(base, video, start="6", end="9", format="srt").text
    assert "00:00:0" in srt and align_text(names[2]) in srt
    late = post(base, video, start="2", end="23")
    assert late.status_code == 422 and "the part asked for (2-23 s) of the video is 21.0 s" in late.json()["detail"]
    assert post(base, video, start="5", end="4").json() == {
        "error": "bad_option", "detail": "start/end: the end (4 s) must come after the start (5 s)"}  # fmt: skip
    past = post(base, video, start="30")
    assert past.status_code == 422 and past.json()["error"] == "cue_outside_video"


def test_two_talkers_get_per_track_json(server, tmp_path: Path):
    """The API answers what `lipread transcribe --format json` does: segments per face track, gaps."""
    left, right = frames_of(clip_path("bbaf4p")), frames_of(clip_path("bbal6n"))
    video = write_video(tmp_path / "two.mp4", np.concatenate([left, right], axis=2))
    body = post(base := server[0], video).json()
    tracks = sorted(body["segments"], key=lambda s: s["box"][0])
    assert [s["track"] for s in tracks] in ([0, 1], [1, 0]) and body["gaps"] == []
    assert {w["track"] for w in body["words"]} == {0, 1}
    assert len(post(base, video, faces="largest").json()["segments"]) == 1
    assert post(base, video, faces="some").json()["error"] == "bad_option"


def test_grammar_fields_n_best_and_flags(server):
    """A request may name a built-in grammar or send its own; a bad one is a 400 naming its line."""
    base, _ = server
    files = {"file": ("clip.mp4", EXAMPLE.read_bytes()), "grammar_file": ("three.txt", THREE_PHRASES.encode())}
    body = httpx.post(f"{base}/v1/transcriptions", files=files, data={"n_best": "2"}, timeout=120).json()
    assert body["text"] == EXAMPLE_TEXT and body["grammar"] == "three.txt" and len(body["n_best"]) == 2
    assert body["n_best"][1]["text"] in THREE_PHRASES and body["out_of_domain"] is False
    files["grammar_file"] = ("bad.txt", b"slot a: bin\nslot b blue\n")
    bad = httpx.post(f"{base}/v1/transcriptions", files=files, timeout=120)
    assert bad.status_code == 400 and bad.json()["error"] == "bad_grammar" and "bad.txt, line 2" in bad.json()["detail"]
    assert post(base, EXAMPLE, grammar="grid").json()["grammar"] == "grid"
    assert post(base, EXAMPLE, grammar="none").json()["grammar"] is None
    assert post(base, EXAMPLE).json()["grammar"] == "grid"  # one request's choice does not stick
    cut = post(base, EXAMPLE, end="1.2", partial="true").json()  # a video that stops mid-sentence
    assert cut["partial"] is True and cut["text"].startswith("lay green") and len(cut["text"].split()) < 6
    whole = post(base, EXAMPLE, end="1.2").json()  # partial does not stick to a worker's reader
    assert whole["partial"] is False and len(whole["text"].split()) == 6 and whole["out_of_domain"] is True
    assert post(base, EXAMPLE, grammar="none", partial="true").json() == {
        "error": "bad_option", "detail": "partial reads parts of a grammar's sentences, so it needs a grammar"}  # fmt: skip
    assert post(base, EXAMPLE, grammar="klingon").json()["error"] == "bad_grammar"
    unsure = post(base, EXAMPLE, min_confidence="1").json()  # no phrase is read with certainty
    assert unsure["text"] == "" and unsure["dropped"][0]["text"] == EXAMPLE_TEXT
    assert post(base, EXAMPLE, min_confidence="1.5").status_code == 422
    models = httpx.get(f"{base}/v1/models").json()
    assert "grid" in models["grammars"] and models["default_grammar"] == "grid"


def test_subtitles_from_words_without_the_model(server):
    base, _ = server
    words = [
        {"word": "bin", "start": 0.5, "end": 0.8, "track": 0},
        {"word": "set", "start": 0.6, "end": 0.9, "track": 1},
    ]
    srt = httpx.post(f"{base}/v1/subtitles", json={"words": words, "format": "srt"})
    assert srt.status_code == 200 and "[0] bin" in srt.text and "[1] set" in srt.text
    cues = httpx.post(f"{base}/v1/subtitles", json={"words": words[:1], "format": "cues"}).json()["cues"]
    assert cues == [{"text": "bin", "start": 0.5, "end": 0.8, "speaker": None}]
    bad = httpx.post(f"{base}/v1/subtitles", json={"words": words, "format": "doc"})
    assert bad.status_code == 422 and bad.json()["error"] == "bad_request"
    endless = httpx.post(f"{base}/v1/subtitles", json={"words": [{"word": "bin", "start": 0.5}]})
    assert endless.status_code == 422 and endless.json()["detail"] == "words.0.end: Field required"
    # two commands said without a pause: one cue of 7 words and one of 5, or, given the sentences, one each
    said = "bin blue at f two now lay red in a one soon".split()
    run = [{"word": w, "start": 0.2 * i, "end": 0.2 * i + 0.2, "track": 0} for i, w in enumerate(said)]
    sentences = [{"track": 0, "start": 0.0, "end": 1.2, "text": " ".join(said[:6]), "confidence": 0.9},
                 {"track": 0, "start": 1.2, "end": 2.4, "text": " ".join(said[6:]), "confidence": 0.9}]  # fmt: skip
    plain = httpx.post(f"{base}/v1/subtitles", json={"words": run, "format": "cues"}).json()["cues"]
    assert [len(c["text"].split()) for c in plain] == [7, 5]
    split = httpx.post(f"{base}/v1/subtitles", json={"words": run, "sentences": sentences, "format": "cues"})
    assert [c["text"] for c in split.json()["cues"]] == [s["text"] for s in sentences]


def test_health_readiness_models_docs(server):
    base, _ = server
    assert httpx.get(f"{base}/healthz").json() == {"status": "ok"}
    assert httpx.get(f"{base}/readyz").json() == {"status": "ready"}
    models = httpx.get(f"{base}/v1/models").json()
    assert models["name"] == "lipnet-grid-s1" and models["crop"]["size"] == 96 and "beam" in models["decoders"]
    assert len(models["vocabulary"]) == 51
    assert models["limits"] == {"max_upload_mb": 2, "max_duration_s": 20, "live_streams": 2}
    assert httpx.get(f"{base}/docs").status_code == 200
    schema = httpx.get(f"{base}/openapi.json").json()
    assert "/v1/transcriptions" in schema["paths"]
    assert "`/v1/live`" in schema["info"]["description"] and "float64" in schema["info"]["description"]


def keys_as_documented(value, schema: dict, components: dict, where: str = "body") -> None:
    """Every object in ``value`` has exactly the properties its OpenAPI schema names, all the way down."""
    if "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[1]]
    if "anyOf" in schema:
        if value is None:
            return
        schema = next(s for s in schema["anyOf"] if s.get("type") != "null")
    if isinstance(value, dict) and "properties" in schema:
        assert set(value) == set(schema["properties"]), (where, set(value) ^ set(schema["properties"]))
        for key, item in value.items():
            keys_as_documented(item, schema["properties"][key], components, f"{where}.{key}")
    elif isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            keys_as_documented(item, schema["items"], components, f"{where}.{i}")


def test_the_docs_page_describes_the_json_the_server_sends(server):
    """/docs (the OpenAPI schema) names every field of a real transcript and error, no more, no fewer."""
    base, _ = server
    schema = httpx.get(f"{base}/openapi.json").json()
    components = schema["components"]["schemas"]
    ok = schema["paths"]["/v1/transcriptions"]["post"]["responses"]["200"]["content"]["application/json"]["schema"]
    full = post(base, EXAMPLE, crops="true", n_best="2").json()  # every field filled, n_best and crops too
    assert full["n_best"] and full["segments"][0]["n_best"] and full["crops_png"]
    keys_as_documented(full, ok, components)
    unsure = post(base, EXAMPLE, min_confidence="1").json()  # a dropped phrase
    assert unsure["dropped"]
    keys_as_documented({**unsure, "crops_png": None}, ok, components)
    assert components["TranscriptWord"]["properties"]["track"]["type"] == "integer"
    bad = post(base, EXAMPLE, decoder="psychic")
    error_schema = schema["paths"]["/v1/transcriptions"]["post"]["responses"]["4XX"]["content"]["application/json"]
    assert bad.status_code == 400 and "422" not in schema["paths"]["/v1/transcriptions"]["post"]["responses"]
    keys_as_documented(bad.json(), error_schema["schema"], components)


def test_bad_uploads_get_json_4xx_and_the_server_keeps_serving(server, tmp_path: Path, uploads_tmp: Path):
    base, proc = server
    truncated = EXAMPLE.read_bytes()[:30_000]
    import cv2

    ok, png = cv2.imencode(".png", np.full((64, 64, 3), 128, np.uint8))
    noise = np.random.default_rng(0).integers(0, 255, (40, 120, 160, 3), dtype=np.uint8)
    noface = write_video(tmp_path / "noise.mp4", noise).read_bytes()
    cases = {
        "random": (
            np.random.default_rng(1).bytes(20_000),
            {415},
        ),  # seeded: some random bytes parse as a stream-less container
        "truncated": (truncated, {422}),
        "image": (png.tobytes(), {415, 422}),
        "empty": (b"", {422}),
        "oversize": (os.urandom(3 * 2**20), {413}),
        "noface": (noface, {422}),
    }
    for name, (content, statuses) in cases.items():
        response = post(base, content=content, name=f"{name}.mp4")
        assert response.status_code in statuses, (name, response.status_code, response.text)
        body = response.json()
        assert body["error"] and body["detail"], name
    assert post(base, content=noface).json()["error"] == "no_face"
    assert post(base, EXAMPLE, format="bogus").status_code == 400
    assert proc.poll() is None
    assert post(base, EXAMPLE).json()["text"] == EXAMPLE_TEXT
    assert not list(uploads_tmp.glob("lipread-upload-*")), "uploads must be removed"


def test_too_long_video_is_refused(server, tmp_path: Path):
    base, _ = server
    frames = frames_of(clip_path("bbaf4p"))[:, ::4, ::4]
    long = write_video(tmp_path / "long.mp4", np.concatenate([frames] * 9))  # 27 s > 20 s limit
    response = post(base, long)
    assert response.status_code == 422 and response.json()["error"] == "too_long"


def test_bounded_burst_every_request_answered(server):
    """40 concurrent uploads against 1 worker and a queue of 8: each gets 200 or 503, none lost."""
    base, proc = server
    process = psutil.Process(proc.pid)
    post(base, EXAMPLE)
    before = process.memory_info().rss
    data = EXAMPLE.read_bytes()
    with concurrent.futures.ThreadPoolExecutor(40) as pool:
        responses = list(pool.map(lambda _: post(base, content=data), range(40)))
    codes = [r.status_code for r in responses]
    assert set(codes) <= {200, 503} and len(codes) == 40
    assert codes.count(200) >= 9 and codes.count(503) >= 1, codes
    assert all(r.headers.get("retry-after") for r in responses if r.status_code == 503)
    assert all(r.json()["text"] == EXAMPLE_TEXT for r in responses if r.status_code == 200)
    assert proc.poll() is None
    time.sleep(1)
    after = process.memory_info().rss
    assert after < before * 1.25 + 50 * 2**20, (before, after)  # back near its starting level


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


@pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER), reason="no Debian chromium + chromium-driver on this machine")
def test_web_page_in_a_real_browser(server, tmp_path: Path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    base, _ = server
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        driver.get(base + "/")
        driver.find_element(By.ID, "file").send_keys(str(EXAMPLE))
        driver.find_element(By.ID, "go").click()
        WebDriverWait(driver, 120).until(lambda d: d.find_element(By.ID, "transcript").text.strip())
        assert driver.find_element(By.ID, "transcript").text.strip() == EXAMPLE_TEXT
        assert driver.find_element(By.ID, "crops").get_attribute("src").startswith("data:image/png")
        width = "return document.getElementById('crops').naturalWidth"
        WebDriverWait(driver, 30).until(lambda d: d.execute_script(width))
        assert driver.execute_script(width) == 6 * (96 + 2)  # the mouth at each of the six words
        spans = driver.find_elements(By.CSS_SELECTOR, "#transcript span")
        assert len(spans) == 6
        assert "knows 51 words" in driver.find_element(By.ID, "about").text  # what the model can read
        assert driver.find_element(By.ID, "limits").text == "Up to 2 MB and 20 s per video."
        assert driver.find_element(By.ID, "actions").is_displayed()  # copy and SRT/VTT/JSON downloads
        # a video over the server's 20 s: refused in words, then a part of it chosen and read
        names = TRAIN_CLIPS * 2
        video = write_video(tmp_path / "long.mp4", np.concatenate([frames_of(clip_path(n)) for n in names]))
        driver.find_element(By.ID, "file").send_keys(str(video))
        driver.find_element(By.ID, "go").click()
        WebDriverWait(driver, 60).until(lambda d: "choose a part of it" in d.find_element(By.ID, "status").text)
        driver.find_element(By.ID, "start").send_keys("3")
        driver.find_element(By.ID, "end").send_keys("6")
        driver.find_element(By.ID, "go").click()
        WebDriverWait(driver, 120).until(lambda d: d.find_element(By.ID, "status").text.startswith("done"))
        assert driver.find_element(By.ID, "transcript").text.strip() == align_text(names[1])
        assert driver.find_element(By.ID, "details").text.startswith("3.0-6.0 s of the video, model ")
        for field in ("start", "end"):
            driver.find_element(By.ID, field).clear()
        driver.find_element(By.ID, "file").send_keys(str(EXAMPLE))  # stopped mid-sentence, read as a part
        driver.find_element(By.ID, "end").send_keys("1.2")
        driver.find_element(By.ID, "partial").click()
        driver.find_element(By.ID, "go").click()
        WebDriverWait(driver, 120).until(lambda d: d.find_elements(By.ID, "partial-note"))
        words = [s.text for s in driver.find_elements(By.CSS_SELECTOR, "#transcript span")]
        assert words[:2] == ["lay", "green"] and len(words) < 6, words
        assert "the words seen" in driver.find_element(By.ID, "partial-note").text
        driver.find_element(By.ID, "partial").click()
        driver.find_element(By.ID, "end").clear()
        bad = ROOT / "README.md"
        driver.find_element(By.ID, "file").send_keys(str(bad))
        driver.find_element(By.ID, "go").click()
        WebDriverWait(driver, 60).until(lambda d: "not a video" in d.find_element(By.ID, "status").text)
        assert "unreadable:" not in driver.find_element(By.ID, "status").text  # words, not a raw code
    finally:
        driver.quit()


def test_serve_log_has_no_native_lines(tmp_path: Path):
    base, proc = start_server(tmp_path, "--workers", "1")
    try:
        assert post(base, EXAMPLE).json()["text"] == EXAMPLE_TEXT
    finally:
        log = stop_server(proc)
    assert '"path": "/v1/transcriptions"' in log or "/v1/transcriptions" in log  # the request's JSON line
    native = ("W0000", "I0000", "XNNPACK", "inference_feedback_manager", "absl::InitializeLog")
    assert not [line for line in log.splitlines() if any(n in line for n in native)], log


def test_an_oversized_upload_is_refused_before_its_body_arrives(server):
    """The declared size is checked first: a 500 MB upload is answered 413 after its headers alone."""
    base, proc = server
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as conn:
        conn.sendall(
            b"POST /v1/transcriptions HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
            b"Content-Length: 500000000\r\n\r\n--b\r\n"
        )
        reply = ""
        while "too_large" not in reply and (chunk := conn.recv(4096)):  # headers and body may come apart
            reply += chunk.decode(errors="replace")
    assert reply.startswith("HTTP/1.1 413") and '"error":"too_large"' in reply, reply
    assert proc.poll() is None


def test_errors_have_one_shape_and_docs_work_offline(server):
    base, _ = server
    wrong_field = httpx.post(f"{base}/v1/transcriptions", files={"video": ("a.mp4", b"x")}, timeout=30)
    assert wrong_field.status_code == 422
    assert wrong_field.json() == {
        "error": "bad_request",
        "detail": "file: Field required (send the video as the multipart/form-data field 'file')",
    }
    # a wrong path or method too: Starlette's own {"detail": "Not Found"} was the one other shape
    assert httpx.get(f"{base}/v1/nope").json() == {
        "error": "not_found", "detail": "no /v1/nope here; /docs lists the routes"}  # fmt: skip
    wrong_method = httpx.get(f"{base}/v1/transcriptions")
    assert wrong_method.status_code == 405 and wrong_method.json()["error"] == "method_not_allowed"
    assert wrong_method.headers["allow"] == "POST"
    docs = httpx.get(f"{base}/docs").text
    assert "cdn.jsdelivr" not in docs and "unpkg" not in docs
    asset = next(part.split('"')[0] for part in docs.split('src="')[1:] if "swagger-ui-bundle" in part)
    assert httpx.get(base + asset if asset.startswith("/") else asset).status_code == 200
    assert httpx.get(f"{base}/favicon.ico").headers["content-type"] == "image/png"


def test_a_timed_out_job_keeps_its_place_and_its_upload_until_it_ends(tmp_path: Path):
    """After a 504 the worker thread still runs: the queue counts it (503 for the next upload with no
    room) and its upload stays until it ends, then goes."""
    uploads = tmp_path / "tmp"
    uploads.mkdir()
    base, proc = start_server(uploads, "--workers", "1", "--queue-size", "0", "--timeout", "0.5")
    try:
        frames = frames_of(clip_path("bbaf4p"))
        long = write_video(tmp_path / "long.mp4", np.concatenate([frames] * 4)).read_bytes()  # 12 s
        assert post(base, content=long).status_code == 504
        assert list(uploads.glob("lipread-upload-*")), "the running job's upload was deleted under it"
        busy = post(base, EXAMPLE)
        assert busy.status_code == 503 and busy.json()["error"] == "busy"
        deadline = time.time() + 60
        while list(uploads.glob("lipread-upload-*")) and time.time() < deadline:
            time.sleep(0.2)
        assert not list(uploads.glob("lipread-upload-*")), "the upload outlived its job"
        assert httpx.get(f"{base}/healthz").status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_enrolment_is_off_without_a_data_dir(server):
    base, _ = server
    answer = httpx.get(f"{base}/v1/enrol/prompts")
    assert answer.status_code == 404 and answer.json()["error"] == "enrolment_off"
    assert "--data-dir" in answer.json()["detail"]
    models = httpx.get(f"{base}/v1/models").json()
    assert models["enrolment"] is False and models["personal"] == []
    refused = post(base, EXAMPLE, model="personal:ana")
    assert refused.status_code == 404 and refused.json()["error"] == "model_not_found"


def test_a_taken_port_is_one_line_before_the_model_loads(server):
    """A second server on the first one's port says so and stops at once, instead of loading the
    model and printing uvicorn's bind error between its start-up lines."""
    base, proc = server
    port = base.rsplit(":", 1)[1]
    result = subprocess.run([sys.executable, "-m", "lipread.cli", "serve", "--port", port],
                            capture_output=True, text=True, cwd=ROOT, timeout=60)  # fmt: skip
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        == f"lipread: port {port} on 127.0.0.1 is in use (another server?): choose another with --port"
    )
    assert result.stdout == "" and proc.poll() is None


def test_a_host_with_two_addresses_is_served_on_both(monkeypatch):
    """`localhost` is often both 127.0.0.1 and ::1: uvicorn listened on each, and so does the
    socket list that serve binds before loading the model (port 0: both on the port the first got)."""
    from serve.cli import address_of, listening_sockets

    try:
        socket.create_server(("::1", 0), family=socket.AF_INET6).close()
    except OSError:
        pytest.skip("no IPv6 loopback on this machine")
    real = socket.getaddrinfo
    both = real("127.0.0.1", 0, type=socket.SOCK_STREAM) + real("::1", 0, type=socket.SOCK_STREAM)
    monkeypatch.setattr(
        socket, "getaddrinfo", lambda host, port, **kw: [(*a[:4], (a[4][0], port, *a[4][2:])) for a in both]
    )
    sockets = listening_sockets("localhost", 0)
    monkeypatch.undo()  # the real resolver again, to connect
    try:
        port = sockets[0].getsockname()[1]
        assert [address_of(s) for s in sockets] == [f"http://127.0.0.1:{port}", f"http://[::1]:{port}"]
        for host in ("127.0.0.1", "::1"):
            socket.create_connection((host, port), timeout=5).close()  # each listens (the model need not be there)
    finally:
        for s in sockets:
            s.close()
