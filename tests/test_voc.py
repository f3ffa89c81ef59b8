import numpy as np
import pytest
import tensorflow as tf
from PIL import Image
from scipy import ndimage

from seglab.data import augment, voc
from seglab.data.voc import DatasetError, voc_dataset
from seglab.palette import IGNORE_LABEL, VOC_COLORMAP


@pytest.mark.parametrize("suffix", ["", "VOCdevkit", "VOCdevkit/VOC2012"])
def test_find_voc_accepts_the_three_roots(small_voc, suffix):
    found = voc.find_voc(small_voc / suffix)
    assert found == small_voc / "VOCdevkit" / "VOC2012"


def test_find_voc_explains_how_to_get_the_data(tmp_path):
    with pytest.raises(DatasetError, match="seglab data download voc"):
        voc.find_voc(tmp_path)


def test_val_and_test_are_disjoint_halves_of_val_txt(small_voc):
    root = voc.find_voc(small_voc)
    val, test = voc.read_split_ids(root, "val"), voc.read_split_ids(root, "test")
    listed = (root / "ImageSets/Segmentation/val.txt").read_text().split()
    assert not set(val) & set(test)
    assert sorted(val + test) == sorted(listed)
    assert abs(len(val) - len(test)) <= 1
    assert val == voc.read_split_ids(root, "val")  # fixed seed


def test_unknown_split_is_rejected(small_voc):
    with pytest.raises(ValueError, match="train, val, test"):
        voc.read_split_ids(voc.find_voc(small_voc), "training")


def test_converted_labels_equal_pil_palette_indices(small_voc):
    root = voc.find_voc(small_voc)
    out = voc.convert_labels(root, progress=False)
    for mask in (root / "SegmentationClass").glob("*.png"):
        expected = np.asarray(Image.open(mask))  # palette indices
        converted = Image.open(out / mask.name)
        assert converted.mode == "L"
        assert np.array_equal(np.asarray(converted), expected)


def test_conversion_is_idempotent(small_voc):
    out = voc.convert_labels(small_voc, progress=False)
    stamps = {p.name: p.stat().st_mtime_ns for p in out.glob("*.png")}
    voc.convert_labels(small_voc, progress=False)
    assert stamps == {p.name: p.stat().st_mtime_ns for p in out.glob("*.png")}
    assert not list(out.glob(".*tmp"))


def test_rgb_colour_map_masks_are_converted(small_voc):
    root = voc.find_voc(small_voc)
    mask_path = next((root / "SegmentationClass").glob("*.png"))
    indices = np.asarray(Image.open(mask_path))
    Image.fromarray(VOC_COLORMAP[indices]).save(mask_path)  # RGB colour map
    out = voc.convert_labels(root, progress=False)
    assert np.array_equal(np.asarray(Image.open(out / mask_path.name)), indices)


def test_unknown_colours_name_the_file(small_voc):
    root = voc.find_voc(small_voc)
    mask_path = next((root / "SegmentationClass").glob("*.png"))
    rgb = np.asarray(Image.open(mask_path).convert("RGB")).copy()
    rgb[0, 0] = (10, 20, 30)
    Image.fromarray(rgb).save(mask_path)
    with pytest.raises(DatasetError, match=mask_path.name + r".*\(10, 20, 30\)"):
        voc.convert_labels(root, progress=False)


def test_labels_outside_the_classes_name_the_file(small_voc):
    root = voc.find_voc(small_voc)
    mask_path = next((root / "SegmentationClass").glob("*.png"))
    labels = np.asarray(Image.open(mask_path)).copy()
    labels[0, 0] = 42
    Image.fromarray(labels, mode="L").save(mask_path)
    with pytest.raises(DatasetError, match=mask_path.name + r".*\[42\]"):
        voc.convert_labels(root, progress=False)


def test_mask_and_image_of_different_sizes_is_an_error(small_voc):
    root = voc.find_voc(small_voc)
    mask_path = next((root / "SegmentationClass").glob("*.png"))
    Image.open(mask_path).resize((50, 40), Image.NEAREST).save(mask_path)
    with pytest.raises(DatasetError, match=r"mask is 50x40 but"):
        voc.convert_labels(root, progress=False)


def test_missing_mask_is_named(small_voc):
    root = voc.find_voc(small_voc)
    name = voc.read_split_ids(root, "train")[0]
    (root / "SegmentationClass" / f"{name}.png").unlink()
    with pytest.raises(DatasetError, match=f"missing mask .*{name}"):
        voc_dataset(small_voc, "train", image_size=32, batch_size=2, progress=False)


def test_dataset_shapes_dtypes_and_label_values(small_voc):
    ds = voc_dataset(
        small_voc, "train", image_size=(48, 64), batch_size=4, progress=False
    )
    images, labels = next(iter(ds))
    assert images.shape == (4, 48, 64, 3) and images.dtype == tf.float32
    assert labels.shape == (4, 48, 64) and labels.dtype == tf.int32
    assert 0.0 <= float(tf.reduce_min(images)) and float(tf.reduce_max(images)) <= 1.0
    values = set(np.unique(labels.numpy()).tolist())
    assert IGNORE_LABEL in values and values <= {0, 1, 7, 8, 12, 15, 255}
    assert ds.element_spec[0].shape.as_list() == [None, 48, 64, 3]


def test_augmented_dataset_keeps_static_shapes_and_valid_labels(small_voc):
    ds = voc_dataset(
        small_voc,
        "train",
        image_size=40,
        batch_size=3,
        augment=True,
        shuffle=True,
        repeat=True,
        seed=5,
        progress=False,
    )
    assert ds.element_spec[0].shape.as_list() == [3, 40, 40, 3]
    for images, labels in ds.take(4):
        values = set(np.unique(labels.numpy()).tolist())
        assert values <= {0, 1, 7, 8, 12, 15, 255}
        assert 0.0 <= float(tf.reduce_min(images)) <= float(tf.reduce_max(images)) <= 1


def test_seeded_pipeline_is_deterministic(small_voc):
    def batches():
        ds = voc_dataset(
            small_voc,
            "train",
            image_size=32,
            batch_size=3,
            augment=True,
            shuffle=True,
            repeat=True,
            seed=11,
            progress=False,
        )
        return [(x.numpy(), y.numpy()) for x, y in ds.take(3)]

    first, second = batches(), batches()
    for (x1, y1), (x2, y2) in zip(first, second, strict=True):
        assert np.array_equal(x1, x2) and np.array_equal(y1, y2)


def test_epochs_get_different_augmentations(small_voc):
    ds = voc_dataset(
        small_voc,
        "train",
        image_size=32,
        batch_size=6,
        augment=True,
        repeat=True,
        seed=2,
        progress=False,
    )
    first, second = [x.numpy() for x, _ in ds.take(2)]
    assert not np.array_equal(first, second)


def test_label_size_resizes_only_the_labels(small_voc):
    ds = voc_dataset(
        small_voc, "val", image_size=64, label_size=16, batch_size=2, progress=False
    )
    images, labels = next(iter(ds))
    assert images.shape[1:3] == (64, 64) and labels.shape[1:] == (16, 16)


def _block_pair(seed=0):
    """An image whose red channel encodes its label, in 8x8 blocks."""
    rng = np.random.default_rng(seed)
    blocks = rng.choice([0, 1, 7, 8, 12, 15], size=(12, 16)).astype(np.uint8)
    label = np.kron(blocks, np.ones((8, 8), np.uint8))
    image = np.stack([label * 16, np.zeros_like(label), np.zeros_like(label)], -1)
    return tf.constant(image), tf.constant(label[..., None])


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_augmentation_keeps_image_and_mask_aligned(seed):
    image, label = _block_pair(seed)
    out_image, out_label = augment.random_scale_crop_flip(
        image, label, (48, 48), tf.constant([seed, 9], tf.int64)
    )
    red = np.rint(out_image.numpy()[..., 0] * 255 / 16)
    labels = out_label.numpy()[..., 0]
    # away from block edges (where bilinear mixes colours) they must agree
    interior = ndimage.maximum_filter(labels, 3) == ndimage.minimum_filter(labels, 3)
    interior &= labels != IGNORE_LABEL
    assert interior.sum() > 200
    assert (red[interior] == labels[interior]).mean() > 0.95
    # the check has teeth: a mask shifted by 3 pixels fails it
    shifted = np.roll(labels, 3, axis=1)
    assert (red[interior] == shifted[interior]).mean() < 0.8


def test_nearest_resizing_never_invents_labels():
    _, label = _block_pair()
    resized = tf.image.resize(label, (37, 53), method="nearest").numpy()
    assert set(np.unique(resized)) <= {0, 1, 7, 8, 12, 15}
    bilinear = tf.image.resize(tf.cast(label, tf.float32), (37, 53)).numpy()
    assert not set(np.unique(bilinear)) <= {0, 1, 7, 8, 12, 15}


def test_bad_image_size_and_batch_size_are_rejected(small_voc):
    with pytest.raises(ValueError, match="image_size"):
        voc_dataset(small_voc, "train", image_size=(4, 4, 4), batch_size=2)
    with pytest.raises(ValueError, match="batch_size"):
        voc_dataset(small_voc, "train", image_size=32, batch_size=0)


def test_read_only_dataset_gets_its_labels_under_the_data_home(
    small_voc, tmp_path, monkeypatch
):
    from seglab.data import voc as voc_module

    monkeypatch.setenv("SEGLAB_DATA", str(tmp_path / "home"))
    voc_folder = voc_module.find_voc(small_voc)
    raw = voc_folder / voc_module.RAW_DIR
    if raw.exists():  # written with the data: start from masks only
        import shutil

        shutil.rmtree(raw)
    monkeypatch.setattr(voc_module, "_writable", lambda folder: False)
    out = voc_module.convert_labels(small_voc, progress=False)
    assert out.is_relative_to(tmp_path / "home") and any(out.glob("*.png"))
    assert not raw.exists()
    batches = voc_module.voc_dataset(
        small_voc, "train", image_size=32, batch_size=2, progress=False
    )
    _, labels = next(iter(batches))
    assert labels.shape == (2, 32, 32)
