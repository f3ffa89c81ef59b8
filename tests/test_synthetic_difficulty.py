"""The built-in VOC data needs context: colour alone must not solve it."""

import numpy as np
import pytest

from seglab.data import voc_dataset
from seglab.palette import IGNORE_LABEL

pytestmark = pytest.mark.slow


def _arrays(root, split, size=64):
    ds = voc_dataset(root, split, image_size=size, batch_size=256, progress=False)
    images, labels = next(iter(ds))
    return images.numpy(), labels.numpy()


def _miou(truth, predicted, classes):
    valid = truth != IGNORE_LABEL
    ious = []
    for c in classes:
        t, p = (truth == c) & valid, (predicted == c) & valid
        union = (t | p).sum()
        if union:
            ious.append((t & p).sum() / union)
    return float(np.mean(ious))


def _train(model, images, labels, epochs):
    import keras

    weights = (labels != IGNORE_LABEL).astype("float32")
    targets = np.where(labels == IGNORE_LABEL, 0, labels)
    model.compile(
        optimizer=keras.optimizers.Adam(3e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    model.fit(
        images, targets, sample_weight=weights, batch_size=16, epochs=epochs, verbose=0
    )
    return model


def test_small_cnn_beats_a_per_pixel_colour_classifier(voc_root):
    import keras

    from seglab.data.synthetic import SYNTHETIC_VOC_CLASSES

    keras.utils.set_random_seed(0)
    train_x, train_y = _arrays(voc_root, "train")
    val_x, val_y = _arrays(voc_root, "val")

    colour = keras.Sequential(
        [
            keras.Input((None, None, 3)),
            keras.layers.Conv2D(64, 1, activation="relu"),
            keras.layers.Conv2D(64, 1, activation="relu"),
            keras.layers.Conv2D(21, 1),
        ]
    )
    cnn = keras.Sequential(
        [
            keras.Input((None, None, 3)),
            keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
            keras.layers.Conv2D(
                32, 3, padding="same", activation="relu", dilation_rate=2
            ),
            keras.layers.Conv2D(
                32, 3, padding="same", activation="relu", dilation_rate=4
            ),
            keras.layers.Conv2D(21, 1),
        ]
    )
    scores = {}
    for name, model in (("colour", colour), ("cnn", cnn)):
        _train(model, train_x, train_y, epochs=20)
        predicted = model.predict(val_x, verbose=0).argmax(-1)
        scores[name] = _miou(val_y, predicted, SYNTHETIC_VOC_CLASSES)
    print(
        f"held-out mIoU: per-pixel colour {scores['colour']:.3f}, "
        f"small CNN {scores['cnn']:.3f}"
    )
    # colour alone gets about the all-background score; context does far better
    assert scores["cnn"] > 1.5 * scores["colour"]
    assert scores["cnn"] > scores["colour"] + 0.08
