"""Datasets: PASCAL VOC 2012, Oxford-IIIT Pet, built-in stand-ins."""

from __future__ import annotations

from pathlib import Path

from seglab import config

__all__ = ["DatasetError", "dataset_root", "pets_dataset", "voc_dataset"]

# TensorFlow loads only when a loader is used, so `seglab data synth` and the
# set-up script start fast.
_LAZY = {
    "DatasetError": "seglab.data.voc",
    "voc_dataset": "seglab.data.voc",
    "pets_dataset": "seglab.data.pets",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'seglab.data' has no attribute {name!r}")


def dataset_root(name: str, profile: config.Profile | None = None) -> Path:
    """Where the lessons read ``"voc"`` or ``"pets"`` from under a profile.

    Quick profile: the built-in VOC-format data (generated on first use) and
    the shipped sample of real Pets photos. Full profile:
    ``<data home>/voc`` or ``<data home>/pets``, as ``seglab data download``
    writes them; a clear error when they are missing.
    """
    from seglab.data import pets, sample, synthetic, voc
    from seglab.data.voc import DatasetError

    if name not in ("voc", "pets"):
        raise ValueError(f"dataset must be 'voc' or 'pets', got {name!r}")
    profile = profile or config.get_profile()
    if profile.synthetic_data:
        return synthetic.ensure_voc() if name == "voc" else sample.shipped_sample()
    root = config.data_home() / name
    try:
        (voc.find_voc if name == "voc" else pets.find_pets)(root)
    except DatasetError as error:
        raise DatasetError(
            f"the {profile.name} profile needs the real dataset: {error} "
            f"Or run with {config.PROFILE_ENV}=quick for the built-in data."
        ) from error
    return root
