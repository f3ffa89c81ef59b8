import warnings

import pytest

from seglab import config


def test_explicit_profiles_resolve_to_their_settings():
    assert config.get_profile("quick") is config.QUICK
    assert config.get_profile("FULL") is config.FULL


def test_auto_without_gpu_or_real_data_is_quick(monkeypatch, tmp_path):
    monkeypatch.setenv("SEGLAB_DATA", str(tmp_path))
    monkeypatch.setenv("SEGLAB_PROFILE", "auto")
    assert config.get_profile().name == "quick"


def test_unknown_profile_names_the_valid_ones(monkeypatch):
    monkeypatch.setenv("SEGLAB_PROFILE", "fast")
    with pytest.raises(config.ProfileError) as error:
        config.get_profile()
    message = str(error.value)
    assert "'fast'" in message and "SEGLAB_PROFILE" in message
    for name in ("quick", "full", "auto"):
        assert name in message


def test_real_data_present_ignores_the_synthetic_stand_in(tmp_path):
    voc = tmp_path / "voc" / "VOCdevkit" / "VOC2012" / "JPEGImages"
    voc.mkdir(parents=True)
    assert config.real_data_present(tmp_path)
    (tmp_path / "voc" / "SEGLAB_SYNTHETIC.json").write_text("{}")
    assert not config.real_data_present(tmp_path)


def test_data_home_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("SEGLAB_DATA", str(tmp_path / "x"))
    assert config.data_home() == tmp_path / "x"


def test_banner_says_profile_data_weights_and_synthetic_caveat(capsys):
    profile = config.banner("quick")
    text = capsys.readouterr().out
    assert profile is config.QUICK
    assert "seglab profile : quick" in text
    assert "synthetic" in text and "random initialisation" in text
    assert "not VOC" in text


def test_quick_banner_names_the_real_pets_sample():
    assert "300 real photos" in config.QUICK.data_description


def test_synthetic_note_follows_the_data_not_the_profile():
    real = config.banner_lines(config.QUICK, data="Oxford-IIIT Pet folder /data")
    fake = config.banner_lines(config.FULL, data="built-in synthetic VOC data")
    assert not any("not VOC/Pets results" in line for line in real)
    assert any("not VOC/Pets results" in line for line in fake)


def test_full_banner_names_imagenet_and_real_data():
    lines = "\n".join(config.banner_lines(config.FULL))
    assert "ImageNet" in lines and "PASCAL VOC" in lines
    assert "not VOC" not in lines


def test_configure_devices_on_cpu_keeps_float32():
    import keras

    assert config.configure_devices() == "float32"
    assert keras.mixed_precision.global_policy().name == "float32"


def test_set_seed_makes_keras_random_repeatable():
    import keras

    config.set_seed(3)
    first = keras.random.uniform((4,)).numpy()
    config.set_seed(3)
    assert (keras.random.uniform((4,)).numpy() == first).all()


def test_auto_says_why_it_chose_quick(monkeypatch, tmp_path):
    monkeypatch.setenv("SEGLAB_DATA", str(tmp_path))
    profile = config.get_profile("auto")
    assert profile.chosen_by == "auto: no GPU and no real data"
    assert "(auto: no GPU and no real data)" in config.banner_lines(profile)[0]


def test_configure_devices_lightens_graph_optimisation_on_cpu_only_when_asked():
    import tensorflow as tf

    try:
        config.configure_devices(light_graphs=False)
        assert not tf.config.optimizer.get_experimental_options().get(
            "disable_meta_optimizer", False
        )
    finally:
        config.configure_devices()  # CPU: light graphs by default (as in conftest)
    assert tf.config.optimizer.get_experimental_options()["disable_meta_optimizer"]


class FakeRuntime:
    """Stands in for a GPU machine: records the order of TensorFlow calls."""

    def __init__(self, monkeypatch, started: bool = False):
        import tensorflow as tf

        self.calls: list[str] = []
        self.started = started
        self.growth = False
        gpu = tf.config.PhysicalDevice("/physical_device:GPU:0", "GPU")
        monkeypatch.setattr(config, "gpus", lambda: [gpu])
        monkeypatch.setattr(
            tf.config.experimental, "set_memory_growth", self.set_memory_growth
        )
        monkeypatch.setattr(
            tf.config.experimental, "get_memory_growth", lambda device: self.growth
        )
        monkeypatch.setattr(tf.config, "list_logical_devices", self.list_logical)

    def set_memory_growth(self, device, enable):
        self.calls.append("set_memory_growth")
        if self.started:
            raise RuntimeError(
                "Physical devices cannot be modified after being initialized"
            )
        self.growth = enable

    def list_logical(self, kind=None):
        self.calls.append("list_logical_devices")
        self.started = True
        return []


def test_banner_turns_on_memory_growth_before_starting_the_runtime(monkeypatch):
    runtime = FakeRuntime(monkeypatch)
    config.banner_lines(config.get_profile("quick"))
    assert runtime.calls[:2] == ["set_memory_growth", "list_logical_devices"]
    assert runtime.growth
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # growth is already on: nothing to warn
        config.configure_devices(mixed_precision=False, light_graphs=True)


def test_memory_growth_too_late_warns_instead_of_passing_silently(monkeypatch):
    FakeRuntime(monkeypatch, started=True)
    with pytest.warns(RuntimeWarning, match="memory growth could not be turned on"):
        config.configure_devices(mixed_precision=False, light_graphs=True)
