/* lipauth browser page: enrol, verify, liveness. Plain JS, no build step, nothing fetched
 * from anywhere but this service. The API contract is in src/lipauth/service/API.md. */
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const KEY_STORE = "lipauth-api-key";
  const DARK_LUMA = 45; // mean luma (0-255) of the preview below which we warn "too dark"

  const state = {
    config: null,
    stream: null,
    busy: false,
    motion: null, // {samples, last, orient} while recording
  };

  // ---- reasons in words -------------------------------------------------------------
  const REASON_WORDS = {
    "PASSWORD:MISMATCH": "The lip movement did not match the enrolled lip password.",
    "PASSWORD:NO_UTTERANCE": "No lip password was seen: say your password while the prompt says SPEAK NOW.",
    "LOCKOUT:LOCKED": "Too many failed attempts: this account is locked for a while.",
    "SYNC:MISSING": "No sound was recorded, so lips and voice could not be compared.",
    NO_FACE: "No face was found: place your face inside the oval.",
    NO_LIP_MOTION: "Your lips did not move.",
    LIPS_NOT_MOVING: "Your lips did not move.",
    LIPS_MOVE_OUTSIDE_PROMPT: "Your lips moved outside the prompts: rest when it says REST.",
    MOUTH_NOT_BLOWING: "Your mouth did not blow when asked.",
    MOUTH_BLOW_OUTSIDE_PROMPT: "You blew outside the BLOW NOW prompts.",
    BLOW_OUTSIDE_PROMPT: "A blow was heard outside the BLOW NOW prompts.",
    MOUTH_OFF_SCHEDULE: "The mouth did not follow the prompts in time.",
    VOICE_OFF_SCHEDULE: "The voice did not follow the prompts in time: speak only while it says SPEAK NOW.",
    NO_BLOW_HEARD: "No blow was heard: blow into the microphone when asked.",
    NO_SPEECH_HEARD: "No speech was heard: speak when asked.",
    NO_SPEECH: "No speech was seen.",
    SPEECH_OUTSIDE_PROMPT: "Speech was heard outside the SPEAK NOW prompts.",
    STILL_FACE_WITH_VOICE: "A voice was heard but the face did not move (a photo or a replay?).",
    AV_DESYNC: "The voice follows the lips at another moment: out of sync (a replay or a dub?).",
    AV_MISMATCH: "Lips and voice did not match closely enough: face the camera in good light and speak clearly.",
    LOOPED_LIPS: "The lip movement repeats itself (a looped video?).",
    LITTLE_SPEECH: "Too little speech to be sure: speak for longer.",
    NO_AUDIO: "The recording has no sound.",
    LOW_CONFIDENCE: "The evidence was too weak to decide.",
    CLIP_TOO_SHORT: "The recording is too short.",
    CHALLENGE_EXPIRED: "The prompt expired: try again.",
    NO_CHALLENGE: "No prompt was answered.",
    STATIC_DEVICE: "The device did not move at all (a rig or an emulator?).",
    REPLAYED_TRACE: "The motion sensor trace was replayed.",
    MOTION_UNLIKE_PROFILE: "The device motion is unlike this user's.",
    NO_SENSOR_DATA: "This device gave no motion sensor data.",
    BELOW_THRESHOLD: "The score was below the threshold.",
    UNAVAILABLE: "This check could not run on this recording.",
    MISSING: "This required check did not run.",
  };

  function reasonWords(code) {
    if (REASON_WORDS[code]) return REASON_WORDS[code];
    const parts = String(code).split(":");
    const tail = parts[parts.length - 1];
    const check = parts.length > 1 ? parts[0].toLowerCase() + ": " : "";
    if (REASON_WORDS[tail]) return check + REASON_WORDS[tail];
    return check + tail.toLowerCase().replace(/_/g, " ");
  }

  // ---- messages -----------------------------------------------------------------------
  function setStatus(text) { $("status").textContent = text; }

  function showError(text) {
    const el = $("error");
    el.textContent = text;
    el.hidden = !text;
  }

  function setPrompt(text, kind) {
    const el = $("prompt");
    el.textContent = text || "";
    el.className = "prompt" + (kind ? " prompt-" + kind : "");
  }

  function setCountdown(text) { $("countdown").textContent = text || ""; }

  // ---- API key ------------------------------------------------------------------------
  function apiKey() {
    const meta = document.querySelector('meta[name="lipauth-api-key"]');
    const fromPage = meta ? meta.content : "";
    if (fromPage && fromPage !== "__LIPAUTH_PAGE_KEY__") return fromPage;
    try { return window.localStorage.getItem(KEY_STORE) || ""; } catch (e) { return ""; }
  }

  function initKeyPanel() {
    const meta = document.querySelector('meta[name="lipauth-api-key"]');
    const fromPage = meta ? meta.content : "";
    if (fromPage && fromPage !== "__LIPAUTH_PAGE_KEY__") return;
    $("key-panel").hidden = false;
    $("api-key").value = apiKey();
    $("key-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const v = $("api-key").value.trim();
      try { window.localStorage.setItem(KEY_STORE, v); } catch (e) { /* private mode: kept for this page only */ }
      setStatus(v ? "API key saved in this browser." : "API key cleared.");
    });
  }

  // ---- HTTP ---------------------------------------------------------------------------
  function retryAfterText(xhrOrResp) {
    const h = xhrOrResp.getResponseHeader ? xhrOrResp.getResponseHeader("Retry-After") : xhrOrResp.headers.get("Retry-After");
    const s = parseInt(h || "", 10);
    return Number.isFinite(s) ? " Try again in " + s + " s." : " Try again later.";
  }

  /** Words for an error answer: {status, body: {detail, code}, retry} */
  function httpErrorText(status, body, retry) {
    const detail = body && body.detail ? String(body.detail) : "";
    const code = body && body.code ? String(body.code) : "";
    if (status === 0) return "The server could not be reached. Is `lipauth serve` running?";
    if (status === 401) return "The API key is missing or invalid. " + (detail ? "(" + detail + ")" : "");
    if (status === 423 || code === "LOCKED_OUT") return "Locked out after too many failed attempts." + retry;
    if (status === 429) return "Too many attempts: rate limited." + retry;
    if (status === 503) return "The server is busy (overloaded)." + retry;
    if (code === "NO_FACE" || code === "TOO_FEW_FACE_FRAMES" || /no face/i.test(detail)) return "No face was found in the recording: place your face inside the oval, in good light. (" + detail + ")";
    if (code === "SILENT_AUDIO") return "No sound was heard: is the microphone muted or turned down? Unmute it and try again.";
    if (code === "NO_AUDIO") {
      const mic = state.stream && state.stream.getAudioTracks && state.stream.getAudioTracks().length > 0;
      return mic ? "The recording has no sound although the microphone is on: allow the microphone for this page and try again."
        : "The recording has no sound: allow the microphone and start the camera again. (" + detail + ")";
    }
    if (status === 413) return "The recording is too large or too long. (" + detail + ")";
    if (status === 415 || code === "CORRUPT_MEDIA") return "This browser's recording could not be read by the server. (" + detail + ")";
    if (status === 504) return "The analysis took too long: try again with a shorter, steadier recording. (" + detail + ")";
    if (status === 410) return "The prompt expired before the upload finished: try again. (" + detail + ")";
    if (status === 409) return detail || "Conflict.";
    if (status >= 500) return "The server failed to analyse the recording." + (detail ? " (" + detail + ")" : "");
    return detail || ("HTTP " + status);
  }

  async function getJSON(path) {
    const resp = await fetch(path, { headers: { "X-API-Key": apiKey() } });
    let body = null;
    try { body = await resp.json(); } catch (e) { body = null; }
    if (!resp.ok) throw new Error(httpErrorText(resp.status, body, retryAfterText(resp)));
    return body;
  }

  async function postJSON(path, payload) {
    const resp = await fetch(path, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-API-Key": apiKey() },
      body: JSON.stringify(payload),
    });
    let body = null;
    try { body = await resp.json(); } catch (e) { body = null; }
    if (!resp.ok) throw new Error(httpErrorText(resp.status, body, retryAfterText(resp)));
    return body;
  }

  /** multipart upload with a progress bar (XMLHttpRequest upload.onprogress) */
  function upload(path, form) {
    const bar = $("upload-progress");
    const pct = $("upload-pct");
    $("upload").hidden = false;
    bar.value = 0; pct.textContent = "0 %";
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open("POST", path);
      xhr.setRequestHeader("X-API-Key", apiKey());
      xhr.upload.onprogress = (ev) => {
        if (!ev.lengthComputable) return;
        const p = Math.round((100 * ev.loaded) / ev.total);
        bar.value = p; bar.textContent = p + " %"; pct.textContent = p + " %";
      };
      xhr.upload.onload = () => { bar.value = 100; pct.textContent = "100 %"; setStatus("Uploaded; analysing..."); };
      xhr.onerror = () => reject(new Error(httpErrorText(0, null, "")));
      xhr.onload = () => {
        let body = null;
        try { body = JSON.parse(xhr.responseText); } catch (e) { body = null; }
        if (xhr.status >= 200 && xhr.status < 300) resolve(body || {});
        else reject(new Error(httpErrorText(xhr.status, body, retryAfterText(xhr))));
      };
      xhr.send(form);
    });
  }

  // ---- camera -------------------------------------------------------------------------
  function cameraErrorText(err) {
    const name = err && err.name ? err.name : "";
    if (name === "NotAllowedError" || name === "SecurityError" || name === "PermissionDeniedError")
      return "Camera permission denied: allow the camera and microphone for this page (the camera icon in the address bar), then press Start camera again.";
    if (name === "NotFoundError" || name === "DevicesNotFoundError" || name === "OverconstrainedError")
      return "No camera found: connect a camera (and a microphone) and press Start camera again.";
    if (name === "NotReadableError" || name === "TrackStartError")
      return "The camera is in use by another application: close it and press Start camera again.";
    return "The camera could not be started: " + (err && err.message ? err.message : String(err));
  }

  async function startCamera() {
    showError("");
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      showError("This browser cannot use the camera here: open the page over https or on localhost, in a current browser.");
      return;
    }
    if (typeof window.MediaRecorder === "undefined") {
      showError("This browser cannot record video (no MediaRecorder): use a current Chrome, Firefox or Safari.");
      return;
    }
    setStatus("Asking for the camera and microphone...");
    try {
      state.stream = await navigator.mediaDevices.getUserMedia({
        video: { facingMode: "user", width: { ideal: 640 }, height: { ideal: 480 }, frameRate: { ideal: 30 } },
        audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false },
      });
    } catch (err) {
      state.stream = null;
      showError(cameraErrorText(err));
      setStatus("Camera not available.");
      return;
    }
    const video = $("preview");
    video.srcObject = state.stream;
    try { await video.play(); } catch (e) { /* autoplay attribute covers it */ }
    $("start-btn").disabled = false;
    // on a phone the Start button sits below the preview: bring it up without hiding the oval
    if ($("start-btn").scrollIntoView) $("start-btn").scrollIntoView({ behavior: "smooth", block: "nearest" });
    $("camera-btn").textContent = "Restart camera";
    setStatus("Camera on. Place your face inside the oval and press Start.");
    watchBrightness();
    watchFraming();
  }

  let brightnessTimer = null;
  function watchBrightness() {
    if (brightnessTimer) return;
    const canvas = document.createElement("canvas");
    canvas.width = 32; canvas.height = 24;
    const ctx = canvas.getContext("2d", { willReadFrequently: true });
    brightnessTimer = window.setInterval(() => {
      const video = $("preview");
      if (!state.stream || video.readyState < 2) return;
      ctx.drawImage(video, 0, 0, canvas.width, canvas.height);
      const d = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
      let sum = 0;
      for (let i = 0; i < d.length; i += 4) sum += 0.299 * d[i] + 0.587 * d[i + 1] + 0.114 * d[i + 2];
      const luma = sum / (d.length / 4);
      $("dark-warning").hidden = luma >= DARK_LUMA;
      $("stage").dataset.luma = luma.toFixed(1);
    }, 500);
  }

  // ---- device motion ------------------------------------------------------------------
  async function askMotionPermission() {
    // iOS asks for motion access on a user gesture; elsewhere this is a no-op.
    try {
      if (window.DeviceMotionEvent && typeof DeviceMotionEvent.requestPermission === "function")
        await DeviceMotionEvent.requestPermission();
      if (window.DeviceOrientationEvent && typeof DeviceOrientationEvent.requestPermission === "function")
        await DeviceOrientationEvent.requestPermission();
    } catch (e) { /* denied: no sensors are sent */ }
  }

  function onOrientation(ev) {
    if (!state.motion) return;
    state.motion.orient = { alpha: ev.alpha, beta: ev.beta, gamma: ev.gamma };
  }

  function onMotion(ev) {
    const m = state.motion;
    if (!m) return;
    const a = ev.accelerationIncludingGravity;
    if (!a || a.x === null || a.y === null || a.z === null) return;
    const t = Math.round((performance.now() - m.t0) * 1000) / 1000;
    if (m.samples.length && t <= m.samples[m.samples.length - 1].t_ms) return; // strictly increasing
    const o = m.orient || {};
    const num = (v, lo, hi) => (typeof v === "number" && Number.isFinite(v) ? Math.min(hi, Math.max(lo, v)) : 0);
    m.samples.push({
      t_ms: t, ax: a.x, ay: a.y, az: a.z,
      alpha: num(o.alpha, 0, 360), beta: num(o.beta, -180, 180), gamma: num(o.gamma, -90, 90),
    });
  }

  function startMotion() {
    state.motion = { t0: performance.now(), samples: [], orient: null };
    window.addEventListener("devicemotion", onMotion);
    window.addEventListener("deviceorientation", onOrientation);
  }

  /** the samples as JSON text (format of lipauth.checks.sensors.parse_sensor_json), or "" */
  function stopMotion() {
    window.removeEventListener("devicemotion", onMotion);
    window.removeEventListener("deviceorientation", onOrientation);
    const m = state.motion;
    state.motion = null;
    if (!m || m.samples.length < 2) return "";
    return JSON.stringify(m.samples);
  }

  // ---- recording ----------------------------------------------------------------------
  function recorderType() {
    const types = ["video/webm;codecs=vp8,opus", "video/webm;codecs=vp9,opus", "video/webm", "video/mp4"];
    for (const t of types) if (MediaRecorder.isTypeSupported && MediaRecorder.isTypeSupported(t)) return t;
    return "";
  }

  const PROMPT_WORDS = { blow: ["BLOW NOW", "blow"], speak: ["SPEAK NOW", "speak"], speech: ["SPEAK NOW", "speak"] };

  /**
   * Record `durationS` seconds. `windows` ([[start_s, end_s, prompt], ...]) drive the
   * prompts (REST outside them); `always` is shown for the whole take instead (enrolment).
   * Resolves to a Blob.
   */
  function record(durationS, { windows = null, always = null } = {}) {
    return new Promise((resolve, reject) => {
      const type = recorderType();
      let rec;
      try {
        rec = type ? new MediaRecorder(state.stream, { mimeType: type }) : new MediaRecorder(state.stream);
      } catch (err) {
        reject(new Error("This browser cannot record the camera: " + err.message));
        return;
      }
      const chunks = [];
      let timer = null;
      let t0 = 0;
      rec.ondataavailable = (ev) => { if (ev.data && ev.data.size) chunks.push(ev.data); };
      rec.onerror = (ev) => { window.clearInterval(timer); reject(new Error("Recording failed: " + (ev.error ? ev.error.message : "unknown error"))); };
      rec.onstop = () => {
        window.clearInterval(timer);
        setPrompt("", null); setCountdown("");
        $("stage").classList.remove("recording");
        resolve(new Blob(chunks, { type: rec.mimeType || type || "video/webm" }));
      };
      rec.onstart = () => {
        t0 = performance.now();
        $("stage").classList.add("recording");
        const tick = () => {
          const t = (performance.now() - t0) / 1000;
          if (t >= durationS) {
            if (rec.state === "recording") rec.stop();
            return;
          }
          if (always) {
            setPrompt(always[0], always[1]);
            setCountdown(Math.ceil(durationS - t) + " s");
          } else {
            const w = (windows || []).find((x) => t >= x[0] && t < x[1]);
            if (w) {
              const words = PROMPT_WORDS[w[2]] || [String(w[2]).toUpperCase() + " NOW", "speak"];
              setPrompt(words[0], words[1]);
              setCountdown((w[1] - t).toFixed(1) + " s");
            } else {
              const next = (windows || []).find((x) => x[0] > t);
              setPrompt("REST", "rest");
              setCountdown(next ? "next in " + (next[0] - t).toFixed(1) + " s" : Math.ceil(durationS - t) + " s left");
            }
          }
        };
        tick();
        timer = window.setInterval(tick, 50);
      };
      rec.start(250);
    });
  }

  async function getReady(text, seconds) {
    for (let s = seconds; s > 0; s--) {
      setPrompt(text, "ready");
      setCountdown(String(s));
      await new Promise((r) => window.setTimeout(r, 1000));
    }
  }

  function fileName(blob, stem) {
    return stem + (/mp4/.test(blob.type) ? ".mp4" : ".webm");
  }

  // ---- framing: was the face inside the oval? ------------------------------------------
  /**
   * The oval drawn over the preview, in fractions of the recorded frame (what the server's
   * `oval` field wants): the SVG spans the 4:3 stage (viewBox 0-100), the video covers the
   * stage (object-fit: cover, cropped evenly) and is mirrored. null before the camera runs.
   */
  function ovalForFrame() {
    const video = $("preview");
    const el = document.querySelector(".guide ellipse");
    const stage = $("stage");
    const W = video.videoWidth, H = video.videoHeight, w = stage.clientWidth, h = stage.clientHeight;
    if (!el || !W || !H || !w || !h) return null;
    const frac = (a) => parseFloat(el.getAttribute(a)) / 100;
    const s = Math.max(w / W, h / H);
    const ox = (w - W * s) / 2, oy = (h - H * s) / 2;
    const clip = (v, lo) => Math.round(1e4 * Math.min(1, Math.max(lo, v))) / 1e4;
    return {
      cx: clip(1 - (frac("cx") * w - ox) / s / W, 0), // the preview is mirrored, the recording is not
      cy: clip((frac("cy") * h - oy) / s / H, 0),
      rx: clip((frac("rx") * w) / s / W, 0.02),
      ry: clip((frac("ry") * h) / s / H, 0.02),
    };
  }

  function appendOval(form) {
    const oval = ovalForFrame();
    if (oval) form.append("oval", JSON.stringify(oval));
  }

  const MOVE_WORDS = { left: "move to your left", right: "move to your right", up: "move up", down: "move down",
    closer: "come closer", back: "move back a little" };

  function moveWords(move) {
    const words = (move || []).map((m) => MOVE_WORDS[m] || m);
    if (words.length <= 1) return words.join("");
    return words.slice(0, -1).join(", ") + " and " + words[words.length - 1];
  }

  /** the words for one recording's framing, or "" when the face sat well in the oval */
  function framingText(f) {
    if (!f) return "";
    const how = moveWords(f.move);
    if (!f.ok) return "Your face was outside the oval for most of the recording: " + (how || "keep your whole face inside the oval") + ".";
    if (how) return "Tip: " + how + " so that your face fills the oval.";
    return "";
  }

  function enrolFramingText(list) {
    if (!Array.isArray(list)) return "";
    const off = list.map((f, i) => [f, i + 1]).filter(([f]) => f && !f.ok);
    if (!off.length) return "";
    const takes = off.map(([, n]) => n);
    const how = moveWords(off[0][0].move);
    return "Your face was outside the oval in take" + (takes.length > 1 ? "s " : " ") + takes.join(", ") +
      (how ? " (" + how + ")" : "") + ": keep your whole face inside the oval when you unlock.";
  }

  /** the live hint for one preview picture (POST /v1/framing), or "" when the face sits well in the oval */
  function previewText(body) {
    if (!body) return "";
    if (!body.face) return "No face in view: look into the camera, in good light.";
    const f = body.framing || {};
    const how = moveWords(f.move);
    if (!f.ok) return "Your face is outside the oval: " + (how || "bring your whole face inside it") + ".";
    if (how) return "Tip: " + how + " so that your face fills the oval.";
    return "";
  }

  /**
   * Before recording: every PREVIEW_MS a small picture of the preview goes to POST
   * /v1/framing; the oval turns amber with words when the face is outside it, green when it
   * sits in it. Paused while a take is recorded or analysed; on an error (busy server, rate
   * limit) the hint is hidden and the next try waits longer.
   */
  const PREVIEW_MS = 1500;
  let previewTimer = null;
  function watchFraming() {
    if (previewTimer) return;
    const canvas = document.createElement("canvas");
    let inFlight = false, skipUntil = 0;
    const clear = () => {
      $("preview-hint").hidden = true;
      $("stage").classList.remove("preview-off", "preview-framed");
    };
    previewTimer = window.setInterval(() => {
      const video = $("preview");
      if (state.busy) { clear(); return; }
      if (inFlight || document.hidden || Date.now() < skipUntil || !state.stream || video.readyState < 2 || !apiKey()) return;
      const oval = ovalForFrame();
      if (!oval) return;
      canvas.width = Math.min(640, video.videoWidth); // a small face needs the pixels the recording would have
      canvas.height = Math.max(1, Math.round(canvas.width * video.videoHeight / video.videoWidth));
      canvas.getContext("2d").drawImage(video, 0, 0, canvas.width, canvas.height); // not mirrored, as recorded
      inFlight = true;
      canvas.toBlob(async (blob) => {
        try {
          if (!blob) return;
          const form = new FormData();
          form.append("frame", blob, "preview.jpg");
          form.append("oval", JSON.stringify(oval));
          const resp = await fetch("/v1/framing", { method: "POST", headers: { "X-API-Key": apiKey() }, body: form });
          if (!resp.ok) { clear(); skipUntil = Date.now() + 10000; return; }
          const body = await resp.json();
          if (state.busy) return;
          const text = previewText(body);
          const hint = $("preview-hint");
          hint.textContent = text;
          hint.hidden = !text;
          const off = !body.face || !(body.framing && body.framing.ok);
          $("stage").classList.toggle("preview-off", off);
          $("stage").classList.toggle("preview-framed", !off);
          $("stage").dataset.previewFace = String(!!body.face);
        } catch (e) {
          clear(); skipUntil = Date.now() + 10000;
        } finally {
          inFlight = false;
        }
      }, "image/jpeg", 0.7);
    }, PREVIEW_MS);
  }

  function showFraming(text) {
    const el = $("framing");
    el.textContent = text;
    el.hidden = !text;
    $("stage").classList.toggle("off-oval", /outside the oval/.test(text));
  }

  // ---- result -------------------------------------------------------------------------
  function showResult(body, mode) {
    $("result").hidden = false;
    const verdict = $("verdict");
    const list = $("reasons");
    list.innerHTML = "";
    if (mode === "enrol") {
      verdict.textContent = "Enrolled: " + body.user + " (" + body.takes + " takes, label " + body.label + ")";
      verdict.className = "verdict accepted";
      showFraming(enrolFramingText(body.framing));
      $("scores").hidden = true;
      $("timeline-fig").hidden = true;
      return;
    }
    showFraming(framingText(body.framing));
    const ok = !!body.accepted;
    verdict.textContent = ok ? "Accepted" : "Rejected";
    verdict.className = "verdict " + (ok ? "accepted" : "rejected");
    for (const r of body.reasons || []) {
      const li = document.createElement("li");
      li.textContent = reasonWords(r);
      li.dataset.code = r;
      list.appendChild(li);
    }
    if (!ok && body.retry_after_s) {
      const li = document.createElement("li");
      li.textContent = "Locked out: try again in " + Math.ceil(body.retry_after_s) + " s.";
      list.appendChild(li);
    }
    const tbody = $("scores").querySelector("tbody");
    tbody.innerHTML = "";
    const rows = [];
    if (Array.isArray(body.checks)) {
      for (const c of body.checks) {
        // a check that could not run (e.g. no sensor data sent) says so instead of "no"
        if (c.available === false) rows.push([c.check, null, null, c.check === "sensors" ? "no data sent" : "did not run"]);
        else rows.push([c.check, c.score, c.threshold, c.accepted]);
      }
    } else if (body.scores && typeof body.scores === "object") {
      for (const [k, v] of Object.entries(body.scores)) rows.push([k, v, null, null]);
    }
    if (!rows.length && typeof body.score === "number") rows.push(["sync", body.score, body.threshold, body.accepted]);
    const fmt = (v) => (typeof v === "number" && Number.isFinite(v) ? v.toFixed(3) : v === null || v === undefined ? "" : String(v));
    for (const [name, score, thr, passed] of rows) {
      const tr = document.createElement("tr");
      const passedText = typeof passed === "string" ? passed : passed === null || passed === undefined ? "" : passed ? "yes" : "no";
      for (const v of [name, fmt(score), fmt(thr), passedText]) {
        const td = document.createElement("td");
        td.textContent = v;
        tr.appendChild(td);
      }
      tbody.appendChild(tr);
    }
    $("scores").hidden = rows.length === 0;
    if (body.timeline_png) {
      $("timeline").src = "data:image/png;base64," + body.timeline_png;
      // the caption names only what the plot draws: prompts and blow/voice rows come with a challenge
      const names = rows.map((r) => r[0]);
      const parts = [];
      if (names.includes("blow")) parts.push("prompts", "blow probability", "mouth shape");
      else if (names.includes("speech")) parts.push("prompts", "voice activity", "mouth shape");
      parts.push(names.includes("sync") ? "lip motion vs audio" : "lip opening");
      $("timeline-fig").querySelector("figcaption").textContent = "Timeline: " + parts.join(", ") + ".";
      $("timeline-fig").hidden = false;
    } else {
      $("timeline-fig").hidden = true;
    }
  }

  /** on a small screen the verdict lands below the fold: bring it into view */
  function scrollToResult() {
    const el = $("result");
    if (el && !el.hidden && el.scrollIntoView) el.scrollIntoView({ behavior: "smooth", block: "start" });
  }

  // ---- modes --------------------------------------------------------------------------
  function mode() { return document.querySelector('input[name="mode"]:checked').value; }

  function requiredKind() {
    const policy = (state.config && state.config.policy) || [];
    if (policy.includes("blow")) return "blow";
    if (policy.includes("speech")) return "speech";
    if (policy.includes("challenge")) return "any";
    return "";
  }

  function updateMode() {
    const m = mode();
    const kindRow = $("kind-row");
    const kind = $("kind");
    const none = kind.querySelector('option[value=""]');
    const req = requiredKind();
    kindRow.hidden = m === "enrol";
    none.disabled = m === "liveness" || req !== "";
    if (none.disabled && kind.value === "") kind.value = req === "speech" ? "speech" : "blow";
    for (const opt of kind.options) if (opt.value && req && req !== "any") opt.disabled = opt.value !== req;
    if (req && req !== "any") kind.value = req;
    $("user").required = m !== "liveness";
    const cfg = state.config || { enrol_takes: 3, take_s: 3 };
    const help = {
      enrol: "Choose a short phrase as your lip password. You will say it " + cfg.enrol_takes + " times, " + cfg.take_s + " s each, the same way each time.",
      verify: "Say your lip password when the page says SPEAK NOW; with a prompt, blow or speak only while it says so and rest otherwise.",
      liveness: "Proves a live person is in front of the camera: follow the prompts (BLOW NOW / SPEAK NOW / REST).",
    }[m];
    $("mode-help").textContent = help;
  }

  function validUser() {
    const u = $("user").value.trim();
    if (!u) throw new Error("Enter a user name first.");
    if (!/^[A-Za-z0-9_.@-]{1,64}$/.test(u)) throw new Error("The user name may hold letters, digits and _ . @ - (at most 64 characters).");
    return u;
  }

  async function runEnrol() {
    const user = validUser();
    const cfg = state.config;
    const n = cfg.enrol_takes || 3;
    const takeS = cfg.take_s || 3;
    const blobs = [];
    for (let i = 0; i < n; i++) {
      setStatus("Take " + (i + 1) + " of " + n + ": say your lip password.");
      await getReady("Take " + (i + 1) + " of " + n, 2);
      blobs.push(await record(takeS, { always: ["SPEAK NOW", "speak"] }));
    }
    setStatus("Uploading " + n + " takes...");
    const form = new FormData();
    blobs.forEach((b, i) => form.append("clips", b, fileName(b, "take" + (i + 1))));
    appendOval(form);
    const body = await upload("/v1/users/" + encodeURIComponent(user) + "/enrolments", form);
    setStatus("Enrolled. Choose Verify (unlock) and press Start to try your lip password.");
    showResult(body, "enrol");
    scrollToResult();
  }

  async function runVerifyOrLiveness(m) {
    const user = m === "verify" ? validUser() : $("user").value.trim();
    let kind = $("kind").value;
    if (m === "liveness" && !kind) kind = "blow";
    let challenge = null;
    let durationS = (state.config && state.config.take_s) || 3;
    if (kind) {
      setStatus("Asking the server for a " + kind + " prompt...");
      const payload = { kind: kind };
      if (user) payload.user = user;
      challenge = await postJSON("/v1/challenges", payload);
      durationS = challenge.duration_s;
    }
    setStatus(m === "verify" ? "Recording: say your lip password" + (kind ? " and follow the prompts." : ".") : "Recording: follow the prompts.");
    await getReady("Get ready", 2);
    startMotion();
    let blob;
    let sensors = "";
    try {
      blob = challenge ? await record(durationS, { windows: challenge.windows }) : await record(durationS, { always: ["SPEAK NOW", "speak"] });
    } finally {
      sensors = stopMotion();
    }
    setStatus("Uploading...");
    const form = new FormData();
    form.append("clip", blob, fileName(blob, "clip"));
    if (challenge) form.append("challenge", JSON.stringify(challenge.challenge));
    if (sensors) form.append("sensors", sensors);
    form.append("plot", "true");
    appendOval(form);
    const path = m === "verify" ? "/v1/users/" + encodeURIComponent(user) + "/verifications" : "/v1/liveness";
    const body = await upload(path, form);
    setStatus(body.accepted ? "Done: accepted." : "Done: rejected.");
    showResult(body, m);
    scrollToResult();
  }

  async function start() {
    if (state.busy) return;
    showError("");
    $("result").hidden = true;
    showFraming("");
    if (!state.stream) { showError("Start the camera first."); return; }
    if (!state.config) {
      try { state.config = await getJSON("/v1/config"); updateMode(); } catch (err) { showError(err.message); return; }
    }
    if (!apiKey()) { showError("Enter an API key first (API key panel above)."); return; }
    state.busy = true;
    $("start-btn").disabled = true;
    $("camera-btn").disabled = true;
    document.body.classList.add("busy");
    try {
      await askMotionPermission();
      const m = mode();
      if (m === "enrol") await runEnrol();
      else await runVerifyOrLiveness(m);
    } catch (err) {
      showError(err && err.message ? err.message : String(err));
      setStatus("Stopped.");
      setPrompt("", null); setCountdown("");
    } finally {
      state.busy = false;
      $("start-btn").disabled = false;
      $("camera-btn").disabled = false;
      document.body.classList.remove("busy");
    }
  }

  async function init() {
    initKeyPanel();
    for (const r of document.querySelectorAll('input[name="mode"]')) r.addEventListener("change", updateMode);
    $("camera-btn").addEventListener("click", startCamera);
    $("start-btn").addEventListener("click", start);
    updateMode();
    try {
      state.config = await getJSON("/v1/config");
      updateMode();
      document.body.dataset.ready = "true";
    } catch (err) {
      showError("Could not read the service configuration: " + err.message);
    }
  }

  window.lipauthPage = { reasonWords: reasonWords, httpErrorText: httpErrorText, framingText: framingText,
    enrolFramingText: enrolFramingText, ovalForFrame: ovalForFrame, previewText: previewText };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
