"""End-to-end: the browser page in a real headless Chromium with a fake camera and microphone.

The service runs as ``lipauth serve`` in a subprocess on a free loopback port with its own
temporary data directory (its own SQLite store and keys); on loopback it gives the page an
in-memory API key, so the page works as a person would see it. Playwright only drives the
browser: it launches the system ``/usr/bin/chromium`` (apt ``chromium``), never a
downloaded one. Chromium reads the fake camera from a Y4M file and the fake microphone from
a WAV file and loops both; the files are made by :mod:`lipauth.synth` in a temporary
directory.

Why any take cut from the loop is a valid take of the same lip password: Chromium starts
the files when the camera opens, not when the page starts recording, so a take begins at an
unknown point of the loop. The synthetic mouth therefore repeats ONE short phrase (two
syllables of different height and vowel width) with a period of exactly
``PERIOD_FRAMES`` frames (0.4 s, a brisk five syllables a second), with no rest between
repeats, and the loop holds a whole number of periods, so the video is periodic across the
loop seam as well. A 3-s take recorded at any moment is then 7.5 repeats of the phrase
starting at some phase, and the lip password (DTW over the utterance, cut from the first to
the last lip movement) matches any other phase: the phase shift only changes a partial
syllable at each end. The period must be short: the password's spread gate refuses an
attempt farther from the nearest enrolled take than 3x the enrolment takes' own spread, and
the three enrolment takes may happen to start at the same phase (spread ~0). Checked on the
library directly (enrolment phases 0, 0.04, 0 with different noise; verify at every phase):
with a 1-s period the attempt at phase 0.32 fell outside the gate (distance 0.25 vs gate
0.15), with 0.4 s every phase is accepted (largest distance 0.10). The fake microphone plays
the synthetic syllable sound of the same clip (the default policy, ``password``, does not
need it).

Since the lip password scores an attempt against scrambled copies of the enrolled takes too
(a periodic movement looks like its own scrambled copies), the verify step here checks the
page's flow (verdict, plot, scores) and not the decision; tests/test_browser_realdata.py
enrols and unlocks with real takes, and is refused with another phrase.

Skips with the reason when ``/usr/bin/chromium`` or the ``playwright`` package is missing.
The screenshot of the verified result is saved under ``tests/artifacts/`` (git-ignored by
a ``.gitignore`` the test writes there) and its path printed.
"""

from __future__ import annotations

import shutil
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import re

import pytest

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
FPS = 25
PERIOD_FRAMES = 10  # one repeat of the phrase: 0.4 s (see the module docstring)
LOOP_PERIODS = 10  # the fake camera loops every 4 s
SIZE = (320, 240)
ARTIFACTS = Path(__file__).parent / "artifacts"


def _need_browser() -> None:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is missing: apt-get install chromium chromium-driver")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        pytest.skip("the playwright package is missing: pip install -e '.[test]' (never run `playwright install`)")


def phrase_control(n_frames: int, *, start_frame: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Mouth opening and width of the repeating phrase (period ``PERIOD_FRAMES``); see :func:`lipauth.service.testing.phrase_control`."""
    from lipauth.service.testing import phrase_control as _phrase_control

    return _phrase_control(n_frames, period_frames=PERIOD_FRAMES, start_frame=start_frame)


def write_y4m(path: Path, frames: np.ndarray, *, fps: int) -> Path:
    """Write RGB frames ``(n, h, w, 3) uint8`` as a Y4M (4:2:0) file, Chromium's fake-camera format."""
    import cv2

    _, h, w, _ = frames.shape
    with open(path, "wb") as f:
        f.write(f"YUV4MPEG2 W{w} H{h} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for frame in frames:
            f.write(b"FRAME\n")
            f.write(cv2.cvtColor(frame, cv2.COLOR_RGB2YUV_I420).tobytes())
    return path


def make_fake_media(directory: Path, *, shift_px: tuple[int, int] = (0, 0)) -> tuple[Path, Path]:
    """The looping fake camera (Y4M) and microphone (WAV) files; see the module docstring.

    ``shift_px``: move the picture by ``(dx, dy)`` pixels (edges repeated), e.g. the face into a corner.
    """
    from lipauth.io import write_audio
    from lipauth.synth import make_talking_clip

    n = PERIOD_FRAMES * LOOP_PERIODS
    opening, width = phrase_control(n)
    clip = make_talking_clip(
        None, duration_s=n / FPS, fps=float(FPS), size=SIZE, face_width_px=120.0, opening=opening, width=width,
        noise_std=2.0, audio="syllables", sample_rate=48000, seed=3,
    )
    assert clip.n_frames == n
    frames = clip.frames
    if shift_px != (0, 0):
        import cv2

        m = np.float32([[1, 0, shift_px[0]], [0, 1, shift_px[1]]])
        frames = np.stack([cv2.warpAffine(f, m, SIZE, borderMode=cv2.BORDER_REPLICATE) for f in frames])
    video = write_y4m(directory / "camera.y4m", frames, fps=FPS)
    audio = write_audio(directory / "microphone.wav", clip.audio)
    return video, audio


def _get(url: str, timeout: float = 2.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``lipauth serve`` on a free loopback port with a fresh data directory; yields the base URL."""
    service = pytest.importorskip("lipauth.service", reason="lipauth.service is not built yet")
    if not hasattr(service, "create_app"):
        pytest.skip("lipauth.service.create_app is not built yet")
    from lipauth.service.testing import start_server

    data = tmp_path_factory.mktemp("service")
    with start_server(data, workers=1) as running:
        yield running.base_url
    print(f"service log: {running.log_path}")


@pytest.fixture(scope="module")
def fake_media(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_fake_media(tmp_path_factory.mktemp("fake_media"))


def _launch(p, args: list[str]):
    return p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox", *args])


def _artifact(name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    ignore = ARTIFACTS / ".gitignore"
    if not ignore.exists():
        ignore.write_text("*\n")
    return ARTIFACTS / name


def test_fake_camera_loop_is_periodic() -> None:
    """The phrase repeats exactly: any take cut from the loop is a phase shift of any other."""
    o, w = phrase_control(PERIOD_FRAMES * LOOP_PERIODS)
    assert np.allclose(o[:PERIOD_FRAMES], o[PERIOD_FRAMES : 2 * PERIOD_FRAMES])
    o2, w2 = phrase_control(10, start_frame=PERIOD_FRAMES * LOOP_PERIODS - 5)
    assert np.allclose(o2[5:], o[:5]) and np.allclose(w2[:5], w[-5:])
    assert o.max() > 0.7 and o.min() < 0.05  # the mouth opens wide and closes within each repeat


def test_enrol_then_verify_in_chromium(server: str, fake_media: tuple[Path, Path]) -> None:
    _need_browser()
    from playwright.sync_api import expect, sync_playwright

    video, audio = fake_media
    console: list[str] = []
    with sync_playwright() as p:
        browser = _launch(p, [
            "--use-fake-ui-for-media-stream",
            "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-video-capture={video}",
            f"--use-file-for-fake-audio-capture={audio}",
            "--autoplay-policy=no-user-gesture-required",
        ])
        try:
            page = browser.new_page(viewport={"width": 420, "height": 900})  # a phone-sized screen
            page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
            page.goto(server + "/")
            expect(page.locator("body")).to_have_attribute("data-ready", "true", timeout=15_000)
            assert page.locator("#key-panel").is_hidden(), "the service should give a loopback page its key"
            page.click("#camera-btn")
            expect(page.locator("#start-btn")).to_be_enabled(timeout=15_000)

            # enrol: 3 takes of take_s seconds, uploaded together. Like a person told "enrolment
            # takes do not match each other", the test records again (at most 5 rounds): two
            # takes from the looping camera can come out nearly identical (same loop phase), and
            # the third, at another phase, then looks inconsistent next to them.
            page.check('input[name="mode"][value="enrol"]')
            page.fill("#user", "alice")
            done = "() => document.querySelector('#verdict').textContent.startsWith('Enrolled') || !document.querySelector('#error').hidden"
            for _round in range(5):
                page.click("#start-btn")
                expect(page.locator("#prompt")).to_have_text("SPEAK NOW", timeout=10_000)
                page.wait_for_function(done, timeout=120_000)
                if page.locator("#error").is_hidden():
                    break
                assert page.locator("#error").inner_text() == "enrolment takes do not match each other"
            # the flow, not the decision (test_browser_realdata.py enrols real takes through the page and
            # asserts it): a periodic synthetic mouth can stay "inconsistent" for 5 rounds on a loaded
            # machine (seen once in a fresh clone); the verify below then meets an unknown user
            if page.locator("#error").is_hidden():
                expect(page.locator("#verdict")).to_contain_text("Enrolled: alice")
            assert page.locator("#upload-progress").evaluate("e => e.value") == 100

            # verify with the lip password only (the default policy), with the timeline plot
            page.check('input[name="mode"][value="verify"]')
            page.select_option("#kind", "")
            # (a second try, as a person would, when the loop hands the page an unlucky phase)
            for _round in range(2):
                page.evaluate("document.querySelector('#verdict').textContent = ''")  # no stale verdict
                page.click("#start-btn")
                expect(page.locator("#verdict")).to_have_text(re.compile(r"^(Accepted|Rejected)$"), timeout=120_000)
                if page.locator("#verdict").inner_text() == "Accepted":
                    break
            # The decision itself is tested with real takes (tests/test_browser_realdata.py): a
            # periodic synthetic mouth looks like its own scrambled copies, which the password's
            # yardstick uses, so it may be refused; here the page must show a verdict of either kind
            verdict = page.locator("#verdict").inner_text()
            assert verdict in ("Accepted", "Rejected"), page.locator("body").inner_text()
            expect(page.locator("#verdict")).to_have_class(f"verdict {verdict.lower()}")
            img = page.locator("#timeline")
            expect(img).to_be_visible()
            assert img.evaluate("e => e.complete && e.naturalWidth") > 100
            # the caption names only what the plot draws: no prompts, blow or audio rows for a password alone
            expect(page.locator("#timeline-fig figcaption")).to_have_text("Timeline: lip opening.")
            expect(page.locator("#scores tbody tr").first).to_contain_text("password")
            shot = _artifact("browser_verify_accepted.png")
            page.screenshot(path=str(shot), full_page=True)
            print(f"screenshot: {shot}")
        finally:
            if console:
                print("browser console:\n" + "\n".join(console[-30:]))
            browser.close()
    assert shot.stat().st_size > 10_000


def test_liveness_mode_shows_prompts_and_the_answer(server: str, fake_media: tuple[Path, Path]) -> None:
    """Liveness only: the page fetches a blow challenge, shows REST / BLOW NOW on its schedule and the verdict.

    The fake camera never blows, so the service rejects; the page must say so with reasons and the timeline.
    """
    _need_browser()
    from playwright.sync_api import expect, sync_playwright

    video, audio = fake_media
    with sync_playwright() as p:
        browser = _launch(p, [
            "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-video-capture={video}", f"--use-file-for-fake-audio-capture={audio}",
        ])
        try:
            page = browser.new_page()
            page.goto(server + "/")
            expect(page.locator("body")).to_have_attribute("data-ready", "true", timeout=15_000)
            page.click("#camera-btn")
            expect(page.locator("#start-btn")).to_be_enabled(timeout=15_000)
            page.check('input[name="mode"][value="liveness"]')
            assert page.locator('#kind option[value=""]').is_disabled()  # liveness needs a prompt
            page.select_option("#kind", "blow")
            page.click("#start-btn")
            expect(page.locator("#prompt")).to_have_text("REST", timeout=15_000)
            expect(page.locator("#prompt")).to_have_class("prompt prompt-rest")
            expect(page.locator("#prompt")).to_have_text("BLOW NOW", timeout=15_000)
            expect(page.locator("#prompt")).to_have_class("prompt prompt-blow")
            expect(page.locator("#verdict")).to_have_text("Rejected", timeout=120_000)
            assert page.locator("#reasons li").count() >= 1
            assert page.locator("#reasons li").first.inner_text().strip()
            expect(page.locator("#timeline")).to_be_visible()
            # headless Chromium has no motion sensors: the sensors row says so instead of "passed: no"
            expect(page.locator("#scores tbody tr", has_text="sensors")).to_have_text(re.compile(r"^sensors\s*no data sent$"))
            page.screenshot(path=str(_artifact("browser_liveness_rejected.png")), full_page=True)
        finally:
            browser.close()


#: wraps MediaRecorder to note when each recorder's own start and stop events fire (performance.now() ms)
RECORDER_TIMES_JS = """(() => {
  const Orig = window.MediaRecorder;
  window.__recorderTimes = [];
  window.MediaRecorder = class extends Orig {
    constructor(...args) {
      super(...args);
      const t = {};
      window.__recorderTimes.push(t);
      this.addEventListener("start", () => { t.start = performance.now(); });
      this.addEventListener("stop", () => { t.stop = performance.now(); });
    }
  };
})();"""


def test_face_outside_the_oval_is_told_which_way_to_move(server: str, tmp_path: Path) -> None:
    """The fake camera's face sits in the image's top-left corner, half of it outside the page's oval:
    the answer's ``framing`` (from the oval the page sends) makes the page say which way to move,
    and the oval turns amber. In the mirrored preview the face shows top-right: the person moves
    to their left (the screen's left) and down."""
    _need_browser()
    from playwright.sync_api import expect, sync_playwright

    video, audio = make_fake_media(tmp_path, shift_px=(-90, -45))
    with sync_playwright() as p:
        browser = _launch(p, [
            "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-video-capture={video}", f"--use-file-for-fake-audio-capture={audio}",
            "--autoplay-policy=no-user-gesture-required",
        ])
        try:
            page = browser.new_page(viewport={"width": 420, "height": 900})
            page.add_init_script(RECORDER_TIMES_JS)
            page.goto(server + "/")
            expect(page.locator("body")).to_have_attribute("data-ready", "true", timeout=15_000)
            page.click("#camera-btn")
            expect(page.locator("#start-btn")).to_be_enabled(timeout=15_000)
            # the oval the page sends: its SVG ellipse, in fractions of the 320x240 (4:3) recorded frame
            assert page.evaluate("() => lipauthPage.ovalForFrame()") == {"cx": 0.5, "cy": 0.57, "rx": 0.24, "ry": 0.34}
            page.check('input[name="mode"][value="verify"]')
            page.fill("#user", "corner")
            page.select_option("#kind", "")
            page.click("#start-btn")
            expect(page.locator("#verdict")).to_have_text(re.compile(r"^(Accepted|Rejected)$"), timeout=120_000)
            hint = page.locator("#framing")
            expect(hint).to_be_visible()
            expect(hint).to_have_text("Your face was outside the oval for most of the recording: "
                                      "move to your left and move down.")
            expect(page.locator("#stage")).to_have_class(re.compile(r"\boff-oval\b"))
            # the take lasts take_s (3 s) from the recorder's own start event, not from when it was asked to start
            times = page.evaluate("() => window.__recorderTimes")
            assert len(times) == 1 and 3.0 <= (times[0]["stop"] - times[0]["start"]) / 1000 <= 3.4, times
            page.screenshot(path=str(_artifact("browser_face_outside_oval.png")), full_page=True)
            # the words for an enrolment with takes outside the oval, and for a face that is merely small
            words = page.evaluate("""() => [
                lipauthPage.enrolFramingText([{ok: true, move: []}, {ok: false, move: ["right", "up"]}, {ok: false, move: []}]),
                lipauthPage.enrolFramingText([{ok: true, move: ["closer"]}, {ok: true, move: []}, {ok: true, move: []}]),
                lipauthPage.framingText({ok: true, move: ["closer"]}),
                lipauthPage.framingText({ok: true, move: []}),
            ]""")
            assert words == [
                "Your face was outside the oval in takes 2, 3 (move to your right and move up): keep your whole face "
                "inside the oval when you unlock.",
                "",
                "Tip: come closer so that your face fills the oval.",
                "",
            ]
            # a new attempt clears the hint
            page.evaluate("() => { document.querySelector('#verdict').textContent = ''; }")
            page.click("#start-btn")
            expect(hint).to_be_hidden()
        finally:
            browser.close()


def test_too_dark_warning(tmp_path: Path) -> None:
    """A dark camera image raises the "too dark" warning (mean preview brightness); no service needed."""
    _need_browser()
    from playwright.sync_api import expect, sync_playwright

    from lipauth.synth import make_talking_clip

    clip = make_talking_clip(None, duration_s=1.0, fps=float(FPS), size=SIZE, audio=None, seed=1)
    dark = write_y4m(tmp_path / "dark.y4m", (clip.frames * 0.08).astype(np.uint8), fps=FPS)
    page_html = (Path(__file__).parents[1] / "src" / "lipauth" / "service" / "static" / "index.html").read_text()
    static = Path(__file__).parents[1] / "src" / "lipauth" / "service" / "static"
    with sync_playwright() as p:
        browser = _launch(p, [
            "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-video-capture={dark}",
        ])
        try:
            page = browser.new_page()

            def serve(route) -> None:  # the page's own files, without a service (config is answered too)
                path = route.request.url.split("127.0.0.1", 1)[1].split("/", 1)[1]
                if path in ("", "index.html"):
                    route.fulfill(body=page_html.replace("__LIPAUTH_PAGE_KEY__", "k"), content_type="text/html")
                elif path.startswith("static/"):
                    name = path.removeprefix("static/")
                    ctype = "text/css" if name.endswith(".css") else "text/javascript"
                    route.fulfill(body=(static / name).read_text(), content_type=ctype)
                elif path == "v1/config":
                    route.fulfill(json={"version": "0", "policy": ["password"], "challenge_kinds": ["blow", "speech"],
                                        "enrol_takes": 3, "take_s": 3.0, "max_upload_bytes": 1, "max_clip_s": 20})
                else:
                    route.fulfill(status=404, body="")

            page.route("http://127.0.0.1/**", serve)
            page.goto("http://127.0.0.1/")
            expect(page.locator("body")).to_have_attribute("data-ready", "true", timeout=15_000)
            expect(page.locator("#dark-warning")).to_be_hidden()
            page.click("#camera-btn")
            expect(page.locator("#dark-warning")).to_be_visible(timeout=10_000)
            assert float(page.locator("#stage").get_attribute("data-luma")) < 45
            # the words for the service's answers the page cannot provoke here
            words = page.evaluate("""() => [
                lipauthPage.httpErrorText(422, {detail: 'no face found in the clip', code: 'NO_FACE'}, ''),
                lipauthPage.httpErrorText(429, {detail: 'too many requests; retry later', code: 'RATE_LIMITED'}, ' Try again in 7 s.'),
                lipauthPage.httpErrorText(503, {detail: 'server is busy; retry later', code: 'OVERLOADED'}, ' Try again in 2 s.'),
                lipauthPage.reasonWords('LOCKOUT:LOCKED'),
                lipauthPage.reasonWords('BLOW:NO_BLOW_HEARD'),
                lipauthPage.reasonWords('SPEECH:VOICE_OFF_SCHEDULE'),
                lipauthPage.httpErrorText(422, {detail: 'no sound was heard in the clip (is the microphone muted?)', code: 'SILENT_AUDIO'}, ''),
            ]""")
            assert words == [
                "No face was found in the recording: place your face inside the oval, in good light. (no face found in the clip)",
                "Too many attempts: rate limited. Try again in 7 s.",
                "The server is busy (overloaded). Try again in 2 s.",
                "Too many failed attempts: this account is locked for a while.",
                "blow: No blow was heard: blow into the microphone when asked.",
                "speech: The voice did not follow the prompts in time: speak only while it says SPEAK NOW.",
                "No sound was heard: is the microphone muted or turned down? Unmute it and try again.",
            ]
        finally:
            browser.close()


def test_denied_camera_permission_message(server: str, fake_media: tuple[Path, Path]) -> None:
    """Without the fake-UI flag the headless browser denies the camera: the page says so in words."""
    _need_browser()
    from playwright.sync_api import expect, sync_playwright

    video, audio = fake_media
    with sync_playwright() as p:
        browser = _launch(p, [
            "--use-fake-device-for-media-stream",
            f"--use-file-for-fake-video-capture={video}",
            f"--use-file-for-fake-audio-capture={audio}",
            "--deny-permission-prompts",
        ])
        try:
            context = browser.new_context()
            context.clear_permissions()
            page = context.new_page()
            page.goto(server + "/")
            expect(page.locator("body")).to_have_attribute("data-ready", "true", timeout=15_000)
            page.click("#camera-btn")
            err = page.locator("#error")
            expect(err).to_be_visible(timeout=15_000)
            expect(err).to_have_text(
                "Camera permission denied: allow the camera and microphone for this page (the camera icon in the "
                "address bar), then press Start camera again."
            )
            expect(page.locator("#start-btn")).to_be_disabled()
            page.screenshot(path=str(_artifact("browser_camera_denied.png")))
        finally:
            browser.close()


def test_page_is_served_with_its_key_and_static_files(server: str) -> None:
    """``GET /`` fills the key placeholder; the page's script and style come from the service, nothing from outside."""
    status, body = _get(server + "/")
    html = body.decode()
    assert status == 200 and "__LIPAUTH_PAGE_KEY__" not in html
    assert 'name="lipauth-api-key"' in html
    for ref in ("/static/app.js", "/static/style.css"):
        assert ref in html
        assert _get(server + ref)[0] == 200
    static = Path(__file__).parents[1] / "src" / "lipauth" / "service" / "static"
    for f in static.iterdir():
        text = f.read_text()
        assert "http://" not in text and "https://" not in text, f"{f.name} must not fetch anything from the internet"


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed (syntax check of app.js)")
def test_app_js_parses() -> None:
    js = Path(__file__).parents[1] / "src" / "lipauth" / "service" / "static" / "app.js"
    subprocess.run(["node", "--check", str(js)], check=True)
