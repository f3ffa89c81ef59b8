"""``seglab train unet``, ``evaluate``, ``export`` and ``predict`` end to end."""

import json

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from seglab import cli
from seglab.data import synthetic
from seglab.data.pets import read_split


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A U-Net trained for one epoch on a raw Oxford-IIIT Pet folder."""
    root = tmp_path_factory.mktemp("cli")
    pets = synthetic.write_pets(
        root / "pets", num_trainval=8, num_test=4, progress=False
    )
    out = root / "run"
    code = cli.main(
        [
            "train",
            "unet",
            "--data",
            f"pets:{pets}",
            "--profile",
            "quick",
            "--epochs",
            "1",
            "--image-size",
            "64",
            "--batch-size",
            "4",
            "--class-weights",
            "1,1,3",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    return pets, out


def test_train_unet_on_a_raw_pets_folder_writes_the_shared_outputs(trained):
    _, out = trained
    for name in ("model.keras", "best.keras", "history.csv", "metrics.json"):
        assert (out / name).is_file(), name
    assert any((out / "logs").rglob("events.out.tfevents.*"))
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["classes"] == ["pet", "background", "border"]
    assert metrics["weights"] == "random" and metrics["epochs"] == 1
    assert metrics["settings"]["class_weights"] == [1.0, 1.0, 3.0]
    assert set(metrics["per_class_iou"]) == {"pet", "background", "border"}
    assert set(metrics["per_class_f1"]) == {"pet", "background", "border"}
    assert metrics["synthetic_data"] is True and "synthetic" in metrics["data"]
    assert 0.0 <= metrics["mean_iou"] <= 1.0


def test_evaluate_prints_json_with_per_class_iou(trained, capsys):
    pets, out = trained
    assert (
        cli.main(
            [
                "evaluate",
                str(out / "model.keras"),
                "--data",
                f"pets:{pets}",
                "--split",
                "test",
                "--json",
            ]
        )
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert report["images"] == 4 and report["image_size"] == [64, 64]
    assert set(report["per_class_iou"]) == {"pet", "background", "border"}
    assert 0.0 <= report["mean_f1"] <= 1.0
    trimaps = pets / "annotations" / "trimaps"  # scored at the original size
    sizes = [
        Image.open(trimaps / f"{name}.png").size for name in read_split(pets, "test")
    ]
    assert sum(report["class_pixels"].values()) == sum(w * h for w, h in sizes)


def test_export_then_predict_writes_label_and_overlay_per_image(
    trained, tmp_path, capsys
):
    pets, out = trained
    saved = tmp_path / "saved"  # an earlier export's folder: refused, then replaced
    saved.mkdir()
    (saved / "saved_model.pb").write_text("an old export")
    assert cli.main(["export", str(out / "model.keras"), str(saved)]) == 1
    assert "--force" in capsys.readouterr().err
    assert (saved / "saved_model.pb").read_text() == "an old export"
    assert cli.main(["export", str(out / "model.keras"), str(saved), "--force"]) == 0
    assert (saved / "saved_model.pb").read_bytes() != b"an old export"

    photo = next((pets / "images").glob("*.jpg"))
    bad = tmp_path / "notes.jpg"
    bad.write_text("hello")
    code = cli.main(
        ["predict", str(saved), str(bad), str(photo), "--out", str(tmp_path / "pred")]
    )
    captured = capsys.readouterr()
    assert code == 1 and str(bad) in captured.err
    label = Image.open(tmp_path / "pred" / f"{photo.stem}_label.png")
    assert label.mode == "P" and label.size == Image.open(photo).size
    assert (tmp_path / "pred" / f"{photo.stem}_overlay.png").is_file()
    keras_code = cli.main(
        [
            "predict",
            str(out / "model.keras"),
            str(photo),
            "--out",
            str(tmp_path / "pred_keras"),
        ]
    )
    assert keras_code == 0
    same = Image.open(tmp_path / "pred_keras" / f"{photo.stem}_label.png")
    np.testing.assert_array_equal(np.asarray(same), np.asarray(label))
    background = np.asarray(label) == 1
    decoded = tf.io.decode_image(photo.read_bytes(), channels=3)  # as served
    original = decoded.numpy().astype(int)
    for folder in ("pred", "pred_keras"):  # Pets overlays leave background alone
        path = tmp_path / folder / f"{photo.stem}_overlay.png"
        overlay = np.asarray(Image.open(path)).astype(int)
        np.testing.assert_array_equal(overlay[background], original[background])
        if (~background).any():  # pet or border predicted: those are tinted
            assert np.abs(overlay[~background] - original[~background]).mean() > 3


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "unet", "--data", "pets:/no/such/folder"], "pets:DIR"),
        (["train", "unet", "--class-weights", "1,2"], "expected 3"),
        (["train", "unet", "--image-size", "100", "--epochs", "1"], "multiple of 32"),
        (["evaluate", "/no/model.keras"], "does not exist"),
        (["predict", "/no/model.keras", "x.jpg", "--out", "o"], "does not exist"),
    ],
)
def test_bad_arguments_give_one_clear_error(argv, message, capsys):
    assert cli.main(argv) == 1
    assert message in capsys.readouterr().err
