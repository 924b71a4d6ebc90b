"""The page's live framing hint, in Chromium: before Start, the oval says which way to move.

The fake camera shows a real face still (``skimage.data.astronaut()``) in two framings: small
and high in the picture (the page must say "outside the oval" and "come closer" before
anything is recorded), and scaled and centred so that it fills the oval (the oval turns
green, no words). The page sends a small picture of its preview to ``POST /v1/framing``
about every 1.5 s. Skips with the reason when ``/usr/bin/chromium`` or the ``playwright``
package is missing (never a downloaded browser).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from test_browser import CHROMIUM, _need_browser, write_y4m

pytestmark = pytest.mark.slow

FPS = 10
SIZE = (640, 480)


def _astronaut(scale: float, centre: tuple[int, int]) -> np.ndarray:
    """A 640x480 picture of the astronaut scaled by ``scale``, her face centre at ``centre`` (pixels)."""
    import cv2
    from skimage import data

    img = data.astronaut()
    face = np.array([224.5, 124.0])  # centre of her face box in the 512-px still
    big = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    out = np.full((SIZE[1], SIZE[0], 3), 90, np.uint8)
    x0, y0 = (face * scale - np.array(centre)).round().astype(int)
    src = big[max(y0, 0): y0 + SIZE[1], max(x0, 0): x0 + SIZE[0]]
    out[max(-y0, 0): max(-y0, 0) + src.shape[0], max(-x0, 0): max(-x0, 0) + src.shape[1]] = src
    return out


def _camera(path: Path, picture: np.ndarray) -> Path:
    rng = np.random.default_rng(0)
    frames = np.stack([np.clip(picture.astype(np.int16) + rng.integers(-2, 3, picture.shape), 0, 255).astype(np.uint8)
                       for _ in range(2 * FPS)])
    return write_y4m(path, frames, fps=FPS)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    _need_browser()
    from lipauth.service.testing import start_server

    with start_server(tmp_path_factory.mktemp("service"), workers=1) as running:
        yield running.base_url
    print(f"service log: {running.log_path}")


def _preview(server: str, camera: Path) -> tuple[str, str]:
    """(hint text, stage classes) once the page has judged its preview, before Start."""
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-video-capture={camera}", "--autoplay-policy=no-user-gesture-required"])
        try:
            page = browser.new_page(viewport={"width": 900, "height": 900})
            page.goto(server + "/")
            expect(page.locator("body")).to_have_attribute("data-ready", "true", timeout=15_000)
            page.click("#camera-btn")
            expect(page.locator("#start-btn")).to_be_enabled(timeout=15_000)
            page.wait_for_function("() => document.querySelector('#stage').dataset.previewFace !== undefined",
                                   timeout=60_000)
            page.wait_for_timeout(2000)  # a second answer, on a settled preview
            return page.locator("#preview-hint").inner_text(), page.locator("#stage").get_attribute("class") or ""
        finally:
            browser.close()


def test_a_small_off_centre_face_is_told_to_come_closer_before_recording(server: str, tmp_path: Path) -> None:
    hint, classes = _preview(server, _camera(tmp_path / "far.y4m", _astronaut(1.0, (190, 120))))
    assert "outside the oval" in hint and "come closer" in hint, hint
    assert "preview-off" in classes and "preview-framed" not in classes


def test_a_face_that_fills_the_oval_turns_it_green_without_words(server: str, tmp_path: Path) -> None:
    hint, classes = _preview(server, _camera(tmp_path / "framed.y4m", _astronaut(2.4, (320, 274))))
    assert hint == "", hint
    assert "preview-framed" in classes and "preview-off" not in classes
