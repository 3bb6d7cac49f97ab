"""The numpy and torch backends compute the same kernels (torch on the CPU here; CUDA in gpu tests)."""

from __future__ import annotations

import numpy as np
import pytest

from detector.compute import ArrayBackend, TorchBackend, select_backend
from detector.errors import DeviceError

torch = pytest.importorskip("torch")

RNG = np.random.default_rng(3)


def backends():
    yield TorchBackend("cpu")
    if torch.cuda.is_available():
        yield TorchBackend("cuda")


@pytest.mark.parametrize("width", [1, 2, 3, 4, 9, 10, 21])
def test_moving_average_matches_numpy(width: int) -> None:
    x = RNG.random(1001).astype(np.float32)
    ref = ArrayBackend().moving_average(x, width)
    for backend in backends():
        np.testing.assert_allclose(backend.moving_average(x, width), ref, rtol=1e-5, atol=1e-6)


def test_moving_average_is_a_centred_box() -> None:
    x = np.zeros(21, dtype=np.float32)
    x[10] = 1.0
    out = ArrayBackend().moving_average(x, 5)
    assert np.allclose(out[8:13], 0.2) and out[7] == 0 and out[13] == 0


def test_frame_rms_matches_definition() -> None:
    samples = RNG.standard_normal(16000 * 3 + 123).astype(np.float32)
    ref = np.sqrt((samples[: 60 * 800].reshape(60, 800) ** 2).mean(axis=1))
    np.testing.assert_allclose(ArrayBackend().frame_rms(samples, 800), ref, rtol=1e-5)
    for backend in backends():
        np.testing.assert_allclose(backend.frame_rms(samples, 800), ref, rtol=1e-5)


def test_spectral_features_match_and_carry_across_chunks() -> None:
    samples = RNG.standard_normal(16000 * 4).astype(np.float32)
    numpy_backend = ArrayBackend()
    v_ref, f_ref, _ = numpy_backend.spectral(samples, 800, (15, 171))
    # Two chunks with the carried spectrum give the same flux as one pass.
    v1, f1, prev = numpy_backend.spectral(samples[:32000], 800, (15, 171))
    v2, f2, _ = numpy_backend.spectral(samples[32000:], 800, (15, 171), prev)
    np.testing.assert_allclose(np.concatenate([f1, f2]), f_ref, rtol=1e-5)
    for backend in backends():
        v, f, _ = backend.spectral(samples, 800, (15, 171))
        np.testing.assert_allclose(v, v_ref, rtol=1e-4)
        np.testing.assert_allclose(f, f_ref, rtol=1e-4, atol=1e-6)


def test_select_backend() -> None:
    assert select_backend("cpu").name == "numpy"
    assert select_backend("torch-cpu").name == "torch"
    auto = select_backend("auto")
    assert auto.name == ("torch" if torch.cuda.is_available() else "numpy")
    with pytest.raises(DeviceError, match="Unknown device"):
        select_backend("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(DeviceError, match="no CUDA or ROCm GPU"):
            select_backend("cuda")


@pytest.mark.gpu
def test_cuda_backend_runs_the_pipeline_kernels() -> None:
    backend = select_backend("cuda")
    samples = RNG.standard_normal(16000 * 60).astype(np.float32)
    np.testing.assert_allclose(backend.frame_rms(samples, 800), ArrayBackend().frame_rms(samples, 800), rtol=1e-4)
