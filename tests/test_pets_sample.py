"""The shipped Oxford-IIIT Pet sample: contents, split, licence, size, maker."""

import json
import os
import tomllib
from collections import Counter
from fnmatch import fnmatch
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from seglab import cli, config
from seglab.data import check, pets, pets_dataset, sample, synthetic
from seglab.data.voc import DatasetError

REPO = Path(__file__).resolve().parents[1]
SAMPLE = sample.shipped_sample()


def names_of(file_name: str) -> list[str]:
    text = (SAMPLE / "annotations" / file_name).read_text()
    return [line.split()[0] for line in text.splitlines()]


def breed(name: str) -> str:
    return name.rsplit("_", 1)[0]


def test_the_sample_holds_100_images_and_trimaps_of_each_of_three_breeds():
    images = sorted(p.stem for p in (SAMPLE / "images").glob("*.jpg"))
    trimaps = sorted(p.stem for p in (SAMPLE / "annotations" / "trimaps").glob("*.png"))
    assert images == trimaps == sorted(names_of("list.txt"))
    assert Counter(breed(name) for name in images) == {
        name: 100 for name in sample.SAMPLE_BREEDS
    }
    for line in (SAMPLE / "annotations" / "list.txt").read_text().splitlines():
        assert len(line.split()) == 4  # "<name> <class_id> <species> <breed_id>"


def test_every_trimap_matches_its_image_and_holds_only_1_2_3():
    seen = set()
    for path in sorted((SAMPLE / "annotations" / "trimaps").glob("*.png")):
        with (
            Image.open(path) as trimap,
            Image.open(SAMPLE / "images" / f"{path.stem}.jpg") as image,
        ):
            assert trimap.mode == "L" and image.mode == "RGB"
            assert trimap.size == image.size, path.name
            assert max(image.size) <= sample.MAX_SIDE
            values = set(np.unique(np.asarray(trimap)).tolist())
        assert values <= {1, 2, 3}, path.name
        seen |= values
    assert seen == {1, 2, 3}


def test_the_loader_gives_labels_0_1_2_for_the_sample():
    images, masks = next(
        iter(pets_dataset("sample", "test", image_size=64, batch_size=60))
    )
    assert images.shape == (60, 64, 64, 3) and masks.shape == (60, 64, 64)
    assert set(np.unique(masks.numpy()).tolist()) == {0, 1, 2}


def test_the_sample_has_its_own_breed_stratified_split():
    trainval, test = names_of("trainval.txt"), names_of("test.txt")
    assert len(trainval) == 240 and len(test) == 60
    assert not set(trainval) & set(test)
    assert Counter(breed(name) for name in test) == {
        name: sample.TEST_PER_BREED for name in sample.SAMPLE_BREEDS
    }


def test_validation_is_carved_from_trainval_per_breed_and_never_from_test():
    root = pets.find_pets(SAMPLE)
    splits = {split: pets.read_split(root, split) for split in pets.SPLITS}
    assert {k: len(v) for k, v in splits.items()} == {
        "train": 204,
        "val": 36,
        "trainval": 240,
        "test": 60,
    }
    assert sorted(splits["train"] + splits["val"]) == sorted(splits["trainval"])
    assert not set(splits["val"]) & set(splits["test"])
    assert set(Counter(breed(name) for name in splits["val"]).values()) == {12}


def test_the_validation_pick_does_not_depend_on_the_list_order(tmp_path):
    copy = sample.write_sample(tmp_path / "copy")
    path = copy / "annotations" / "trainval.txt"
    path.write_text("\n".join(reversed(path.read_text().splitlines())) + "\n")
    assert sorted(pets.read_split(copy, "val")) == sorted(
        pets.read_split(SAMPLE, "val")
    )


def test_tiny_lists_still_hold_out_one_validation_image(small_pets):
    val = pets.read_split(small_pets, "val")
    assert len(val) == 1 and len(pets.read_split(small_pets, "train")) == 5


def test_the_licence_file_gives_attribution_and_cc_by_sa():
    text = (SAMPLE / sample.LICENSE_FILE).read_text()
    for words in (
        "Parkhi",
        "Vedaldi",
        "Zisserman",
        "Jawahar",
        "Cats and Dogs",
        "CC BY-SA 4.0",
        "creativecommons.org/licenses/by-sa/4.0",
        "copyright of each image remains with its owner",
    ):
        assert words in text, words
    assert (SAMPLE / "annotations" / "README").is_file()  # the dataset's own
    marker = json.loads((SAMPLE / sample.MARKER).read_text())
    assert marker["licence"] == "CC BY-SA 4.0"


def test_the_sample_stays_under_6_mb():
    assert sample.folder_bytes(SAMPLE) <= sample.MAX_BYTES == 6 * 1024 * 1024


def test_the_sample_was_made_with_the_makers_current_settings():
    marker = json.loads((SAMPLE / sample.MARKER).read_text())
    assert marker["breeds"] == list(sample.SAMPLE_BREEDS)
    assert marker["max_side"] == sample.MAX_SIDE
    assert marker["jpeg_quality"] == sample.JPEG_QUALITY
    assert (marker["images"], marker["trainval"], marker["test"]) == (300, 240, 60)


def test_pip_packages_every_file_of_the_sample():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    patterns = project["tool"]["setuptools"]["package-data"]["seglab.data"]
    package = REPO / "src" / "seglab" / "data"
    files = [
        p.relative_to(package).as_posix() for p in SAMPLE.rglob("*") if p.is_file()
    ]
    assert len(files) > 600
    missing = [
        f
        for f in files
        if not any(
            fnmatch(f, pat) and f.count("/") == pat.count("/") for pat in patterns
        )
    ]
    assert missing == []


def fake_raw_pets(root: Path) -> Path:
    """A raw folder of three breeds (large images) for the maker to downsize."""
    raw = synthetic.write_pets(
        root, num_trainval=74, num_test=2, min_size=300, max_size=420, progress=False
    )
    (raw / "annotations" / "README").write_text("the dataset's README\n")
    return raw


def test_the_maker_is_deterministic_and_downsizes_with_nearest_trimaps(tmp_path):
    raw = fake_raw_pets(tmp_path / "raw")
    breeds = ("Abyssinian", "Bengal", "american_bulldog")
    first = sample.make_pets_sample(
        raw, tmp_path / "a", breeds=breeds, test_per_breed=1
    )
    second = sample.make_pets_sample(
        raw, tmp_path / "b", breeds=breeds, test_per_breed=1
    )
    files = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    assert files == sorted(
        p.relative_to(second) for p in second.rglob("*") if p.is_file()
    )
    for relative in files:
        assert (first / relative).read_bytes() == (second / relative).read_bytes()
    names = names_of_folder(first, "list.txt")
    assert len(names) == 6 and len(names_of_folder(first, "test.txt")) == 3
    for name in names:
        with Image.open(first / "annotations" / "trimaps" / f"{name}.png") as small:
            assert max(small.size) == sample.MAX_SIDE
            assert set(np.unique(np.asarray(small)).tolist()) <= {1, 2, 3}


def names_of_folder(root: Path, file_name: str) -> list[str]:
    text = (root / "annotations" / file_name).read_text()
    return [line.split()[0] for line in text.splitlines()]


def raw_pets_folder() -> Path | None:
    """A raw folder holding the sample's original images, if this machine has one:
    ``SEGLAB_PETS_RAW``, the data home's ``pets/``, or the course's real-data
    folder beside the repository (``../shared/realdata/oxford-iiit-pet-300``)."""
    first = names_of("list.txt")[0]
    beside = Path(__file__).resolve().parents[2] / "shared" / "realdata"
    for candidate in (
        os.environ.get("SEGLAB_PETS_RAW"),
        config.data_home() / "pets",
        beside / "oxford-iiit-pet-300",
    ):
        if candidate and (Path(candidate) / "images" / f"{first}.jpg").is_file():
            return Path(candidate)
    return None


@pytest.mark.skipif(
    raw_pets_folder() is None,
    reason="needs the original Oxford-IIIT Pet images: set SEGLAB_PETS_RAW or "
    "run `seglab data download pets <data home>/pets`",
)
def test_the_maker_regenerates_the_shipped_sample_byte_for_byte(tmp_path):
    made = sample.make_pets_sample(raw_pets_folder(), tmp_path / "made")
    shipped = sorted(p.relative_to(SAMPLE) for p in SAMPLE.rglob("*") if p.is_file())
    assert sorted(p.relative_to(made) for p in made.rglob("*") if p.is_file()) == (
        shipped
    )
    different = [
        str(f) for f in shipped if (made / f).read_bytes() != (SAMPLE / f).read_bytes()
    ]
    assert different == []


def test_cli_writes_the_sample_and_check_accepts_it(tmp_path, capsys):
    folder = tmp_path / "pets"
    assert cli.main(["data", "sample", "pets", str(folder)]) == 0
    assert (folder / sample.LICENSE_FILE).is_file()
    assert cli.main(["data", "sample", "pets", str(folder)]) == 1
    assert "--force" in capsys.readouterr().err
    report = check.check_pets(folder, progress=False)
    assert report.usable and report.problems == []
    assert report.splits == {"trainval": 240, "test": 60, "train": 204, "val": 36}
    assert cli.main(["data", "check", "pets", str(folder)]) == 0


def test_quick_profile_reads_the_sample_and_the_banner_calls_it_real(capsys):
    source = pets.default_source("quick")
    assert source == "sample"
    description = pets.describe_source(source)
    assert "300 real photos" in description and "synthetic" not in description
    lines = "\n".join(config.banner_lines(config.QUICK, data=description))
    assert "300 real photos" in lines and "not VOC/Pets results" not in lines


def test_banner_keeps_the_synthetic_note_for_synthetic_pets():
    description = pets.describe_source("synthetic")
    assert "synthetic" in description
    lines = "\n".join(config.banner_lines(config.QUICK, data=description))
    assert "not VOC/Pets results" in lines


def test_a_real_voc_folder_gets_no_synthetic_note():
    lines = config.banner_lines(config.QUICK, data="PASCAL VOC 2012 at /data/voc")
    assert not any("not VOC/Pets results" in line for line in lines)


def test_full_profile_never_falls_back_to_synthetic_or_sample_data(
    monkeypatch, tmp_path
):
    monkeypatch.setenv("SEGLAB_DATA", str(tmp_path / "home"))
    monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "tfds"))
    with pytest.raises(DatasetError, match="seglab data download pets"):
        pets.default_source("full")
    synthetic.write_pets(
        tmp_path / "home" / "pets", num_trainval=4, num_test=2, progress=False
    )
    with pytest.raises(DatasetError, match="complete Oxford-IIIT Pet"):
        pets.default_source("full")
