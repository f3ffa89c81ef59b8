import matplotlib

matplotlib.use("Agg")

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from seglab import viz


def _tiny_model():
    inputs = keras.Input((8, 8, 3))
    return keras.Model(inputs, keras.layers.Conv2D(3, 1)(inputs))


def _examples(count=3):
    rng = np.random.default_rng(0)
    images = rng.random((count, 8, 8, 3), dtype=np.float32)
    labels = rng.integers(0, 3, size=(count, 8, 8)).astype(np.int32)
    return images, labels


def test_grid_has_one_row_per_example_and_one_column_per_list():
    images, labels = _examples()
    figure = viz.show_grid([list(images), list(labels), list(labels)])
    assert len(figure.axes) == 9
    assert [a.get_title() for a in figure.axes[:3]] == ["input", "truth", "prediction"]
    with pytest.raises(ValueError, match="same number"):
        viz.show_grid([list(images), list(labels[:2])])


def test_class_maps_are_coloured_with_the_voc_table():
    colours = viz.colorize(np.array([[0, 1], [2, 255]]))
    np.testing.assert_array_equal(colours[0, 1], [128, 0, 0])
    np.testing.assert_array_equal(colours[1, 1], [224, 224, 192])
    with pytest.raises(ValueError, match="class map"):
        viz.colorize(np.zeros((2, 2, 3)))


def _shown(axis) -> np.ndarray:
    return np.asarray(axis.get_images()[0].get_array())


def test_show_predictions_shows_input_truth_and_the_models_prediction():
    images, labels = _examples(4)
    ds = tf.data.Dataset.from_tensor_slices((images, labels)).batch(2)
    # a model that says class 2 everywhere, whatever the truth
    inputs = keras.Input((8, 8, 3))
    always_two = keras.layers.Conv2D(
        3,
        1,
        kernel_initializer="zeros",
        bias_initializer=keras.initializers.Constant([0.0, 0.0, 5.0]),
    )(inputs)
    figure = viz.show_predictions(keras.Model(inputs, always_two), ds, num=3)
    assert len(figure.axes) == 9
    for row in range(3):
        shown_input, truth, prediction = (_shown(a) for a in figure.axes[3 * row :][:3])
        np.testing.assert_allclose(shown_input, images[row])
        np.testing.assert_array_equal(truth, viz.colorize(labels[row]))
        np.testing.assert_array_equal(
            prediction, viz.colorize(np.full((8, 8), 2, np.int32))
        )


def test_confusion_matrix_rows_are_normalised():
    figure = viz.plot_confusion_matrix(
        np.array([[8, 2, 0], [1, 1, 0], [0, 0, 0]]), ["pet", "background", "border"]
    )
    shown = figure.axes[0].images[0].get_array()
    np.testing.assert_allclose(shown.sum(axis=1), [1, 1, 0])
    with pytest.raises(ValueError, match="class names"):
        viz.plot_confusion_matrix(np.eye(3), ["a", "b"])


def test_training_curves_pair_train_and_validation():
    history = pd.DataFrame(
        {
            "epoch": [0, 1],
            "loss": [1.0, 0.5],
            "val_loss": [1.2, 0.8],
            "learning_rate": [1e-3, 1e-4],
            "mean_iou": [0.3, 0.5],
        }
    )
    figure = viz.plot_training_curves(history)
    assert [a.get_title() for a in figure.axes] == ["loss", "learning rate", "mean iou"]
    assert len(figure.axes[0].lines) == 2
    with pytest.raises(KeyError, match="none of"):
        viz.plot_training_curves(history, ["accuracy"])


def test_display_callback_runs_headless_and_saves_each_epoch(tmp_path):
    images, labels = _examples(4)
    model = _tiny_model()
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    callback = viz.DisplayCallback(images[0], labels[0], save_dir=tmp_path)
    model.fit(images, labels, epochs=2, verbose=0, callbacks=[callback])
    assert callback.epochs_shown == [1, 2]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["epoch_1.png", "epoch_2.png"]
