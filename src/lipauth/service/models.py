"""Request and response models of the HTTP API (distinct classes, with OpenAPI examples)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "ErrorOut",
    "HealthOut",
    "ConfigOut",
    "ChallengeIn",
    "ChallengeOut",
    "EnrolmentOut",
    "VerificationOut",
    "LivenessOut",
    "SyncOut",
    "FramingOut",
    "PreviewFramingOut",
]

_CHECK_EXAMPLE = {"type": "PasswordResult", "check": "password", "score": 0.82, "threshold": 0.5, "accepted": True,
                  "reasons": [], "available": True, "details": {"motion": 0.12, "duration_s": 1.4, "distance": 0.2}}


class ErrorOut(BaseModel):
    """Every error answer."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"detail": "missing or invalid API key", "code": "UNAUTHORIZED"}]})
    detail: str = Field(description="A stable sentence (the same for every occurrence of this error).")
    code: str = Field(description="Stable upper-case code, e.g. NO_FACE.")


class HealthOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "ok", "version": "0.1.0", "store": "ok"}]})
    status: Literal["ok"]
    version: str
    store: Literal["ok"]


class ConfigOut(BaseModel):
    """What a client needs to record: the policy, challenge kinds, takes, limits."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "version": "0.1.0", "policy": ["password"], "challenge_kinds": ["blow", "speech"], "enrol_takes": 3,
        "take_s": 3.0, "max_upload_bytes": 26214400, "max_clip_s": 20.0}]})
    version: str
    policy: list[str]
    challenge_kinds: list[str]
    enrol_takes: int = Field(description="Clips one enrolment needs.")
    take_s: float = Field(description="Suggested length of one recorded take, seconds.")
    max_upload_bytes: int
    max_clip_s: float


class ChallengeIn(BaseModel):
    """Ask for a signed prompt schedule."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"kind": "blow", "user": "alice"}]})
    kind: Literal["blow", "speech"] = "blow"
    user: str = Field(default="", max_length=64, description="Bind the challenge to this user ('' = not bound).")


class ChallengeOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "challenge": {"type": "Challenge", "version": 1, "kind": "blow", "windows": [[1.6, 2.9, "blow"], [4.1, 5.0, "blow"]],
                      "duration_s": 6.8, "nonce": "9f1c0b5e2a7d4e8f9a0b1c2d3e4f5a6b", "issued_at": 1760000000.0,
                      "expires_at": 1760000120.0, "subject": "alice", "signature": "5d41402abc4b2a76b9719d911017c592..."},
        "windows": [[1.6, 2.9, "blow"], [4.1, 5.0, "blow"]], "duration_s": 6.8, "expires_at": 1760000120.0}]})
    challenge: dict[str, Any] = Field(description="The signed challenge: send it back unchanged as the 'challenge' form field.")
    windows: list[tuple[float, float, str]] = Field(description="(start_s, end_s, prompt) from the first frame of the recording.")
    duration_s: float
    expires_at: float = Field(description="Unix seconds.")


class FramingOut(BaseModel):
    """Was the face inside the guide oval the client sent (``oval`` form field)? (lipauth.tracking.framing)"""

    model_config = ConfigDict(json_schema_extra={"examples": [{"in_oval": 0.12, "face_inside": 0.46, "ok": False,
                                                               "move": ["left", "down"]}]})
    in_oval: float = Field(description="Share of the frames with at least 70 % of the face inside the oval (no face: outside).")
    face_inside: float = Field(description="Median share of the face inside the oval, over the frames with a face.")
    ok: bool = Field(description="in_oval >= 0.5: the face was in the oval for most of the take.")
    move: list[Literal["left", "right", "up", "down", "closer", "back"]] = Field(
        description="What brings the face into the oval, in the person's own directions (their left is the image's right).")


class PreviewFramingOut(BaseModel):
    """``POST /v1/framing``: one picture of the live preview against the guide oval."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"face": True, "framing": {
        "in_oval": 0.0, "face_inside": 0.41, "ok": False, "move": ["closer"]}}]})
    face: bool = Field(description="A face was found in the picture.")
    framing: FramingOut


_FRAMING_DOC = "With the 'oval' form field: how the face sat in it."


class EnrolmentOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"user": "alice", "label": "default", "takes": 3}, {
        "user": "alice", "label": "default", "takes": 3, "framing": [
            {"in_oval": 1.0, "face_inside": 0.97, "ok": True, "move": []},
            {"in_oval": 0.12, "face_inside": 0.46, "ok": False, "move": ["left", "down"]},
            {"in_oval": 0.95, "face_inside": 0.9, "ok": True, "move": []}]}]})
    user: str
    label: str
    takes: int
    framing: list[FramingOut] | None = Field(default=None, description="One per take, in upload order. " + _FRAMING_DOC)


class VerificationOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "user": "alice", "accepted": True, "reasons": [], "scores": {"password": {"score": 0.82, "threshold": 0.5}},
        "checks": [_CHECK_EXAMPLE], "retry_after_s": 0.0}, {
        "user": "alice", "accepted": False, "reasons": ["LOCKOUT:LOCKED"], "scores": {}, "checks": [], "retry_after_s": 57.0}]})
    user: str
    accepted: bool
    reasons: list[str] = Field(description="Stable codes, e.g. PASSWORD:MISMATCH, LOCKOUT:LOCKED, BLOW:MISSED_WINDOW.")
    scores: dict[str, dict[str, float | None]]
    checks: list[dict[str, Any]]
    retry_after_s: float = Field(description="Seconds until a lock-out ends (0 when not locked).")
    timeline_png: str | None = Field(default=None, description="Base64 PNG of the timeline when plot=true.")
    framing: FramingOut | None = Field(default=None, description=_FRAMING_DOC)


class LivenessOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "accepted": True, "reasons": [], "checks": [
            {"type": "BlowResult", "check": "blow", "score": 0.9, "threshold": 0.5, "accepted": True, "reasons": [],
             "available": True, "details": {}},
            {"type": "CheckResult", "check": "sensors", "score": None, "threshold": 0.5, "accepted": False,
             "reasons": ["NO_SENSOR_DATA"], "available": False, "details": {}}]}]})
    accepted: bool
    reasons: list[str]
    checks: list[dict[str, Any]]
    timeline_png: str | None = None
    framing: FramingOut | None = Field(default=None, description=_FRAMING_DOC)


class SyncOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "accepted": True, "offset_ms": 40.0, "confidence": 5.2, "score": 0.71, "threshold": 0.35, "reasons": []}]})
    accepted: bool
    offset_ms: float | None
    confidence: float | None
    score: float | None
    threshold: float | None
    reasons: list[str]
    timeline_png: str | None = None
