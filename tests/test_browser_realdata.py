"""The lip password through the page, with real faces: MIRACL-VC1 F01 takes on Chromium's fake camera.

Real takes recorded through the page are about 1 s of phrase with still face before and
after it (the page records 3-s windows). The fake camera here plays real MIRACL F01 takes of
one phrase, each with its first and last frames held (1.5 grey levels of camera noise) so that
a take starts every ``PERIOD_S`` seconds: any 3-s window the page records holds at least one
whole take with rest around it, whatever the loop's phase when the page starts recording
(Chromium starts the file when the camera opens). Enrol through the page with phrase 03
("i am sorry"), unlock with phrase 03 (other takes of the loop), be refused with phrase 05
("good bye") in a second browser on another fake camera.

Skips with the reason when ``/usr/bin/chromium``, the ``playwright`` package or
``../shared/data`` is missing. Uses the system Chromium only (never a downloaded browser).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from conftest import shared_path
from test_browser import CHROMIUM, _need_browser, write_y4m

pytestmark = [pytest.mark.slow, pytest.mark.realdata]

FPS = 15  # MIRACL-VC1's frame rate
PERIOD_S = 2.0  # one take (0.4-0.9 s) every 2 s: a 3-s window always holds a whole take with rest
ENROL_PHRASE, OTHER_PHRASE = 3, 5


def _loop_frames(phrase: int, reps: list[int], seed: int = 0) -> np.ndarray:
    """Takes of ``phrase`` centred in ``PERIOD_S`` windows of held first / last frames (RGB uint8)."""
    from password_realdata import with_rest

    from lipauth.io import load_video

    period = int(round(PERIOD_S * FPS))
    out = []
    for rep in reps:
        video = load_video(shared_path("miracl_f01", f"F01_phrase{phrase:02d}_rep{rep:02d}.mp4"))
        pre = (period - video.n_frames) // 2
        post = period - video.n_frames - pre
        out.append(with_rest(video, pre / FPS, post / FPS, seed=seed + rep).frames)
    return np.concatenate(out)


def _write_media(directory: Path, phrase: int, reps: list[int]) -> tuple[Path, Path]:
    """The looping fake camera (Y4M) and a quiet microphone (WAV) for takes of ``phrase``."""
    from lipauth.io import write_audio

    frames = _loop_frames(phrase, reps)
    video = write_y4m(directory / f"phrase{phrase:02d}.y4m", frames, fps=FPS)
    n = int(48000 * len(frames) / FPS)
    noise = (np.random.default_rng(1).normal(0, 0.003, n)).astype(np.float32)  # a quiet room
    audio = write_audio(directory / f"phrase{phrase:02d}.wav", noise, sample_rate=48000)
    return video, audio


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    shared_path("miracl_f01", "F01_phrase01_rep01.mp4")
    _need_browser()
    from lipauth.service.testing import start_server

    with start_server(tmp_path_factory.mktemp("service"), workers=1) as running:
        yield running.base_url
    print(f"service log: {running.log_path}")


def _open_page(p, server: str, media: tuple[Path, Path]):
    from playwright.sync_api import expect

    video, audio = media
    browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
        "--no-sandbox", "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-video-capture={video}", f"--use-file-for-fake-audio-capture={audio}",
        "--autoplay-policy=no-user-gesture-required",
    ])
    page = browser.new_page(viewport={"width": 420, "height": 900})
    page.goto(server + "/")
    expect(page.locator("body")).to_have_attribute("data-ready", "true", timeout=15_000)
    page.click("#camera-btn")
    expect(page.locator("#start-btn")).to_be_enabled(timeout=15_000)
    return browser, page


def _verify(page) -> str:
    from playwright.sync_api import expect

    page.check('input[name="mode"][value="verify"]')
    page.fill("#user", "maria")
    page.select_option("#kind", "")
    page.evaluate("document.querySelector('#verdict').textContent = ''")
    page.click("#start-btn")
    expect(page.locator("#verdict")).to_have_text(re.compile(r"^(Accepted|Rejected)$"), timeout=180_000)
    return page.locator("#verdict").inner_text()


def test_real_takes_enrol_unlock_and_another_phrase_is_refused(server: str, tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    genuine = _write_media(tmp_path, ENROL_PHRASE, [1, 2, 3, 4, 5, 6])
    other = _write_media(tmp_path, OTHER_PHRASE, [1, 2, 3, 4, 5, 6])
    with sync_playwright() as p:
        browser, page = _open_page(p, server, genuine)
        try:
            page.check('input[name="mode"][value="enrol"]')
            page.fill("#user", "maria")
            done = "() => document.querySelector('#verdict').textContent.startsWith('Enrolled') || !document.querySelector('#error').hidden"
            # like a person told "enrolment takes do not match each other", record again (at most
            # 3 rounds): a 3-s window can catch a take cut at its edge (genuine 3-take sets are
            # refused 1-4 % of the time offline, benchmarks/accuracy_password.py)
            for round_ in range(3):
                page.click("#start-btn")
                page.wait_for_function(done, timeout=180_000)
                if page.locator("#error").is_hidden():
                    break
                assert page.locator("#error").inner_text() == "enrolment takes do not match each other"
            print(f"enrolled through the page in round {round_ + 1}")
            expect(page.locator("#verdict")).to_contain_text("Enrolled: maria")
            answers = [_verify(page) for _ in range(2)]  # the same phrase, other takes and phases of the loop
            assert "Accepted" in answers, (answers, page.locator("body").inner_text())
        finally:
            browser.close()
        browser, page = _open_page(p, server, other)
        try:
            answers = [_verify(page) for _ in range(2)]
            assert answers == ["Rejected", "Rejected"], page.locator("body").inner_text()
            expect(page.locator("#reasons li").first).to_contain_text("did not match")
        finally:
            browser.close()
