"""lipauth.features.voiceprint: Resemblyzer's weights run in numpy (no torch)."""

from __future__ import annotations

import dataclasses
import pickle
import sys

import numpy as np
import pytest

from lipauth.errors import BackendUnavailableError, InputError, TooShortError
from lipauth.types import Audio


@pytest.fixture(scope="module")
def encoder():  # noqa: ANN201
    from lipauth.features.voiceprint import load_voice_encoder

    try:
        return load_voice_encoder()
    except BackendUnavailableError as exc:
        pytest.skip(f"voice-print weights not installed: {exc}")


def test_weights_load_without_torch(encoder) -> None:  # noqa: ANN001
    assert "torch" not in sys.modules
    assert len(encoder.layers_) == 3 and encoder.linear_w_.shape == (256, 256)
    mels = np.random.default_rng(0).random((2, 160, 40)).astype(np.float32)
    emb = encoder.embed_partials(mels)
    assert emb.shape == (2, 256) and emb.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, rtol=1e-5)
    assert (emb >= 0).all()


def test_mel_filterbank_is_slaney() -> None:
    from lipauth.features.voiceprint import _slaney_mel

    fb = _slaney_mel()
    assert fb.shape == (40, 201)
    # Slaney: linear spacing below 1 kHz, unit-area triangles (area in Hz = 1 -> height 2/width)
    peaks = np.argmax(fb, axis=1) * 40.0  # bin width 16000 / 400 Hz
    assert np.all(np.diff(peaks) >= 0) and peaks[-1] > 6000
    assert (fb >= 0).all()


def test_bad_input(encoder) -> None:  # noqa: ANN001
    from lipauth.features.voiceprint import _TorchLegacyUnpickler, voice_embedding

    with pytest.raises(InputError, match="audio is silent"):
        voice_embedding(Audio(samples=np.zeros(16000, np.float32)))
    noise = np.random.default_rng(0).standard_normal(3200).astype(np.float32) * 0.1
    with pytest.raises(TooShortError, match="a voice print needs at least 0.5 s"):
        voice_embedding(Audio(samples=noise))
    with pytest.raises(InputError, match="pass an Audio"):
        voice_embedding(np.zeros(16000))  # type: ignore[arg-type]
    import io

    with pytest.raises(pickle.UnpicklingError, match="unexpected object os.system"):
        _TorchLegacyUnpickler(io.BytesIO(b"cos\nsystem\n(S'true'\ntR.")).load()


@pytest.mark.realdata
def test_same_speaker_scores_higher_than_other_speakers(encoder) -> None:  # noqa: ANN001
    from conftest import shared_path
    from lipauth.features.voiceprint import voice_embedding
    from lipauth.io import load_audio

    grid = [voice_embedding(load_audio(p)) for p in sorted(shared_path("grid_s1", "video").glob("*.mpg"))[:6]]
    heads = []
    for p in sorted(shared_path("talking_heads").glob("*.mp4")):
        a = load_audio(p)
        half = a.n_samples // 2
        heads.append([voice_embedding(dataclasses.replace(a, samples=a.samples[:half])),
                      voice_embedding(dataclasses.replace(a, samples=a.samples[half:]))])
    same = [float(grid[i] @ grid[j]) for i in range(6) for j in range(i + 1, 6)]
    same += [float(h[0] @ h[1]) for h in heads]
    other = [float(g @ h[k]) for g in grid for h in heads for k in (0, 1)]
    other += [float(heads[0][k] @ heads[1][m]) for k in (0, 1) for m in (0, 1)]
    # measured: same speaker 0.76-0.92, different speakers <= 0.53
    assert min(same) > max(other) + 0.1, (min(same), max(other))
