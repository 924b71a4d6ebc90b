"""The one-call path: enrol a lip password, verify a clip (liveness checks + password), change, delete.

``Authenticator(config, store)`` composes the stages: decode -> track -> features ->
checks (the lip password, and the liveness checks the policy requires) -> decision, and
keeps the state in a :class:`lipauth.store.Store` (encrypted templates, lock-out,
challenge nonces, attempts, audit).

Safety:

- A verify for a user that is not enrolled runs the same work (tracking, a DTW match
  against a decoy template of the same size, the lock-out counter, which exists per name)
  and returns the same shape of answer as a failed verify: no user enumeration.
- Every attempt is counted as a failure *before* matching (and cleared on success), so
  concurrent verifies cannot exceed the lock-out limit.
- Raw video is never stored; only the encrypted feature template.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from os import PathLike
from typing import Any

import numpy as np

from lipauth.challenge import Challenge
from lipauth.checks.password import (
    TEMPLATE_KIND,
    PasswordConfig,
    PasswordResult,
    PasswordTake,
    PasswordTemplate,
    check_password,
    enrol_password,
    take_from_features,
)
from lipauth.decision import Decision, Policy, decide
from lipauth.errors import ConfigError, InputError
from lipauth.store import SqlNonceStore, Store
from lipauth.types import Audio, CheckResult, Video

__all__ = ["AuthConfig", "AuthResult", "Authenticator", "LivenessReport", "check_liveness"]

log = logging.getLogger(__name__)
Clip = str | PathLike | bytes | Video
#: password details an AuthResult shows (not the label, take count or spread: no enumeration)
_PUBLIC_DETAILS = ("motion", "duration_s")


@dataclass(frozen=True)
class AuthConfig:
    """Settings of :class:`Authenticator`.

    Attributes
    ----------
    password : PasswordConfig
        Enrolment and matching of the lip password (threshold, takes, consistency).
    policy : Policy
        Which checks are required (default: the password; add ``"sync"`` to require
        that the voice follows the lips, ``"blow"``/``"speech"`` to require an answered
        challenge) and per-check threshold overrides.
    """

    password: PasswordConfig = field(default_factory=PasswordConfig)
    policy: Policy = field(default_factory=Policy)

    def __post_init__(self) -> None:
        if not isinstance(self.password, PasswordConfig):
            raise ConfigError(f"AuthConfig.password is a {type(self.password).__name__}; pass a PasswordConfig")
        if not isinstance(self.policy, Policy):
            raise ConfigError(f"AuthConfig.policy is a {type(self.policy).__name__}; pass a Policy")


@dataclass(frozen=True)
class AuthResult:
    """Outcome of :meth:`Authenticator.verify`.

    Attributes
    ----------
    user : str
    decision : Decision
        ``accepted``, ``reasons`` (``"PASSWORD:MISMATCH"``, ``"LOCKOUT:LOCKED"``, ...) and
        each check's ``(score, threshold)``.
    checks : tuple of CheckResult
        Every check that ran.
    retry_after_s : float
        Seconds until the lock-out ends (0 when not locked).
    """

    user: str
    decision: Decision
    checks: tuple[CheckResult, ...] = ()
    retry_after_s: float = 0.0
    #: the clip's LipFeatures (for plots; never in :meth:`to_dict`)
    features: Any = field(default=None, repr=False, compare=False)
    #: the clip's LipTrack (e.g. for :func:`lipauth.tracking.framing.assess_framing`; never in :meth:`to_dict`)
    track: Any = field(default=None, repr=False, compare=False)

    @property
    def accepted(self) -> bool:
        return self.decision.accepted

    @property
    def reasons(self) -> tuple[str, ...]:
        return self.decision.reasons

    @property
    def score(self) -> float:
        """The password's matching degree (NaN when it did not run)."""
        return self.decision.scores.get("password", (math.nan, math.nan))[0]

    @property
    def threshold(self) -> float:
        return self.decision.scores.get("password", (math.nan, math.nan))[1]

    def to_dict(self) -> dict[str, Any]:
        out = {"user": self.user, **self.decision.to_dict(), "retry_after_s": round(self.retry_after_s, 3)}
        out["checks"] = [c.to_dict() for c in self.checks]
        return out


@dataclass(frozen=True)
class _Prepared:
    take: PasswordTake
    features: Any
    video: Video
    audio: Audio | None
    track: Any = None


class Authenticator:
    """Enrol, verify, change and delete lip passwords in one call each.

    Parameters
    ----------
    config : AuthConfig, optional
    store : Store, optional
        Default ``Store()``: ``$LIPAUTH_STORE_URL`` or SQLite in ``$LIPAUTH_DATA_DIR``.
    challenge_key : bytes or str, optional
        Key that signed the challenges (default :func:`lipauth.challenge.challenge_key`).
    """

    def __init__(
        self, config: AuthConfig | None = None, store: Store | None = None, *, challenge_key: bytes | str | None = None
    ) -> None:
        self.config = config or AuthConfig()
        self.store = store if store is not None else Store()
        self.challenge_key = challenge_key

    # ------------------------------------------------------------------ helpers

    @property
    def _needs_audio(self) -> bool:
        return bool({"sync", "blow", "speech"} & set(self.config.policy.checks))

    def _prepare(
        self, clip: Clip, *, config: PasswordConfig | None = None, with_audio: bool = False, require_audio: bool = False
    ) -> _Prepared:
        from lipauth.features.appearance import labial_crops
        from lipauth.features.matcher import speech_span

        cfg = config or self.config.password
        # the audio, when the clip has one, also tells where the phrase is (the voice)
        video, track, feats, audio, name = _decode_clip(clip, with_audio=True, require_audio=require_audio,
                                                        audio_optional=not with_audio)
        crops = labial_crops(video, track) if cfg.sequence.needs_crops else None
        speech = speech_span(audio, feats.timestamps_s) if audio is not None else None
        take = take_from_features(track, feats, crops, config=cfg, source=name, video=video, speech_s=speech)
        return _Prepared(take=take, features=feats, video=video, audio=audio if with_audio else None, track=track)

    @staticmethod
    def _decoy(take: PasswordTake, cfg: PasswordConfig, n_takes: int, label: str) -> PasswordTemplate:
        """A template of the same size as a real one, for users that are not enrolled."""
        rev = take.sequence[::-1].copy()
        seqs = tuple(np.roll(rev, k, axis=0) for k in range(n_takes))
        pairs = np.zeros(n_takes * (n_takes - 1) // 2)
        return PasswordTemplate(sequences=seqs, pair_distances=pairs, config=cfg, label=label)

    def _liveness(self, prep: _Prepared, challenge: Challenge | dict | None, user: str | None = None) -> list[CheckResult]:
        pol = self.config.policy
        out: list[CheckResult] = []
        if "sync" in pol.checks:
            if prep.audio is None:
                out.append(CheckResult(check="sync", available=False, reasons=("NO_AUDIO",)))
            else:
                from lipauth.checks.sync import check_sync

                out.append(check_sync(prep.features, prep.audio))
        if {"blow", "speech", "challenge"} & set(pol.checks):
            if challenge is None:
                for name in ("blow", "speech", "challenge"):
                    if name in pol.checks:
                        out.append(CheckResult(check=name, available=False, reasons=("NO_CHALLENGE",)))
                return out
            from lipauth.challenge import verify_challenge

            ch = Challenge.from_dict(challenge) if isinstance(challenge, dict) else challenge
            # a challenge bound to a user answers only for that user
            subject = user if (user is not None and ch.subject) else None
            ch = verify_challenge(ch, key=self.challenge_key, nonce_store=SqlNonceStore(self.store), subject=subject)
            if "challenge" in pol.checks:
                out.append(CheckResult(check="challenge", score=1.0, threshold=1.0, accepted=True))
            if ch.kind == "blow" and "blow" in pol.checks:
                from lipauth.checks.blow import check_blow

                out.append(check_blow(prep.features, prep.audio, ch))
            if ch.kind == "speech" and "speech" in pol.checks:
                from lipauth.checks.speech import check_speech_challenge

                res = check_speech_challenge(prep.features, prep.audio, ch)
                out.append(replace(res, check="speech") if res.check != "speech" else res)
        return out

    # ------------------------------------------------------------------ public

    def enrol(
        self, user: str, takes: Sequence[Clip], *, label: str = "default", on_take: Callable[[int, Any], None] | None = None
    ) -> PasswordTemplate:
        """Enrol a lip password for ``user`` from 3 or more takes (one transaction).

        Creates the user, or adds another password ``label`` to an existing user.
        ``on_take(index, track)``, when given, is called with each take's
        :class:`~lipauth.types.LipTrack` once it is tracked (e.g. to report its framing).

        Raises
        ------
        EnrolmentError
            Too few takes, too little lip motion, or inconsistent takes (named).
        UserExistsError
            The user already has a password with this label (use :meth:`change`).
        """
        if isinstance(takes, (str, bytes, Video)):
            raise InputError("takes is one clip; pass a list of at least 3 clips of the same lip movement")
        takes = list(takes)
        self._check_enrolment(user, takes, label)
        prepared = []
        for i, t in enumerate(takes):
            prep = self._prepare(t)
            if on_take is not None:
                on_take(i, prep.track)
            prepared.append(prep.take)
        template = enrol_password(prepared, label=label, config=self.config.password)
        self.store.enrol(user, label=label, kind=TEMPLATE_KIND, template=template.to_bytes())
        log.info("enrolled %r (%s) from %d takes", user, label, len(prepared))
        return template

    def _refuses_silence(self, challenge: Challenge | dict | None) -> bool:
        """Whether a check the policy runs on this attempt raises :class:`SilentAudioError` for a silent
        clip (sync, and the timed-speech challenge; the blow check judges silence as no blow)."""
        checks = set(self.config.policy.checks)
        kind = challenge.get("kind") if isinstance(challenge, dict) else getattr(challenge, "kind", None)
        return "sync" in checks or (kind == "speech" and "speech" in checks)

    def _check_key(self) -> None:
        """Load the template key now: a malformed ``LIPAUTH_KEY`` or key file is a configuration
        error (:class:`ConfigError`), refused before the clip is tracked and never counted as the
        user's failed attempt. (A valid key that did not write a template still fails that attempt.)"""
        getattr(self.store, "keyring", None)

    def _check_enrolment(self, user: str, takes: Sequence[Clip], label: str | None) -> None:
        """The refusals that need no tracking, before the takes are tracked (seconds each).

        ``label`` None skips the already-enrolled check (:meth:`change` replaces the label).
        """
        from lipauth.errors import EnrolmentError, UserExistsError
        from lipauth.io._open import check_source

        need = self.config.password.min_takes
        if len(takes) < need:
            raise EnrolmentError(f"got {len(takes)} enrolment take(s); record at least {need} takes of the same lip movement")
        for t in takes:  # a missing, empty or directory path: named before any take is tracked
            if isinstance(t, (str, PathLike)):
                check_source(t)
        # this user's labels only (Store.labels): no other user is read, no template decrypted
        existing = self.store.labels(user) if label is not None else None
        if existing is not None and label in existing:
            raise UserExistsError(f"user {user!r} already has a password labelled {label!r}; use change to replace it")
        _refuse_repeated_takes(takes)
        self._check_key()


    def verify(
        self, user: str, clip: Clip, challenge: Challenge | dict | None = None, *, label: str | None = None, sensors: Any = None
    ) -> AuthResult:
        """Verify ``clip`` as ``user``'s lip password (and the liveness checks the policy requires).

        Parameters
        ----------
        user : str
        clip : path, bytes or Video
        challenge : Challenge or dict, optional
            The signed challenge the clip answers (blow / timed speech); its nonce is
            consumed in the store.
        label : str, optional
            Which of the user's passwords; default: the best match over all of them.
        sensors : SensorSamples, optional
            Device-motion samples recorded with the clip; the ``sensors`` check runs and
            is reported (the policy decides whether it is required).

        Returns
        -------
        AuthResult
            A user that is not enrolled gets the same answer as a wrong password.

        Raises
        ------
        NoAudioStreamError
            ``challenge`` is given and the clip file has no audio stream (raised before the
            attempt is counted: nothing is stored).
        """
        early = self.store.lock_state(user)  # a locked name is answered before the clip is tracked
        if not early.allowed:
            return self._locked(user, early.retry_after_s)
        self._check_key()
        prep = self._prepare(clip, with_audio=self._needs_audio or challenge is not None, require_audio=challenge is not None)
        if prep.audio is not None and self._refuses_silence(challenge):
            from lipauth.checks.sync import require_sound

            require_sound(prep.audio)  # a muted clip is bad input: no attempt counted, the challenge not used up
        state = self.store.begin_attempt(user)
        if not state.allowed:
            return self._locked(user, state.retry_after_s, track=prep.track)
        results: list[CheckResult] = []
        decision = Decision(accepted=False, reasons=("ERROR",), scores={})
        try:
            stored = self.store.templates(user)
            results.append(self._match(prep, stored, label))
            results.extend(self._liveness(prep, challenge, user))
            if sensors is not None:
                from lipauth.checks.sensors import check_sensors

                results.append(check_sensors(sensors))
            decision = decide(results, self.config.policy)
            # not enrolled, or no password of that label (matched against a decoy): always the answer of a
            # wrong password, whatever threshold the policy sets (a decoy's score can pass a low override)
            has_template = stored is not None and any(
                kind == TEMPLATE_KIND and (label is None or lb == label) for lb, (kind, _blob) in stored.items())
            if not has_template:
                decision = Decision(False, ("PASSWORD:MISMATCH",), decision.scores)
        finally:  # also on errors (bad template, reused challenge): the attempt stays a failure
            score = results[0].score if results and math.isfinite(results[0].score) else None
            end = self.store.finish_attempt(user, accepted=decision.accepted, score=score, reasons=decision.reasons)
        return AuthResult(user=user, decision=decision, checks=tuple(results), retry_after_s=end.retry_after_s,
                          features=prep.features, track=prep.track)

    @staticmethod
    def _locked(user: str, retry_after_s: float, track: Any = None) -> AuthResult:
        log.info("verify %r: locked for %.0f s", user, retry_after_s)
        decision = Decision(accepted=False, reasons=("LOCKOUT:LOCKED",), scores={})
        return AuthResult(user=user, decision=decision, retry_after_s=retry_after_s, track=track)

    def _match(self, prep: _Prepared, stored: dict[str, tuple[str, bytes]] | None, label: str | None) -> PasswordResult:
        templates = {}
        if stored is not None:
            templates = {lb: PasswordTemplate.from_bytes(blob) for lb, (kind, blob) in stored.items() if kind == TEMPLATE_KIND}
            if label is not None:
                templates = {label: templates[label]} if label in templates else {}
        if not templates:  # unknown user or label: same work against a decoy, always a mismatch
            cfg = self.config.password
            res = check_password(self._decoy(prep.take, cfg, cfg.min_takes, label or "default"), prep.take)
            score = min(res.score, res.threshold - 0.05)
            res = replace(res, score=score, accepted=False, reasons=("MISMATCH",))
        else:
            res = max((check_password(t, prep.take) for t in templates.values()), key=lambda r: r.score)
        # the same fields and reason codes for every answer: nothing tells an enrolled user
        # from an unknown one (the detailed reasons are logged at debug level)
        log.debug("password match: score %.3f, reasons %s", res.score, res.reasons)
        reasons = () if res.accepted else ("NO_LIP_MOTION",) if "NO_LIP_MOTION" in res.reasons else ("MISMATCH",)
        details = {k: res.details[k] for k in _PUBLIC_DETAILS}
        details["distance"] = 1.0 - res.score
        return replace(res, reasons=reasons, details=details, distances=())

    def change(self, user: str, current: Clip, takes: Sequence[Clip], *, label: str = "default") -> AuthResult:
        """Change a password: verify ``current`` against it, then replace it with ``takes``.

        Returns the verification's :class:`AuthResult`; the template is replaced only
        when it was accepted (one transaction).
        """
        takes = list(takes)
        self._check_enrolment(user, takes, None)  # before CURRENT is verified (an attempt that counts)
        result = self.verify(user, current, label=label)
        if not result.accepted:
            return result
        prepared = [self._prepare(t).take for t in takes]
        template = enrol_password(prepared, label=label, config=self.config.password)
        self.store.replace_template(user, label=label, kind=TEMPLATE_KIND, template=template.to_bytes())
        return result

    def delete(self, user: str) -> None:
        """Delete ``user`` and erase their templates (:class:`UnknownUserError` when absent)."""
        self.store.delete_user(user)


@dataclass(frozen=True)
class LivenessReport:
    """Outcome of :func:`check_liveness`.

    Attributes
    ----------
    accepted : bool
        The challenge check passed, and the sensors check too when it had data.
    reasons : tuple of str
        ``"BLOW:..."``/``"SPEECH:..."``/``"SENSORS:..."`` codes; empty when accepted.
    challenge : Challenge
        The verified challenge.
    result : CheckResult
        The blow or timed-speech check (:class:`lipauth.checks.blow.BlowResult` or
        :class:`lipauth.checks.speech.SpeechResult`, both :class:`~lipauth.types.ChallengeResult`).
    sensors : CheckResult
        The sensors check (``available=False`` without samples).
    timeline_png : bytes or None
        The PNG of :func:`lipauth.viz.plot_timeline` when ``plot=True``.
    """

    accepted: bool
    reasons: tuple[str, ...]
    challenge: Challenge
    result: CheckResult
    sensors: CheckResult
    timeline_png: bytes | None = field(default=None, repr=False)
    #: the clip's LipFeatures (never in :meth:`to_dict`; None when refused before tracking, e.g. CLIP_TOO_SHORT)
    features: Any = field(default=None, repr=False, compare=False)
    #: the clip's LipTrack (never in :meth:`to_dict`; None like ``features``)
    track: Any = field(default=None, repr=False, compare=False)

    @property
    def checks(self) -> tuple[CheckResult, ...]:
        return (self.result, self.sensors)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (the per-frame arrays are left out)."""
        return {
            "accepted": self.accepted,
            "reasons": list(self.reasons),
            "challenge": public_check_dict(self.result),
            "sensors": public_check_dict(self.sensors),
        }


#: per-frame arrays a check result carries for plots (too long for an answer)
_FRAME_ARRAYS = ("timestamps_s", "audio_activity", "mouth_state", "lags_ms", "correlations", "window_times_s", "window_agreement")


def _refuse_repeated_takes(takes: Sequence[Clip]) -> None:
    """:class:`InconsistentTakesError` when two takes are the same recording (same bytes): three copies
    of one take would enrol one take's movement with a spread of 0, not the person's variation."""
    import hashlib

    from lipauth.errors import InconsistentTakesError

    seen: dict[str, int] = {}
    for i, t in enumerate(takes):
        if isinstance(t, (str, PathLike)):
            h = hashlib.sha256()
            with open(t, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    h.update(block)
            digest, name = h.hexdigest(), os.fspath(t)
        elif isinstance(t, (bytes, bytearray, memoryview)):
            digest, name = hashlib.sha256(bytes(t)).hexdigest(), "<bytes>"
        else:  # a decoded Video or a prepared take: not compared
            continue
        if digest in seen:
            raise InconsistentTakesError(
                f"take {i + 1} ({name}) is the same recording as take {seen[digest] + 1}; record the lip "
                "movement again for every take (the takes' variation is part of the password)")
        seen[digest] = i


def public_check_dict(result: CheckResult) -> dict[str, Any]:
    """``result.to_dict()`` without the per-frame arrays (the shape an API answer carries)."""
    out = result.to_dict()
    for k in _FRAME_ARRAYS:
        out.pop(k, None)
    return out


def check_liveness(
    clip: Clip,
    *,
    challenge: Challenge | dict[str, Any],
    sensors: Any = None,
    nonce_store: Any = None,
    plot: bool = False,
    key: bytes | str | None = None,
    subject: str | None = None,
) -> LivenessReport:
    """Check a recorded answer to a challenge: signature, expiry, schedule (blow or speech), sensors.

    Decode -> track -> lip features -> the blow or timed-speech check against the
    challenge's windows, plus the device-motion check when samples are given. A clip that
    ends before the schedule (``CLIP_TOO_SHORT``) is answered from its decoded length,
    before tracking (``features`` and ``track`` are then None).

    Parameters
    ----------
    clip : path, bytes or Video
        The recorded answer (with its audio track).
    challenge : Challenge or dict
        The signed challenge the clip answers.
    sensors : SensorSamples or JSON text/list, optional
        Device-motion samples recorded with the clip (:func:`lipauth.checks.sensors.parse_sensor_json`).
    nonce_store : NonceStore, optional
        Consume the challenge's nonce here (single use); None skips the replay check.
    plot : bool
        Render the timeline PNG into ``timeline_png``.
    key : bytes or str, optional
        Challenge signing key (default :func:`lipauth.challenge.challenge_key`).
    subject : str, optional
        The user the challenge must have been issued for (None: not checked).

    Returns
    -------
    LivenessReport

    Raises
    ------
    ChallengeError
        Tampered, expired, reused or for another user (checked before the clip is decoded).
    SensorDataError
        Malformed device-motion samples.
    InputError, NoFaceError
        The clip cannot be used.
    """
    from lipauth.challenge import verify_challenge
    from lipauth.checks.sensors import SensorSamples, check_sensors, parse_sensor_json

    ch = verify_challenge(challenge, key=key, subject=subject)  # cheap checks first, nonce not yet used
    samples = None
    if sensors is not None:
        samples = sensors if isinstance(sensors, SensorSamples) else parse_sensor_json(sensors)
    from lipauth.checks.blow import BLOW_THRESHOLD, BlowResult, check_blow, clip_too_short
    from lipauth.checks.speech import SPEECH_THRESHOLD, SpeechResult, check_speech_challenge

    video, audio, src = _decode_media(clip)
    blow = ch.kind == "blow"
    if audio is None:  # no sound: refused before the nonce is used up and before tracking (bad input stores nothing)
        from lipauth.errors import NoAudioStreamError

        raise NoAudioStreamError(f"the {'blow' if blow else 'timed speech'} check needs the clip's audio; record with a microphone")
    if not blow:  # the speech check refuses a silent (muted) clip as SilentAudioError: before the nonce too
        from lipauth.checks.sync import require_sound

        require_sound(audio)
    if nonce_store is not None:
        ch = verify_challenge(ch, key=key, subject=subject, nonce_store=nonce_store)
    track = features = None
    # the clip's length is known once decoded: a too-short answer is refused before tracking
    result: BlowResult | SpeechResult | None = None
    if audio is not None:
        result = (clip_too_short(BlowResult, video.timestamps_s, audio, ch, BLOW_THRESHOLD) if blow
                  else clip_too_short(SpeechResult, video.timestamps_s, audio, ch, SPEECH_THRESHOLD))
    if result is None:
        track, features = _track_clip(video)
        result = check_blow(features, audio, ch) if blow else check_speech_challenge(features, audio, ch)
    sens = check_sensors(samples)
    accepted = bool(result.accepted and (sens.accepted or not sens.available))
    reasons = [f"{result.check.upper()}:{c}" for c in result.reasons] if not result.accepted else []
    if sens.available and not sens.accepted:
        reasons += [f"SENSORS:{c}" for c in sens.reasons]
    png = None
    if plot:
        import io

        from lipauth.viz import plot_timeline

        buf = io.BytesIO()
        plot_timeline(result, buf)
        png = buf.getvalue()
    return LivenessReport(accepted=accepted, reasons=tuple(reasons), challenge=ch, result=result, sensors=sens,
                          timeline_png=png, features=features, track=track)


def _decode_clip(
    clip: Clip, *, with_audio: bool = True, require_audio: bool = False, audio_optional: bool = False
) -> tuple[Video, Any, Any, Audio | None, str]:
    """Decode -> track -> lip features of a clip: ``(video, track, features, audio, name)``.

    ``audio`` is None when not asked for, when ``clip`` is an already decoded Video, or when
    the clip has no audio stream (the audio checks then report themselves unavailable;
    with ``require_audio`` a file without one raises ``NoAudioStreamError`` instead).
    ``audio_optional``: the audio only helps (finding the phrase); any audio error gives None.
    """
    video, audio, src = _decode_media(clip, with_audio=with_audio, require_audio=require_audio,
                                      audio_optional=audio_optional)
    track, features = _track_clip(video)
    name = str(src) if isinstance(src, (str, PathLike)) else (video.source or "<video>")
    return video, track, features, audio, name


def _track_clip(video: Video) -> tuple[Any, Any]:
    """Track -> lip features: ``(track, features)``."""
    from lipauth.features import extract_lip_features
    from lipauth.tracking import track_lips

    track = track_lips(video)
    return track, extract_lip_features(track, video)


def _decode_media(
    clip: Clip, *, with_audio: bool = True, require_audio: bool = False, audio_optional: bool = False
) -> tuple[Video, Audio | None, Any]:
    """Decode a clip: ``(video, audio, src)``, ``src`` None for an already decoded Video (see :func:`_decode_clip`)."""
    from lipauth.errors import LipAuthError, NoAudioStreamError
    from lipauth.io import load_audio, load_video

    if isinstance(clip, Video):
        video, src = clip, None
    elif isinstance(clip, (str, PathLike, bytes)):
        video, src = load_video(clip), clip
    else:
        raise InputError(f"clip is a {type(clip).__name__}; pass a file path, bytes or a Video")
    audio = None
    if with_audio and src is not None:  # before tracking: a missing audio stream fails fast
        try:
            audio = load_audio(src)
        except NoAudioStreamError:
            if require_audio:
                raise
            audio = None
        except LipAuthError:
            if not audio_optional:
                raise
            audio = None
    return video, audio, src
