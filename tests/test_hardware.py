"""Hardware profiles: the choice from injected facts, the override, memory fit and the Whisper plan.

Facts are built by hand (a 4 GB CUDA card, a 16 GB ROCm card, no GPU) so the choice is tested on
any machine; model directories are laid out in a temporary models directory with the files the plan
looks for (the plan reads file names, it loads nothing). Detection itself runs for real.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from detector.errors import ConfigError
from detector.models.hardware import (
    PROFILE_ENV,
    PROFILES,
    WHISPER_SIZES,
    GpuInfo,
    HardwareFacts,
    choose_profile,
    detect_hardware,
    estimate_vram_gb,
    fit_whisper,
    fits,
)
from detector.models.whisper_plan import WHISPER_BACKEND_ENV, WHISPER_ENV, bundled_whisper_dir, plan_whisper

RTX3050 = HardwareFacts(api="cuda", gpus=(GpuInfo("NVIDIA GeForce RTX 3050 Laptop GPU", 4.0, 3.6),),
                        cpu_cores=8, ram_gb=16.0, ctranslate2_cuda=1)
RX6800XT = HardwareFacts(api="rocm", gpus=(GpuInfo("AMD Radeon RX 6800 XT", 16.0, 15.2),), cpu_cores=16, ram_gb=32.0)
BIG_CUDA = HardwareFacts(api="cuda", gpus=(GpuInfo("NVIDIA GeForce RTX 4090", 24.0, 23.0),), ctranslate2_cuda=1)
NO_GPU = HardwareFacts(note="no GPU device node")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in (PROFILE_ENV, WHISPER_ENV, WHISPER_BACKEND_ENV):
        monkeypatch.delenv(name, raising=False)
    models = tmp_path / "models"
    models.mkdir()
    monkeypatch.setenv("HIGHLIGHTS_MODELS_DIR", str(models))
    return models


def _ct2_model(models: Path, size: str) -> Path:
    d = models / f"faster-whisper-{size}"
    d.mkdir()
    for name in ("model.bin", "config.json"):
        (d / name).write_bytes(b"")
    return d


def _hf_model(models: Path, size: str) -> Path:
    d = models / f"whisper-{size}"
    d.mkdir()
    for name in ("config.json", "preprocessor_config.json", "model.safetensors", "tokenizer.json"):
        (d / name).write_bytes(b"")
    return d


# --- the profile choice ---------------------------------------------------------------------------

@pytest.mark.parametrize(("facts", "name"), [(RTX3050, "rtx3050"), (RX6800XT, "rx6800xt"), (NO_GPU, "cpu"),
                                             (BIG_CUDA, "cuda-large")])
def test_profile_follows_the_hardware(facts: HardwareFacts, name: str) -> None:
    choice = choose_profile(facts)
    assert choice.profile.name == name and not choice.overridden
    assert choice.reason
    if facts.gpu:
        assert facts.gpu.name in choice.reason


def test_profiles_as_data() -> None:
    assert PROFILES["rtx3050"].whisper_backend == "faster-whisper"
    assert PROFILES["rtx3050"].whisper_compute == "int8_float16" and PROFILES["rtx3050"].one_model_at_a_time
    assert PROFILES["rx6800xt"].whisper_backend == "transformers" and PROFILES["rx6800xt"].whisper_compute == "float16"
    assert PROFILES["cpu"].device == "cpu" and PROFILES["cpu"].whisper_compute == "int8"
    assert PROFILES["cpu"].whisper_model in ("tiny", "base")
    for p in PROFILES.values():
        assert p.whisper_model in WHISPER_SIZES
    from detector.models.vision_catalog import PROFILE_MODELS

    for name, want in PROFILE_MODELS.items():  # the vision fields come from the vision catalog
        assert (PROFILES[name].vision_clip, PROFILES[name].vision_captioner) == (want.clip, want.captioner)


def test_override_by_argument_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    forced = choose_profile(RTX3050, "cpu")
    assert forced.profile.name == "cpu" and forced.overridden and "asked" in forced.reason
    monkeypatch.setenv(PROFILE_ENV, "rx6800xt")
    by_env = choose_profile(NO_GPU)
    assert by_env.profile.name == "rx6800xt" and PROFILE_ENV in by_env.reason and "no GPU" in by_env.reason
    assert choose_profile(NO_GPU, "rtx3050").profile.name == "rtx3050"  # the argument wins over the variable
    monkeypatch.setenv(PROFILE_ENV, "gtx9000")
    with pytest.raises(ConfigError, match="gtx9000"):
        choose_profile(NO_GPU)


def test_detect_hardware_on_this_machine() -> None:
    facts = detect_hardware()
    assert facts.cpu_cores >= 1 and (facts.ram_gb is None or facts.ram_gb > 0)
    assert facts.api in ("cuda", "rocm", "none")
    assert (facts.api == "none") == (not facts.gpus)
    for gpu in facts.gpus:
        assert 0 <= gpu.free_gb <= gpu.total_gb


# --- memory fit and the step down -------------------------------------------------------------------

def test_fits_and_estimates() -> None:
    assert estimate_vram_gb("large-v3-turbo", "int8_float16") < estimate_vram_gb("large-v3-turbo", "float16")
    assert estimate_vram_gb("small", "int8_float16") < estimate_vram_gb("large-v3-turbo", "int8_float16")
    assert fits("large-v3-turbo", 3.6, "int8_float16")
    assert not fits("large-v3-turbo", 1.0, "int8_float16")
    assert not fits("large-v3", 4.0, "float16") and fits("large-v3", 16.0, "float16")
    assert fits("clip-vit-base-patch32", 4.0) and not fits("clip-vit-large-patch14", 1.0)
    with pytest.raises(KeyError):
        estimate_vram_gb("no-such-model")


def test_fit_whisper_steps_down_with_a_warning() -> None:
    fitted = fit_whisper("large-v3-turbo", 1.2, "int8_float16")
    assert fitted.model == "small"
    assert len(fitted.warnings) == 1 and "large-v3-turbo" in fitted.warnings[0] and "small" in fitted.warnings[0]
    assert fit_whisper("large-v3-turbo", 3.6, "int8_float16") == type(fitted)("large-v3-turbo", ())
    nothing = fit_whisper("large-v3", 0.3, "float16")
    assert nothing.model is None and "CPU" in nothing.warnings[-1]
    assert len(nothing.warnings) == 5  # large-v3 → turbo → small → base → tiny → the CPU


# --- the Whisper plan ----------------------------------------------------------------------------------

def test_plan_on_a_small_card_falls_back_one_step(_clean_env: Path) -> None:
    _ct2_model(_clean_env, "large-v3-turbo")
    small = _ct2_model(_clean_env, "small")
    roomy = plan_whisper(facts=RTX3050)
    assert (roomy.backend, roomy.model, roomy.device, roomy.compute_type) == (
        "faster-whisper", "large-v3-turbo", "cuda", "int8_float16")
    assert roomy.problem is None and not roomy.warnings
    tight = HardwareFacts(api="cuda", gpus=(GpuInfo("RTX 3050", 4.0, 1.2),), ctranslate2_cuda=1)
    plan = plan_whisper(facts=tight)
    assert (plan.model, plan.model_dir, plan.device) == ("small", small, "cuda")
    assert any("large-v3-turbo" in w for w in plan.warnings)
    down = roomy.step_down("out of memory")
    assert down is not None and down.model == "small" and down.device == "cuda"
    steps = [down]
    while (nxt := steps[-1].step_down("out of memory")) is not None:
        steps.append(nxt)
    assert [s.model for s in steps if s.device == "cuda"][-1] in ("small", "tiny")  # tiny: the bundled one
    assert steps[-1].device == "cpu" and steps[-1].compute_type == "int8"  # the end of the line: the CPU
    assert len(steps[-1].warnings) == len(steps)  # one warning per step


def test_plan_missing_model_steps_down_to_what_is_downloaded() -> None:
    plan = plan_whisper(facts=RTX3050)  # nothing downloaded: the bundled tiny.en (when installed)
    if bundled_whisper_dir() is None:
        assert plan.problem and "hf download" in plan.problem
        return
    assert plan.model == "tiny" and plan.model_dir == bundled_whisper_dir() and plan.problem is None
    assert any("not downloaded" in w and "hf download" in w for w in plan.warnings)


def test_plan_rocm_uses_transformers_on_the_gpu(_clean_env: Path) -> None:
    hf = _hf_model(_clean_env, "large-v3-turbo")
    plan = plan_whisper(facts=RX6800XT)
    assert (plan.backend, plan.model_dir, plan.device, plan.compute_type, plan.profile) == (
        "transformers", hf, "cuda", "float16", "rx6800xt")
    forced = plan_whisper(facts=RX6800XT, backend="faster-whisper")  # CTranslate2 has no ROCm build
    assert forced.device == "cpu" and any("ROCm" in w for w in forced.warnings)


def test_plan_overrides(monkeypatch: pytest.MonkeyPatch, _clean_env: Path) -> None:
    assert plan_whisper(facts=RTX3050, device="cpu").profile == "cpu"
    assert plan_whisper(facts=RTX3050, device="cpu").device == "cpu"
    hf = _hf_model(_clean_env, "tiny")
    monkeypatch.setenv(WHISPER_BACKEND_ENV, "transformers")
    plan = plan_whisper(facts=NO_GPU)
    assert (plan.backend, plan.model_dir, plan.device, plan.compute_type) == ("transformers", hf, "cpu", "float32")
    monkeypatch.setenv(WHISPER_BACKEND_ENV, "whisper.cpp")
    with pytest.raises(ConfigError, match="whisper.cpp"):
        plan_whisper(facts=NO_GPU)
    monkeypatch.delenv(WHISPER_BACKEND_ENV)
    with pytest.raises(ConfigError, match="huge"):
        plan_whisper(facts=NO_GPU, model="huge")
    explicit = plan_whisper(facts=NO_GPU, model_dir=hf)  # the directory's files tell the backend
    assert explicit.backend == "transformers" and explicit.explicit and explicit.problem is None
    monkeypatch.setenv(WHISPER_ENV, str(_clean_env / "nowhere"))
    assert "nowhere" in (plan_whisper(facts=NO_GPU).problem or "")
