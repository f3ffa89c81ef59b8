import json

import numpy as np
import pytest
from PIL import Image

from seglab.data import synthetic
from seglab.palette import IGNORE_LABEL, VOC_COLORMAP


def test_voc_folder_has_the_official_layout(small_voc):
    voc = small_voc / "VOCdevkit" / "VOC2012"
    train = (voc / "ImageSets/Segmentation/train.txt").read_text().split()
    val = (voc / "ImageSets/Segmentation/val.txt").read_text().split()
    trainval = (voc / "ImageSets/Segmentation/trainval.txt").read_text().split()
    assert len(train) == 6 and len(val) == 4 and trainval == train + val
    for name in trainval:
        with Image.open(voc / "JPEGImages" / f"{name}.jpg") as image:
            assert image.format == "JPEG" and image.mode == "RGB"
            size = image.size
        with Image.open(voc / "SegmentationClass" / f"{name}.png") as mask:
            assert mask.mode == "P" and mask.size == size
            colours = np.array(mask.getpalette()[: 256 * 3]).reshape(256, 3)
            assert np.array_equal(colours, VOC_COLORMAP)
    assert json.loads((small_voc / synthetic.MARKER).read_text())["synthetic"]


def test_voc_masks_have_boundary_bands_and_known_classes(small_voc):
    voc = small_voc / "VOCdevkit" / "VOC2012"
    values = set()
    for path in (voc / "SegmentationClass").glob("*.png"):
        labels = np.asarray(Image.open(path))
        values.update(np.unique(labels).tolist())
        objects = (labels != 0) & (labels != IGNORE_LABEL)
        if objects.any():
            assert (labels == IGNORE_LABEL).any(), f"{path.name} has no boundary"
    assert values <= {*synthetic.SYNTHETIC_VOC_CLASSES, IGNORE_LABEL}
    assert len(values - {0, IGNORE_LABEL}) >= 2


def test_image_sizes_vary(small_voc):
    voc = small_voc / "VOCdevkit" / "VOC2012"
    sizes = {Image.open(p).size for p in (voc / "JPEGImages").glob("*.jpg")}
    assert len(sizes) > 3


def test_same_seed_writes_identical_data(tmp_path):
    first = synthetic.write_voc(tmp_path / "a", num_train=3, num_val=2, progress=False)
    second = synthetic.write_voc(tmp_path / "b", num_train=3, num_val=2, progress=False)
    for path in (first / "VOCdevkit").rglob("*.png"):
        twin = second / path.relative_to(first)
        assert np.array_equal(
            np.asarray(Image.open(path)), np.asarray(Image.open(twin))
        )


def test_refuses_to_overwrite_without_permission(tmp_path):
    root = synthetic.write_voc(tmp_path / "v", num_train=2, num_val=2, progress=False)
    with pytest.raises(FileExistsError, match="overwrite"):
        synthetic.write_voc(root, num_train=2, num_val=2, progress=False)
    synthetic.write_voc(root, num_train=2, num_val=2, progress=False, overwrite=True)


def test_refuses_to_write_into_a_foreign_folder(tmp_path):
    (tmp_path / "mine.txt").write_text("precious")
    with pytest.raises(FileExistsError, match="not a seglab synthetic dataset"):
        synthetic.write_pets(tmp_path, progress=False)
    assert (tmp_path / "mine.txt").read_text() == "precious"


def test_pets_folder_matches_the_raw_tarball_layout(small_pets):
    lines = (small_pets / "annotations" / "list.txt").read_text().splitlines()
    assert lines[0].startswith("#Image CLASS-ID SPECIES BREED ID")
    rows = [line.split() for line in lines if not line.startswith("#")]
    assert len(rows) == 9
    for name, class_id, species, breed_id in rows:
        assert 1 <= int(class_id) <= 37 and species in ("1", "2")
        assert (species == "1") == name[0].isupper()  # cats are capitalised
        assert int(breed_id) >= 1
        trimap = np.asarray(
            Image.open(small_pets / "annotations/trimaps" / f"{name}.png")
        )
        assert set(np.unique(trimap)) == {1, 2, 3}
        assert (
            Image.open(small_pets / "images" / f"{name}.jpg").size == trimap.shape[::-1]
        )
    trainval = (small_pets / "annotations" / "trainval.txt").read_text().splitlines()
    assert len(trainval) == 6 and not any(line.startswith("#") for line in trainval)


def test_pet_breed_table_follows_the_dataset():
    assert len(synthetic.PET_BREEDS) == 37
    assert synthetic.PET_BREEDS[0] == ("Abyssinian", 1)
    assert synthetic.PET_BREEDS[1] == ("american_bulldog", 2)
    assert sum(species == 1 for _, species in synthetic.PET_BREEDS) == 12


def test_ensure_generates_once_into_the_data_home(monkeypatch, tmp_path):
    monkeypatch.setenv("SEGLAB_DATA", str(tmp_path))
    calls = []
    real = synthetic.write_pets

    def counting(root, **kwargs):
        calls.append(root)
        return real(root, num_trainval=3, num_test=2, progress=False, **kwargs)

    monkeypatch.setattr(synthetic, "write_pets", counting)
    first = synthetic.ensure_pets()
    second = synthetic.ensure_pets()
    assert first == second == tmp_path / "synthetic" / "pets"
    assert len(calls) == 1


def test_ensure_rewrites_an_interrupted_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("SEGLAB_DATA", str(tmp_path))
    half = tmp_path / "synthetic" / "pets" / "images"
    half.mkdir(parents=True)
    (half / "partial.jpg").write_bytes(b"")
    real = synthetic.write_pets
    monkeypatch.setattr(
        synthetic,
        "write_pets",
        lambda root: real(root, num_trainval=3, num_test=2, progress=False),
    )
    root = synthetic.ensure_pets()
    assert (root / synthetic.MARKER).exists()
    assert not (root / "images" / "partial.jpg").exists()


def test_ensure_never_deletes_a_folder_outside_the_data_home(monkeypatch, tmp_path):
    monkeypatch.setenv("SEGLAB_DATA", str(tmp_path / "home"))
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep")
    with pytest.raises(FileExistsError, match="no seglab dataset"):
        synthetic.ensure_voc(foreign)
    assert (foreign / "notes.txt").exists()


def test_data_from_an_older_generator_is_written_anew(monkeypatch, tmp_path):
    monkeypatch.setenv("SEGLAB_DATA", str(tmp_path))
    real = synthetic.write_voc
    monkeypatch.setattr(
        synthetic,
        "write_voc",
        lambda root: real(root, num_train=2, num_val=2, progress=False),
    )
    root = synthetic.ensure_voc()
    marker = root / synthetic.MARKER
    old = json.loads(marker.read_text())
    assert old["version"] == synthetic.GENERATOR_VERSION
    marker.write_text(json.dumps({**old, "version": 1}))
    synthetic.ensure_voc()
    assert json.loads(marker.read_text())["version"] == synthetic.GENERATOR_VERSION
