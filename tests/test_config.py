import pytest

from stella.config import MODEL_SIZES, ConfigError, load_config, preset_names


def test_presets_load_and_differ():
    assert {"smoke", "cpu", "paper"} <= set(preset_names())
    smoke, cpu, paper = (load_config(p) for p in ("smoke", "cpu", "paper"))
    assert smoke.model.size == "micro" and cpu.model.size == "tiny" and paper.model.size == "base"
    assert paper.model.embed_dim == 768 and paper.model.patch_size == 16
    assert paper.num_audio_patches == 512 and paper.num_video_patches == 784
    assert paper.continual.memory_size == 2000 and paper.continual.betas == (0.95, 0.999)
    assert len({smoke.digest(), cpu.digest(), paper.digest()}) == 3


@pytest.mark.parametrize("override, key", [
    (["selection.rho_a=0"], "selection.rho_a"),
    (["selection.rho_v=1.5"], "selection.rho_v"),
    (["continual.memory_size=-1"], "continual.memory_size"),
    (["data.num_tasks=0"], "data.num_tasks"),
    (["data.classes_per_task=0"], "data.classes_per_task"),
    (["data.image_size=30"], "data.image_size"),
    (["data.num_frames=0"], "data.num_frames"),
    (["model.bogus=1"], "model.bogus"),
    (["nosection.key=1"], "nosection"),
    (["selection.audio_mode=diagonal"], "selection.audio_mode"),
    (["run.device=tpu"], "run.device"),
    (["model.size=huge"], "model.size"),
    (["continual.lr=fast"], "continual.lr"),
])
def test_bad_values_name_the_key(override, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config("cpu", override)


def test_unknown_preset_and_bad_override_syntax():
    with pytest.raises(ConfigError, match="unknown preset"):
        load_config("nope")
    with pytest.raises(ConfigError, match="section.key=value"):
        load_config("cpu", ["continual.lr"])


def test_overrides_change_digest_and_are_typed():
    a = load_config("cpu")
    b = load_config("cpu", ["continual.lr=3e-4", "model.size=micro"])
    assert b.continual.lr == 3e-4 and b.model.embed_dim == 32
    assert a.digest() != b.digest()
    assert load_config("cpu", [f"continual.lr={a.continual.lr}"]).digest() == a.digest()
    assert a.with_overrides({"run.seed": 7}).run.seed == 7


def test_model_size_expands_but_explicit_keys_win():
    c = load_config("cpu", ["model.size=base", "model.embed_dim=384", "model.num_heads=6"])
    assert c.model.embed_dim == 384 and c.model.modality_depth == 10
    assert load_config("cpu").with_overrides(["model.size=base", "model.embed_dim=384", "model.num_heads=6"]) == c


@pytest.mark.parametrize("preset", preset_names())
@pytest.mark.parametrize("size", sorted(MODEL_SIZES))
def test_size_presets_resolve_the_same_through_load_config_and_with_overrides(preset, size):
    data = ["data.image_size=64", "data.audio_frames=64", "data.mel_bins=64"]     # divisible by every patch size
    via_load = load_config(preset, [*data, f"model.size={size}"])
    via_with = load_config(preset, data).with_overrides([f"model.size={size}"])
    assert via_load == via_with
    assert {k: getattr(via_load.model, k) for k in MODEL_SIZES[size]} == MODEL_SIZES[size]
    other = load_config(preset, data).with_overrides(["run.seed=3"])            # no size override: keys kept
    assert other.model == load_config(preset, data).model
