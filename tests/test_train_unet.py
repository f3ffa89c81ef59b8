import argparse
import dataclasses

import numpy as np
import pytest

from seglab.cli import train as train_cli
from seglab.train import unet as train_unet


def test_full_profile_is_the_tutorials_run():
    settings = train_unet.unet_settings("full")
    assert (settings.image_size, settings.batch_size, settings.epochs) == (128, 64, 20)
    assert settings.encoder_weights == "imagenet" and not settings.trainable_encoder
    assert settings.alpha == 1.0


def test_quick_profile_puts_class_weights_in_its_ce_dice_loss():
    settings = dataclasses.replace(
        train_unet.unet_settings("quick"), class_weights=(1.0, 1.0, 3.0)
    )
    assert settings.loss == "ce_dice"
    loss = train_unet.make_loss(settings)
    assert loss.get_config()["class_weights"] == [1.0, 1.0, 3.0]
    train, _, _ = train_unet.pets_data(
        dataclasses.replace(settings, image_size=32), "synthetic"
    )
    assert len(train.element_spec) == 2  # no per-pixel weights for this loss


def test_quick_profile_uses_a_random_trainable_encoder():
    settings = train_unet.unet_settings("quick")
    assert settings.encoder_weights is None
    model = train_unet.build_unet(dataclasses.replace(settings, image_size=64))
    assert model.encoder_trainable


@pytest.mark.slow
def test_full_profile_dry_run_takes_two_steps_on_built_in_data(pets_root):
    """The full settings, exactly, for two steps (random weights: no download)."""
    settings = dataclasses.replace(
        train_unet.unet_settings("full"), encoder_weights=None
    )
    train, _, _ = train_unet.pets_data(settings, "synthetic")
    images, masks = next(iter(train))
    assert images.shape == (64, 128, 128, 3) and masks.shape == (64, 128, 128)
    model = train_unet.build_unet(settings)
    model.run_eagerly = True  # the same computation, without the tracing
    history = model.fit(train.take(2), epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert model.output_shape == (None, 128, 128, 3)


def test_sample_weighted_batches_are_triples_with_mean_pixel_weight_one():
    settings = dataclasses.replace(
        train_unet.unet_settings("quick"),
        image_size=64,
        batch_size=4,
        class_weights=(1.0, 1.0, 3.0),
        augment=False,
        loss="cross_entropy",
    )
    train, _, _ = train_unet.pets_data(settings, "sample")
    images, masks, weights = next(iter(train))
    assert images.shape[0] == 4 and weights.shape == masks.shape
    ratio = weights.numpy() / np.array([1.0, 1.0, 3.0])[masks.numpy()]
    np.testing.assert_allclose(ratio, ratio.flat[0], rtol=1e-5)  # one scale
    # over the whole training split the mean weight of a pixel is 1
    total = pixels = 0.0
    for batch in train:
        total += float(batch[2].numpy().sum())
        pixels += batch[2].numpy().size
    assert total / pixels == pytest.approx(1.0, rel=1e-4)
    assert ratio.flat[0] > 0.7  # scaled to mean 1 per class it would be 0.6


def test_train_val_test_are_disjoint_and_validation_is_not_the_test_split():
    settings = dataclasses.replace(
        train_unet.unet_settings("quick"),
        image_size=32,
        batch_size=64,
    )
    train, val, test = train_unet.pets_data(settings, "sample")
    count = [sum(int(x.shape[0]) for x, *_ in ds) for ds in (train, val, test)]
    assert count == [204, 36, 60]


@pytest.mark.parametrize(
    ("text", "expected"),
    [(None, None), ("none", None), ("auto", "auto"), ("1,1,3", (1.0, 1.0, 3.0))],
)
def test_class_weight_argument(text, expected):
    assert train_cli.parse_class_weights(text) == expected


def test_pets_source_accepts_folders_and_rejects_missing_ones(tmp_path):
    assert train_cli.pets_source(f"pets:{tmp_path}") == str(tmp_path)
    assert train_cli.pets_source("tfds") == "tfds"
    assert train_cli.pets_source("sample") == "sample"
    with pytest.raises(ValueError, match="raw Oxford-IIIT Pet folder"):
        train_cli.pets_source("pets:/no/such/place")


@pytest.mark.parametrize(
    ("flag", "expected"),
    [(None, (1.0, 1.0, 2.0)), ("none", None), ("1,1,3", (1.0, 1.0, 3.0))],
)
def test_class_weight_flag_overrides_the_recipe_only_when_given(flag, expected):
    # the quick recipe weights the border twice; the full one weights nothing
    assert train_unet.unet_settings("quick").class_weights == (1.0, 1.0, 2.0)
    assert train_unet.unet_settings("full").class_weights is None
    args = argparse.Namespace(
        profile="quick",
        epochs=None,
        image_size=None,
        batch_size=None,
        alpha=None,
        backbone_weights=None,
        train_encoder=False,
        class_weights=flag,
    )
    settings = train_cli._unet_settings_from_args(args, "synthetic")
    assert settings.class_weights == expected
