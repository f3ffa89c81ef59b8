"""Confusion-matrix metrics against NumPy and keras.metrics.MeanIoU."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from seglab import metrics

NUM_CLASSES = 5
IGNORE = 255


def random_batches(count: int = 4, seed: int = 0):
    """``count`` (labels int32 (B, H, W) with 255, logits float32 (B, H, W, C))."""
    rng = np.random.default_rng(seed)
    batches = []
    for _ in range(count):
        labels = rng.integers(0, NUM_CLASSES - 1, (2, 6, 7)).astype(np.int32)
        labels[rng.random(labels.shape) < 0.2] = IGNORE
        logits = rng.normal(size=labels.shape + (NUM_CLASSES,)).astype(np.float32)
        logits[..., 0] += labels == 0  # better than chance on class 0
        batches.append((labels, logits))
    return batches


def np_confusion(batches):
    matrix = np.zeros((NUM_CLASSES, NUM_CLASSES), np.int64)
    for labels, logits in batches:
        valid = labels != IGNORE
        predicted = logits.argmax(-1)
        np.add.at(matrix, (labels[valid], predicted[valid]), 1)
    return matrix


def np_scores(matrix):
    """Reference: pooled pixel accuracy, mean accuracy, IoU and F1."""
    diag = np.diag(matrix).astype(float)
    truth, predicted = matrix.sum(1), matrix.sum(0)
    in_truth = truth > 0
    union = truth + predicted - diag
    iou = {c: diag[c] / union[c] for c in range(NUM_CLASSES) if union[c] > 0}
    return {
        "pixel_accuracy": diag.sum() / matrix.sum(),
        "mean_accuracy": np.mean(diag[in_truth] / truth[in_truth]),
        "iou": iou,
        "mean_iou": np.mean(list(iou.values())),
        "f1": np_f1(matrix),
        "mean_f1": np.mean(list(np_f1(matrix).values())),
    }


def np_f1(matrix):
    """Reference F1 per class as the harmonic mean of precision and recall.

    A class absent from truth and prediction is left out; one with no true
    positive scores 0 (its precision or recall is 0 or undefined).
    """
    scores = {}
    for c in range(NUM_CLASSES):
        hits = matrix[c, c]
        in_truth, in_prediction = matrix[c, :].sum(), matrix[:, c].sum()
        if in_truth + in_prediction == 0:
            continue
        if hits == 0:
            scores[c] = 0.0
            continue
        precision, recall = hits / in_prediction, hits / in_truth
        scores[c] = 2 * precision * recall / (precision + recall)
    return scores


def fresh_metrics():
    return {
        "pixel_accuracy": metrics.PixelAccuracy(NUM_CLASSES),
        "mean_accuracy": metrics.MeanAccuracy(NUM_CLASSES),
        "mean_iou": metrics.MeanIoU(NUM_CLASSES),
        "mean_f1": metrics.MeanF1(NUM_CLASSES),
    }


def test_metrics_accumulate_one_confusion_matrix_over_batches():
    batches = random_batches()
    ours = fresh_metrics()
    for labels, logits in batches:
        for metric in ours.values():
            metric.update_state(labels, logits)
    reference = np_scores(np_confusion(batches))
    for name, metric in ours.items():
        assert float(metric.result()) == pytest.approx(reference[name], rel=1e-6)
    np.testing.assert_array_equal(
        ours["mean_iou"].confusion_matrix(), np_confusion(batches)
    )


def test_per_class_iou_is_nan_exactly_for_classes_absent_from_both():
    batches = random_batches()  # class 4 is never a label; predicted sometimes
    metric = metrics.MeanIoU(NUM_CLASSES)
    for labels, logits in batches:
        logits[..., 3] -= 100.0  # class 3 is never predicted, but is in truth
        metric.update_state(labels, logits)
    reference = np_scores(np_confusion(batches))
    per_class = metric.per_class_iou()
    for c in range(NUM_CLASSES):
        if c in reference["iou"]:
            assert per_class[c] == pytest.approx(reference["iou"][c])
        else:
            assert np.isnan(per_class[c])
    assert per_class[3] == 0.0  # in the truth, never predicted: IoU 0, counted


def test_class_absent_from_truth_and_prediction_is_left_out_of_the_mean():
    labels = np.array([[[0, 0, 1, 1]]], np.int32)
    predictions = np.array([[[0, 0, 1, 0]]], np.int32)
    metric = metrics.MeanIoU(NUM_CLASSES)
    metric.update_state(labels, predictions)
    # class 0: 2 / 3, class 1: 1 / 2; classes 2-4 absent everywhere
    assert float(metric.result()) == pytest.approx((2 / 3 + 1 / 2) / 2)


def test_mean_iou_equals_keras_mean_iou_with_ignore_class():
    batches = random_batches(seed=3)
    ours = metrics.MeanIoU(NUM_CLASSES)
    theirs = keras.metrics.MeanIoU(
        NUM_CLASSES, ignore_class=IGNORE, sparse_y_pred=False
    )
    for labels, logits in batches:
        ours.update_state(labels, logits)
        theirs.update_state(labels, logits)
    assert float(ours.result()) == pytest.approx(float(theirs.result()), rel=1e-5)


def test_pooled_mean_differs_from_the_average_of_per_batch_means():
    small_wrong = (np.array([[[1]]], np.int32), np.array([[[0]]], np.int32))
    big_right = (np.ones((1, 4, 4), np.int32), np.ones((1, 4, 4), np.int32))
    metric = metrics.PixelAccuracy(NUM_CLASSES)
    for labels, predicted in (small_wrong, big_right):
        metric.update_state(labels, predicted)
    assert float(metric.result()) == pytest.approx(16 / 17)  # not (0 + 1) / 2


def test_all_wrong_batch_scores_zero_mean_accuracy():
    labels = np.zeros((1, 4, 4), np.int32)
    labels[0, :2] = 1
    metric = metrics.MeanAccuracy(NUM_CLASSES)
    metric.update_state(labels, (labels + 2).astype(np.int32))
    assert float(metric.result()) == 0.0


def test_ignored_pixels_are_never_counted():
    labels, logits = random_batches(1)[0]
    changed = logits.copy()
    changed[labels == IGNORE] = -changed[labels == IGNORE]
    for make in (metrics.PixelAccuracy, metrics.MeanAccuracy, metrics.MeanIoU):
        first, second = make(NUM_CLASSES), make(NUM_CLASSES)
        first.update_state(labels, logits)
        second.update_state(labels, changed)
        assert float(first.result()) == float(second.result())
    matrix = metrics.confusion_matrix(labels, logits, NUM_CLASSES).numpy()
    assert matrix.sum() == np.count_nonzero(labels != IGNORE)


def test_reset_state_starts_a_new_evaluation():
    batches = random_batches(2)
    metric = metrics.MeanIoU(NUM_CLASSES)
    metric.update_state(*batches[0])
    metric.reset_state()
    metric.update_state(*batches[1])
    expected = np_scores(np_confusion(batches[1:]))["mean_iou"]
    assert float(metric.result()) == pytest.approx(expected, rel=1e-6)


def test_empty_evaluation_is_finite():
    for metric in fresh_metrics().values():
        ignored = np.full((1, 2, 2), IGNORE, np.int32)
        metric.update_state(ignored, np.zeros((1, 2, 2, NUM_CLASSES)))
        assert float(metric.result()) == 0.0


def test_scores_from_matrix_agree_with_the_metric_classes():
    batches = random_batches(3, seed=9)
    matrix = np_confusion(batches)
    scores = metrics.scores_from_matrix(matrix)
    reference = np_scores(matrix)
    for name in ("pixel_accuracy", "mean_accuracy", "mean_iou", "mean_f1"):
        assert scores[name] == pytest.approx(reference[name])
    for c in range(NUM_CLASSES):
        if c in reference["f1"]:
            assert scores["per_class_f1"][c] == pytest.approx(reference["f1"][c])
        else:
            assert np.isnan(scores["per_class_f1"][c])


def test_f1_is_the_dice_coefficient_of_each_class_mask():
    labels = np.array([[[0, 0, 1, 1], [1, 1, 2, IGNORE]]], np.int32)
    predicted = np.array([[[0, 1, 1, 1], [1, 2, 2, 0]]], np.int32)
    metric = metrics.MeanF1(3)
    metric.update_state(labels, predicted)
    valid = labels != IGNORE
    dice = []
    for c in range(3):
        truth, guess = (labels == c) & valid, (predicted == c) & valid
        dice.append(2 * (truth & guess).sum() / (truth.sum() + guess.sum()))
    np.testing.assert_allclose(metric.per_class_f1(), dice)
    assert float(metric.result()) == pytest.approx(np.mean(dice))


def test_per_class_f1_follows_from_iou():
    matrix = np_confusion(random_batches(2, seed=3))
    iou = metrics.per_class_iou_from_matrix(matrix)
    f1 = metrics.per_class_f1_from_matrix(matrix)
    np.testing.assert_allclose(f1, 2 * iou / (1 + iou))


def test_evaluate_runs_the_model_in_inference_mode_over_a_dataset():
    import tensorflow as tf

    batches = random_batches(3, seed=5)
    images = np.concatenate([logits for _, logits in batches])
    labels = np.concatenate([labels for labels, _ in batches])
    identity = keras.Sequential(
        [keras.Input((6, 7, NUM_CLASSES)), keras.layers.Dropout(0.9)]
    )
    dataset = tf.data.Dataset.from_tensor_slices((images, labels)).batch(2)
    scores = metrics.evaluate(identity, dataset, NUM_CLASSES)
    np.testing.assert_array_equal(scores["confusion_matrix"], np_confusion(batches))


def test_sample_weight_is_refused_with_a_hint():
    labels, logits = random_batches(1)[0]
    with pytest.raises(ValueError, match="label the pixels to skip with 255"):
        metrics.MeanIoU(NUM_CLASSES).update_state(
            labels, logits, sample_weight=np.ones(labels.shape)
        )
