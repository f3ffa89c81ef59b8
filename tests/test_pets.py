import numpy as np
import pytest
from PIL import Image

from seglab.data import pets, pets_dataset
from seglab.data.voc import DatasetError


def test_trimaps_are_shifted_to_pet_background_border(small_pets):
    ds = pets_dataset(small_pets, "trainval", image_size=64, batch_size=6)
    images, masks = next(iter(ds))
    assert images.shape == (6, 64, 64, 3) and masks.shape == (6, 64, 64)
    assert set(np.unique(masks.numpy())) == {0, 1, 2}
    # background (1) is the most common class, the border (2) the rarest
    counts = np.bincount(masks.numpy().ravel(), minlength=3)
    assert counts.argmax() == 1 and counts.argmin() == 2


def test_augmented_pets_pad_with_background(small_pets):
    ds = pets_dataset(
        small_pets, "train", image_size=96, batch_size=6, augment=True, seed=1
    )
    _, masks = next(iter(ds))
    assert set(np.unique(masks.numpy())) <= {0, 1, 2}


def test_synthetic_source_and_splits(pets_root):
    assert pets.resolve_source("synthetic") == ("synthetic", pets_root)
    ds = pets_dataset("synthetic", "test", image_size=32, batch_size=64)
    assert sum(int(x.shape[0]) for x, _ in ds) == 64


def test_a_png_or_gif_named_jpg_is_decoded_and_reported(small_pets, capsys):
    name = pets.read_split(small_pets, "train")[0]
    path = small_pets / "images" / f"{name}.jpg"
    rgb = Image.open(path).convert("RGBA")
    rgb.save(path, format="PNG")  # an RGBA PNG behind a .jpg name
    other = pets.read_split(small_pets, "train")[1]
    Image.open(small_pets / "images" / f"{other}.jpg").save(
        small_pets / "images" / f"{other}.jpg", format="GIF"
    )
    ds = pets_dataset(small_pets, "trainval", image_size=32, batch_size=6)
    images, _ = next(iter(ds))
    assert images.shape == (6, 32, 32, 3)
    out = capsys.readouterr().out
    assert f"{name}.jpg is a PNG file" in out and f"{other}.jpg is a GIF file" in out


def test_missing_files_are_listed(small_pets):
    name = pets.read_split(small_pets, "test")[0]
    (small_pets / "annotations" / "trimaps" / f"{name}.png").unlink()
    with pytest.raises(DatasetError, match=f"missing: .*{name}.png"):
        pets_dataset(small_pets, "test", image_size=32, batch_size=2)


def test_malformed_split_line_names_file_and_line(small_pets):
    path = small_pets / "annotations" / "test.txt"
    path.write_text(path.read_text() + "broken_line 1\n")
    with pytest.raises(DatasetError, match=r"test\.txt:4: expected"):
        pets.read_split(small_pets, "test")


def test_unknown_source_is_explained(tmp_path):
    with pytest.raises(DatasetError, match="neither 'sample', 'synthetic', 'tfds'"):
        pets_dataset(tmp_path / "nowhere", "train", image_size=32, batch_size=2)
    with pytest.raises(DatasetError, match="seglab data download pets"):
        pets_dataset(tmp_path, "train", image_size=32, batch_size=2)


def test_unprepared_tfds_fails_fast_without_downloading(tmp_path):
    with pytest.raises(DatasetError, match="no prepared oxford_iiit_pet"):
        pets_dataset(
            "tfds", "train", image_size=32, batch_size=2, tfds_data_dir=str(tmp_path)
        )
    assert not any(tmp_path.rglob("*.tfrecord*"))
