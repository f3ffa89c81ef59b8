import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from seglab import evaluate


def _channel_model(height=6, width=5):
    """A 'model' whose logits are its input: argmax picks the largest channel."""
    inputs = keras.Input((height, width, 3))
    return keras.Model(inputs, keras.layers.Identity()(inputs))


def _data(count=5, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.random((count, 6, 5, 3), dtype=np.float32)
    labels = rng.integers(0, 3, size=(count, 6, 5)).astype(np.int32)
    labels[0, 0, :] = 255
    return images, labels


def _numpy_scores(images, labels):
    predictions = images.argmax(-1)
    valid = labels != 255
    matrix = np.zeros((3, 3), np.int64)
    np.add.at(matrix, (labels[valid], predictions[valid]), 1)
    iou = np.diag(matrix) / (matrix.sum(0) + matrix.sum(1) - np.diag(matrix))
    recall = np.diag(matrix) / matrix.sum(1)
    precision = np.diag(matrix) / matrix.sum(0)
    f1 = 2 * precision * recall / (precision + recall)
    return matrix, iou, recall, f1


def test_scores_match_a_numpy_confusion_matrix_over_the_whole_dataset():
    images, labels = _data()
    ds = tf.data.Dataset.from_tensor_slices((images, labels)).batch(2)
    result = evaluate.evaluate_model(_channel_model(), ds)
    matrix, iou, recall, f1 = _numpy_scores(images, labels)
    np.testing.assert_array_equal(result["confusion_matrix"], matrix)
    np.testing.assert_allclose(result["per_class_iou"], iou)
    assert result["mean_iou"] == pytest.approx(iou.mean())
    np.testing.assert_allclose(result["per_class_f1"], f1)
    assert result["mean_f1"] == pytest.approx(f1.mean())
    assert result["mean_accuracy"] == pytest.approx(recall.mean())
    assert result["pixel_accuracy"] == pytest.approx(np.trace(matrix) / matrix.sum())
    assert result["images"] == 5
    np.testing.assert_array_equal(result["class_pixels"], matrix.sum(1))


def test_majority_baseline_predicts_the_most_common_class():
    matrix = np.array([[10, 0, 0], [0, 70, 0], [0, 0, 20]])
    baseline = evaluate.majority_baseline(matrix)
    assert baseline["pixel_accuracy"] == pytest.approx(0.7)
    assert baseline["mean_iou"] == pytest.approx(0.7 / 3)


def test_per_image_losses_match_numpy_cross_entropy():
    images, labels = _data()
    ds = tf.data.Dataset.from_tensor_slices((images, labels)).batch(2)
    losses = evaluate.per_image_losses(_channel_model(), ds)
    shifted = images - images.max(-1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
    expected = []
    for image_log_probs, image_labels in zip(log_probs, labels, strict=True):
        valid = image_labels != 255
        picked = np.take_along_axis(
            image_log_probs, np.where(valid, image_labels, 0)[..., None], -1
        )[..., 0]
        expected.append(-picked[valid].mean())
    np.testing.assert_allclose(losses, expected, rtol=1e-5)


def test_top_n_hardest_are_the_largest_losses_in_order():
    indices, values = evaluate.top_n_hardest([0.1, 0.9, 0.3, 0.7], 2)
    assert indices.tolist() == [1, 3]
    np.testing.assert_allclose(values, [0.9, 0.7])
    with pytest.raises(ValueError, match="at least 1"):
        evaluate.top_n_hardest([0.1], 0)


def test_hardest_examples_returns_those_images_and_predictions():
    images, labels = _data(count=7)
    ds = tf.data.Dataset.from_tensor_slices((images, labels)).batch(3)
    hardest = evaluate.hardest_examples(_channel_model(), ds, n=3)
    worst = np.argsort(-hardest["all_losses"])[:3]
    assert hardest["indices"].tolist() == worst.tolist()
    np.testing.assert_array_equal(hardest["images"], images[worst])
    np.testing.assert_array_equal(hardest["labels"], labels[worst])
    np.testing.assert_array_equal(hardest["predictions"], images[worst].argmax(-1))


def test_history_csv_is_read_per_epoch(tmp_path):
    (tmp_path / "history.csv").write_text(
        "epoch,loss,mean_iou,val_loss\n0,1.0,0.2,1.1\n1,0.5,0.4,0.7\n"
    )
    history = evaluate.read_history(tmp_path)
    assert list(history["loss"]) == [1.0, 0.5]
    with pytest.raises(FileNotFoundError, match="history"):
        evaluate.read_history(tmp_path / "missing")


def test_event_files_are_read_back_per_run_and_tag(tmp_path):
    for run, offset in (("train", 0.0), ("validation", 0.5)):
        writer = tf.summary.create_file_writer(str(tmp_path / run))
        with writer.as_default():
            for step in range(3):
                tf.summary.scalar("epoch_loss", 1.0 / (step + 1) + offset, step=step)
            tf.summary.text("keras", "a model config, not a number", step=0)
        writer.close()
    scalars = evaluate.read_event_scalars(tmp_path)
    assert set(scalars["run"]) == {"train", "validation"}
    assert set(scalars["tag"]) == {"epoch_loss"}
    curve = evaluate.event_curve(scalars, "validation", "epoch_loss")
    np.testing.assert_allclose(curve.to_numpy(), [1.5, 1.0, 0.5 + 1 / 3], rtol=1e-6)
    assert curve.index.tolist() == [0, 1, 2]
    with pytest.raises(KeyError, match="train/epoch_loss"):
        evaluate.event_curve(scalars, "train", "epoch_mean_iou")


def test_no_event_files_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="TensorBoard"):
        evaluate.read_event_scalars(tmp_path)


def test_report_and_json_name_every_class():
    images, labels = _data()
    ds = tf.data.Dataset.from_tensor_slices((images, labels)).batch(5)
    result = evaluate.evaluate_model(_channel_model(), ds)
    text = evaluate.format_report(result)
    assert all(name in text for name in ("pet", "background", "border"))
    report = evaluate.to_json(result)
    assert set(report["per_class_iou"]) == {"pet", "background", "border"}
    assert set(report["per_class_f1"]) == {"pet", "background", "border"}
    assert report["mean_f1"] == pytest.approx(result["mean_f1"])
    assert "mean F1" in text
    table = evaluate.per_class_table(result)
    assert isinstance(table, pd.DataFrame) and table.shape == (3, 4)


def test_load_model_errors_name_the_path_and_the_fix(tmp_path):
    with pytest.raises(FileNotFoundError, match="seglab train"):
        evaluate.load_model(tmp_path / "nothing.keras")
    (tmp_path / "weights.h5").write_bytes(b"junk")
    with pytest.raises(ValueError, match="not a .keras file"):
        evaluate.load_model(tmp_path / "weights.h5")
    (tmp_path / "broken.keras").write_bytes(b"junk")
    with pytest.raises(ValueError, match="cannot load model"):
        evaluate.load_model(tmp_path / "broken.keras")


@pytest.mark.parametrize(
    ("text", "kind", "source"),
    [
        ("sample", "pets", "sample"),
        ("synthetic", "pets", "synthetic"),
        ("tfds", "pets", "tfds"),
        ("pets:/data/pets", "pets", "/data/pets"),
        ("voc:synthetic", "voc", "synthetic"),
    ],
)
def test_data_argument_is_parsed(text, kind, source):
    spec = evaluate.parse_data(text, num_classes=3)
    assert (spec.kind, spec.source) == (kind, source)


def test_reports_say_whether_pets_data_is_real_or_synthetic():
    assert "300 real photos" in evaluate.parse_data("sample").describe()
    assert "synthetic" in evaluate.parse_data("synthetic", 3).describe()


def test_unknown_data_argument_lists_the_choices():
    with pytest.raises(ValueError, match="pets:DIR"):
        evaluate.parse_data("imagenet")
    assert evaluate.parse_data("synthetic", num_classes=21).kind == "voc"
