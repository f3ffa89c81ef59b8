"""Profiles, devices, seeds and the banner every lesson prints first.

A *profile* says how much work a lesson does:

- ``quick``: CPU-sized runs, minutes per lesson: built-in synthetic data in the
  VOC format, and a shipped sample of 300 real Oxford-IIIT Pet photos;
- ``full``: the book's settings on the complete real datasets, meant for a GPU;
- ``auto`` (the default): ``full`` when a GPU and the real data are both present,
  otherwise ``quick``.

Choose one with the ``SEGLAB_PROFILE`` environment variable or pass it to
:func:`get_profile`.
"""

from __future__ import annotations

import dataclasses
import os
import random
import warnings
from pathlib import Path

PROFILE_NAMES = ("quick", "full", "auto")
DATA_ENV = "SEGLAB_DATA"
PROFILE_ENV = "SEGLAB_PROFILE"


class ProfileError(ValueError):
    """An unknown profile name was given."""


@dataclasses.dataclass(frozen=True)
class Profile:
    """Settings that differ between a laptop run and a full GPU run."""

    name: str
    # PASCAL VOC / DeepLabV3 (lessons 02, 04, 06)
    voc_image_size: int
    voc_batch_size: int
    deeplab_epochs: int
    # Oxford-IIIT Pets / U-Net (lessons 05, 06)
    pets_image_size: int
    pets_batch_size: int
    unet_epochs: int
    # where the data and the backbone weights come from
    synthetic_data: bool
    backbone_weights: str | None
    # how the profile was picked, when SEGLAB_PROFILE=auto chose it
    chosen_by: str = ""

    @property
    def data_description(self) -> str:
        """One phrase naming the data this profile trains on."""
        if self.synthetic_data:
            return (
                "built-in synthetic VOC-format data; Oxford-IIIT Pet: a shipped "
                "sample of 300 real photos"
            )
        return "real PASCAL VOC 2012 / Oxford-IIIT Pet"


QUICK = Profile(
    name="quick",
    voc_image_size=128,
    voc_batch_size=8,
    deeplab_epochs=17,
    pets_image_size=128,
    pets_batch_size=4,  # twice the steps of batch 8 in about the same time
    unet_epochs=8,
    synthetic_data=True,
    backbone_weights=None,
)

FULL = Profile(
    name="full",
    voc_image_size=384,
    voc_batch_size=8,
    deeplab_epochs=25,
    pets_image_size=128,
    pets_batch_size=64,
    unet_epochs=20,
    synthetic_data=False,
    backbone_weights="imagenet",
)


def gpus() -> list:
    """The visible GPUs, as TensorFlow lists them (empty on a CPU machine)."""
    import tensorflow as tf

    return tf.config.list_physical_devices("GPU")


def data_home() -> Path:
    """The folder that holds downloaded and generated datasets.

    ``$SEGLAB_DATA`` when set, else ``~/.cache/seglab``.
    """
    env = os.environ.get(DATA_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "seglab"


def real_data_present(home: Path | None = None) -> bool:
    """Whether the real VOC 2012 folder exists under the data home."""
    home = data_home() if home is None else home
    voc = home / "voc" / "VOCdevkit" / "VOC2012"
    return (voc / "JPEGImages").is_dir() and not (
        home / "voc" / "SEGLAB_SYNTHETIC.json"
    ).exists()


def get_profile(name: str | None = None) -> Profile:
    """Resolve a profile name (or ``$SEGLAB_PROFILE``) into its settings.

    Raises:
        ProfileError: the name is none of ``quick``, ``full``, ``auto``.
    """
    source = "argument"
    if name is None:
        name = os.environ.get(PROFILE_ENV, "auto")
        source = f"${PROFILE_ENV}"
    key = str(name).strip().lower()
    if key not in PROFILE_NAMES:
        raise ProfileError(
            f"unknown profile {name!r} (from {source}); valid profiles are "
            f"{', '.join(PROFILE_NAMES)}. Example: {PROFILE_ENV}=quick"
        )
    if key == "auto":
        return dataclasses.replace(_auto_profile(), chosen_by=auto_reason())
    return QUICK if key == "quick" else FULL


def _auto_profile() -> Profile:
    return FULL if gpus() and real_data_present() else QUICK


def auto_reason() -> str:
    """Why ``auto`` picks the profile it picks, in a few words."""
    has_gpu, has_data = bool(gpus()), real_data_present()
    if has_gpu and has_data:
        return "auto: a GPU and the real data are present"
    missing = [
        name for name, ok in (("no GPU", has_gpu), ("no real data", has_data)) if not ok
    ]
    return f"auto: {' and '.join(missing)}"


def set_seed(seed: int = 42) -> None:
    """Seed Python, NumPy, TensorFlow and Keras for a repeatable run."""
    import keras
    import numpy as np

    random.seed(seed)
    np.random.seed(seed)
    keras.utils.set_random_seed(seed)


def enable_memory_growth() -> list:
    """Let every visible GPU's memory grow on demand; returns the GPUs.

    Without it TensorFlow reserves almost all of a GPU's memory when it starts,
    so a second notebook kernel on the same GPU runs out of memory. Growth can
    only be set before the runtime starts (anything that lists *logical*
    devices, creates a tensor or builds a model starts it), so
    :func:`banner_lines` calls this first. When it is too late, this warns
    (restart the kernel, or set ``TF_FORCE_GPU_ALLOW_GROWTH=true`` before
    starting Python); it never fails silently.
    """
    import tensorflow as tf

    found = gpus()
    for gpu in found:
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError as error:  # the runtime already started
            if tf.config.experimental.get_memory_growth(gpu):
                continue
            warnings.warn(
                f"GPU memory growth could not be turned on for {gpu.name} "
                f"({error}); this process may hold the whole GPU. Call "
                "seglab.config.banner() or enable_memory_growth() before any "
                "other TensorFlow call (restart the kernel), or set "
                "TF_FORCE_GPU_ALLOW_GROWTH=true before starting Python.",
                RuntimeWarning,
                stacklevel=2,
            )
    return found


def configure_devices(
    mixed_precision: bool | None = None, light_graphs: bool | None = None
) -> str:
    """Turn on GPU memory growth and, on a GPU, mixed precision.

    Args:
        mixed_precision: ``None`` picks it when a GPU is present; ``False``
            keeps float32 everywhere.
        light_graphs: skip Grappler's graph optimisations. ``None`` picks it on
            a CPU: the quick profile's short runs spend more time optimising
            each traced function than the optimised graph saves (lesson 05 ran
            about a fifth faster, with the same results).

    Returns:
        The Keras dtype policy now in force (``"float32"`` or
        ``"mixed_float16"``).
    """
    import keras
    import tensorflow as tf

    found = enable_memory_growth()
    if mixed_precision is None:
        mixed_precision = bool(found)
    if light_graphs is None:
        light_graphs = not found
    tf.config.optimizer.set_experimental_options(
        {"disable_meta_optimizer": bool(light_graphs)}
    )
    policy = "mixed_float16" if mixed_precision else "float32"
    keras.mixed_precision.set_global_policy(policy)
    return policy


def data_is_synthetic(profile: Profile, data: str | None = None) -> bool:
    """Whether the banner's data is synthetic: ``data`` says so, or the profile.

    Descriptions of synthetic data always contain the word "synthetic" (see
    :func:`seglab.data.pets.describe_source`); real folders, the shipped Pets
    sample and tensorflow-datasets never do.
    """
    if data is None:
        return profile.synthetic_data
    return "synthetic" in data.lower()


def banner_lines(
    profile: Profile,
    *,
    data: str | None = None,
    weights: str | None = None,
) -> list[str]:
    """The lines of the banner, without printing them (for tests and CLIs).

    The note that synthetic numbers are not VOC/Pets results appears only
    when the data in use is synthetic (:func:`data_is_synthetic`).
    """
    import keras
    import tensorflow as tf

    enable_memory_growth()  # before listing logical devices starts the runtime
    devices = [d.name for d in tf.config.list_logical_devices()]
    gpu_count = len(gpus())
    if weights is None:
        if profile.backbone_weights == "imagenet":
            weights = "ImageNet (downloaded by Keras on first use)"
        else:
            weights = "random initialisation (quick profile: no download)"
    return [
        f"seglab profile : {profile.name}"
        + (f"   ({profile.chosen_by})" if profile.chosen_by else ""),
        f"TensorFlow     : {tf.__version__}   Keras: {keras.__version__}",
        f"devices        : {', '.join(devices)}"
        + ("" if gpu_count else "   (no GPU: training runs on the CPU)"),
        f"data           : {data or profile.data_description}",
        f"weights        : {weights}",
    ] + (
        ["note           : numbers from synthetic data are not VOC/Pets results"]
        if data_is_synthetic(profile, data)
        else []
    )


def banner(
    profile: Profile | str | None = None,
    *,
    data: str | None = None,
    weights: str | None = None,
) -> Profile:
    """Print what runs where: versions, devices, profile, data and weights.

    Returns the resolved profile, so a lesson can write
    ``profile = seglab.config.banner()``.
    """
    if not isinstance(profile, Profile):
        profile = get_profile(profile)
    print("\n".join(banner_lines(profile, data=data, weights=weights)))
    return profile
