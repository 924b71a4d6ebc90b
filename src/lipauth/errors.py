"""The one error hierarchy of lipauth.

Every error lipauth raises on purpose is a :class:`LipAuthError`. Input problems also
subclass the built-in exception a Python user would expect (``ValueError``,
``FileNotFoundError``, ``ImportError``), so ``except ValueError`` keeps working.

Messages name the value received and the fix, in one line, e.g.
``"clip.mp4: file is empty (0 bytes); record again or pass another file"``.
The CLI prints ``str(error)`` as its one line on stderr and exits with code 2; the
service maps each subclass to an HTTP status in one place.
"""

from __future__ import annotations

__all__ = [
    "LipAuthError",
    "InputError",
    "MediaNotFoundError",
    "EmptyMediaError",
    "CorruptMediaError",
    "UnsupportedCodecError",
    "NoVideoStreamError",
    "NoAudioStreamError",
    "NoFramesError",
    "StillImageError",
    "NotAnImageError",
    "UnsupportedImageTypeError",
    "TooShortError",
    "NoFaceError",
    "ConfigError",
    "BackendUnavailableError",
    "InsufficientDataError",
    "SilentAudioError",
    "ChallengeError",
    "ChallengeTamperedError",
    "ChallengeExpiredError",
    "ChallengeReusedError",
    "SensorDataError",
    "StoreError",
    "StoreUnavailableError",
    "TemplateDecryptError",
    "UserExistsError",
    "UnknownUserError",
    "EnrolmentError",
    "InconsistentTakesError",
    "UnknownVocabularyError",
    "ChallengeSubjectError",
    "UploadTooLargeError",
    "ClipTooLongError",
    "UnsupportedMediaTypeError",
    "ServiceError",
    "UnauthorizedError",
    "RateLimitedError",
    "OverloadedError",
    "ShuttingDownError",
    "AnalysisFailedError",
    "AnalysisTimeoutError",
    "TooFewTakesError",
    "TooManyTakesError",
    "BadUserNameError",
    "BadLabelError",
    "FrameTooLargeError",
    "ForbiddenError",
    "HostNotAllowedError",
]


class LipAuthError(Exception):
    """Base class of every error lipauth raises on purpose."""

    #: stable machine-readable code (used by the CLI's ``--json`` and the service)
    code: str = "lipauth_error"


class InputError(LipAuthError, ValueError):
    """The input (file, bytes, array) cannot be used."""

    code = "bad_input"


class MediaNotFoundError(InputError, FileNotFoundError):
    """The path does not exist or is not a file."""

    code = "media_not_found"


class EmptyMediaError(InputError):
    """The file or byte string is empty."""

    code = "empty_media"


class CorruptMediaError(InputError):
    """The bytes are not a media container FFmpeg can read, or are truncated/damaged."""

    code = "corrupt_media"


class UnsupportedCodecError(InputError):
    """The container is readable but a stream's codec cannot be decoded."""

    code = "unsupported_codec"


class NoVideoStreamError(InputError):
    """A video was expected but the file has no video stream (e.g. a wav)."""

    code = "no_video_stream"


class NoAudioStreamError(InputError):
    """Audio was expected but the file has no audio stream."""

    code = "no_audio_stream"


class NoFramesError(InputError):
    """The video stream holds no decodable frame."""

    code = "no_frames"


class StillImageError(InputError):
    """A still image (jpg, png, a one-frame video) was given where a clip is needed."""

    code = "still_image"


class NotAnImageError(InputError):
    """A picture (JPEG, PNG, WebP) was wanted and the input is not one (a video, not media, damaged)."""

    code = "not_an_image"


class TooShortError(InputError):
    """The clip is shorter than the operation needs."""

    code = "too_short"


class NoFaceError(LipAuthError, ValueError):
    """No face was found in any frame of the clip."""

    code = "no_face"


class ConfigError(LipAuthError, ValueError):
    """A configuration value is outside its allowed range."""

    code = "bad_config"


class BackendUnavailableError(LipAuthError, ImportError):
    """An optional backend (e.g. mediapipe) is not installed."""

    code = "backend_unavailable"


class InsufficientDataError(LipAuthError, ValueError):
    """Too few usable frames (e.g. detected faces) for an operation; the message names the minimum."""

    code = "insufficient_data"


class ChallengeError(LipAuthError, ValueError):
    """A challenge (signed prompt schedule) cannot be accepted."""

    code = "bad_challenge"


class ChallengeTamperedError(ChallengeError):
    """The challenge is malformed or its signature does not match its content."""

    code = "challenge_tampered"


class ChallengeExpiredError(ChallengeError):
    """The challenge's expiry time has passed."""

    code = "challenge_expired"


class ChallengeReusedError(ChallengeError):
    """The challenge's nonce was already used by an earlier response."""

    code = "challenge_reused"


class SensorDataError(InputError):
    """Device-motion samples are malformed, unordered or physically impossible."""

    code = "bad_sensor_data"


class SilentAudioError(InputError):
    """The audio holds no signal (digital silence or far below speech level)."""

    code = "silent_audio"


class StoreError(LipAuthError):
    """The template store cannot complete an operation (nothing was written)."""

    code = "store_error"


class StoreUnavailableError(StoreError):
    """The store's database cannot be reached, is locked by another writer, or is full."""

    code = "store_unavailable"


class TemplateDecryptError(StoreError):
    """A stored template cannot be decrypted: wrong key, or corrupt/tampered bytes."""

    code = "template_undecryptable"


class UserExistsError(StoreError, ValueError):
    """Enrolment of a user (or password label) that already exists."""

    code = "user_exists"


class UnknownUserError(StoreError, KeyError):
    """An admin operation names a user that is not enrolled (never raised by verify)."""

    code = "unknown_user"

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class EnrolmentError(InputError):
    """Enrolment takes are unusable: too few, too little lip motion, or inconsistent."""

    code = "bad_enrolment"


class InconsistentTakesError(EnrolmentError):
    """Enrolment takes (of a lip password or a command word) disagree strongly with each other (the message names them)."""

    code = "inconsistent_takes"


class UnknownVocabularyError(StoreError, KeyError):
    """No command vocabulary of that name is stored."""

    code = "unknown_vocabulary"

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class ChallengeSubjectError(ChallengeError):
    """The challenge was issued for another user (its signed ``subject`` differs)."""

    code = "challenge_subject"


class UploadTooLargeError(InputError):
    """An upload is larger than the allowed number of bytes (checked while it streams in)."""

    code = "upload_too_large"


class ClipTooLongError(InputError):
    """A clip lasts longer than the allowed number of seconds."""

    code = "clip_too_long"


class UnsupportedMediaTypeError(InputError):
    """An upload declares a content type that is not a video (e.g. text/plain, image/png)."""

    code = "unsupported_media_type"


class UnsupportedImageTypeError(UnsupportedMediaTypeError):
    """A picture upload (the live preview's frame) declares a content type that is not an image."""

    code = "unsupported_image_type"


class ServiceError(LipAuthError):
    """The HTTP service refuses or cannot finish a request (not the input's fault)."""

    code = "service_error"


class UnauthorizedError(ServiceError):
    """The request carries no API key, or one that is unknown or revoked."""

    code = "unauthorized"


class RateLimitedError(ServiceError):
    """Too many requests for this API key or user in the last minute.

    ``retry_after_s`` says when the next request will be admitted.
    """

    code = "rate_limited"

    def __init__(self, message: str, *, retry_after_s: float = 60.0) -> None:
        super().__init__(message)
        self.retry_after_s = float(retry_after_s)


class OverloadedError(ServiceError):
    """Every analysis worker is busy and the waiting queue is full."""

    code = "overloaded"

    def __init__(self, message: str, *, retry_after_s: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after_s = float(retry_after_s)


class ShuttingDownError(OverloadedError):
    """The service is stopping (SIGTERM / Ctrl-C): its analysis workers were killed."""

    code = "shutting_down"


class AnalysisFailedError(ServiceError):
    """The analysis worker process died (crash, out of memory); the pool was rebuilt."""

    code = "analysis_failed"


class AnalysisTimeoutError(ServiceError):
    """The analysis took longer than the service's time limit; its worker was replaced."""

    code = "analysis_timeout"


class TooFewTakesError(EnrolmentError):
    """Fewer enrolment clips than needed (the message names the minimum)."""

    code = "too_few_takes"


class TooManyTakesError(EnrolmentError):
    """More enrolment clips in one request than the service takes (the message names the maximum)."""

    code = "too_many_takes"


class BadUserNameError(ConfigError):
    """A user name outside the allowed length or characters."""

    code = "bad_user_name"


class BadLabelError(ConfigError):
    """A password label outside the allowed length or characters."""

    code = "bad_label"


class FrameTooLargeError(InputError):
    """A video's frames are larger than the configured limit (refused before any frame is decoded)."""

    code = "frame_too_large"


class ForbiddenError(ServiceError):
    """The credential is valid but may not use this route (the page's credential: enrol and verify only)."""

    code = "forbidden"


class HostNotAllowedError(ServiceError):
    """A state-changing request (or the page) came with a ``Host`` or ``Origin`` the service does not serve."""

    code = "host_not_allowed"
