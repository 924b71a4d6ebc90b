"""The timed-speech prompt through the page, answered by a real person: GRID s1 clips in Chromium.

A real answer is one continuous recording: rest, the phrase, rest, with the mouth moving a
little before the voice and closing after it. Each GRID s1 clip (50-99: left out of the sync
towers' fitting) is such an answer to a one-window speech challenge whose window opens
``lag`` seconds before the clip's own voice (the person's reaction time) and closes ``lag``
before it ends. The test signs that challenge with the server's challenge key (given to the
server it starts) and hands it to the page in place of ``POST /v1/challenges``; the camera
and microphone are the clip itself, played from its first frame when the page's recorder
starts (``getUserMedia`` answered by a ``<video>`` element's ``captureStream()``), so the
page records, encodes (WebM, VP8 + Opus) and uploads what a person in front of it would
send. The same clip replayed against a fresh challenge of the server's is refused.

Skips with the reason when ``/usr/bin/chromium``, the ``playwright`` package or
``../shared/data`` is missing. Uses the system Chromium only (never a downloaded browser).
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import shared_path
from test_browser import CHROMIUM, _need_browser

pytestmark = [pytest.mark.slow, pytest.mark.realdata]

KEY = "page-speech-test-challenge-key-0001"

#: getUserMedia answered by the clip: a <video> element's captured stream, rewound and
#: played when a MediaRecorder starts (the recording's first frame is the clip's first)
CLIP_CAMERA_JS = """(() => {
  let clip = null;
  navigator.mediaDevices.getUserMedia = async () => {
    const v = document.createElement("video");
    v.src = "/__clip.webm"; v.loop = true; v.playsInline = true; v.preload = "auto";
    v.style.position = "fixed"; v.style.left = "-9999px";
    document.documentElement.appendChild(v);
    await new Promise((ok, bad) => {
      v.addEventListener("canplaythrough", ok, { once: true });
      v.addEventListener("error", () => bad(new Error("clip: " + (v.error && v.error.message))), { once: true });
    });
    await v.play(); v.pause(); v.currentTime = 0;
    clip = v;
    return v.captureStream();
  };
  const Orig = window.MediaRecorder;
  window.MediaRecorder = class extends Orig {
    start(...args) {
      if (clip) { clip.currentTime = 0; clip.play(); }
      return super.start(...args);
    }
  };
})();"""


def _answer(stem: str, directory: Path, lag_s: float) -> tuple[Path, dict]:
    """The clip as WebM and the one-window schedule it answers with reaction ``lag_s``: the
    window is the sentence (first word's start to last word's end, the ``.align`` file) ``lag_s`` earlier."""
    from lipauth.io import load_align, load_audio, load_video, write_video

    src = shared_path("grid_s1", "video", f"{stem}.mpg")
    video = load_video(src)
    path = write_video(directory / f"{stem}.webm", video.frames, fps=video.nominal_fps,
                       audio=load_audio(src, sample_rate=48000), sample_rate=48000)
    spoken = load_align(shared_path("grid_s1", "align", f"{stem}.align")).speech_intervals_s
    window = [round(spoken[0][0] - lag_s, 2), round(spoken[-1][1] - lag_s, 2), "speak"]
    return path, {"windows": [window], "duration_s": round(float(video.timestamps_s[-1]) - 0.1, 2)}


def _signed(schedule: dict) -> dict:
    """A fresh challenge for ``schedule``, signed with the server's key, as ``POST /v1/challenges`` answers."""
    from lipauth.challenge import Challenge, sign_challenge

    now = time.time()
    ch = Challenge(kind="speech", windows=tuple(tuple(w) for w in schedule["windows"]), duration_s=schedule["duration_s"],
                   nonce=secrets.token_hex(16), issued_at=now, expires_at=now + 120.0)
    d = Challenge(**{**ch.__dict__, "signature": sign_challenge(ch, key=KEY)}).to_dict()
    return {"challenge": d, "windows": d["windows"], "duration_s": d["duration_s"], "expires_at": d["expires_at"]}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    shared_path("grid_s1", "video")
    _need_browser()
    from lipauth.service.testing import start_server

    with start_server(tmp_path_factory.mktemp("service"), workers=1, env={"LIPAUTH_CHALLENGE_KEY": KEY}) as running:
        yield running.base_url
    print(f"service log: {running.log_path}")


def _answer_in_page(server: str, clip: Path, schedule: dict | None) -> tuple[str, list[str]]:
    """Liveness with a speech prompt in the page, the camera and microphone playing ``clip``;
    ``schedule``: the challenge the page is given (None: the server's own)."""
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--use-fake-ui-for-media-stream", "--autoplay-policy=no-user-gesture-required"])
        try:
            page = browser.new_page(viewport={"width": 1000, "height": 900})
            page.add_init_script(CLIP_CAMERA_JS)
            page.route("**/__clip.webm", lambda route: route.fulfill(path=str(clip), content_type="video/webm"))
            if schedule is not None:
                page.route("**/v1/challenges", lambda route: route.fulfill(
                    status=201, content_type="application/json", body=json.dumps(_signed(schedule))))
            page.goto(server + "/")
            expect(page.locator("body")).to_have_attribute("data-ready", "true", timeout=15_000)
            page.click("#camera-btn")
            expect(page.locator("#start-btn")).to_be_enabled(timeout=30_000)
            page.check('input[name="mode"][value="liveness"]')
            page.select_option("#kind", "speech")
            page.click("#start-btn")
            expect(page.locator("#verdict")).to_have_text(re.compile(r"^(Accepted|Rejected)$"), timeout=180_000)
            return page.locator("#verdict").inner_text(), [li.inner_text() for li in page.locator("#reasons li").all()]
        finally:
            browser.close()


@pytest.mark.parametrize(("stem", "lag_s"), [("sbah1a", 0.3), ("sgbj3a", 0.6)])
def test_a_real_answer_to_the_speech_prompt_passes_through_the_page(server: str, tmp_path: Path, stem: str, lag_s: float) -> None:
    """A GRID s1 clip answering its speak window after a reaction of 0.3 s, and of 0.6 s (a
    slow reaction, inside ``REACTION_LAG_S``): recorded, encoded and uploaded by the page, accepted."""
    clip, schedule = _answer(stem, tmp_path, lag_s)
    verdict, reasons = _answer_in_page(server, clip, schedule)
    assert verdict == "Accepted", reasons


def test_the_same_answer_replayed_to_a_fresh_challenge_is_refused(server: str, tmp_path: Path) -> None:
    clip, _ = _answer("sbah1a", tmp_path, 0.3)
    verdict, reasons = _answer_in_page(server, clip, None)
    assert verdict == "Rejected" and reasons
