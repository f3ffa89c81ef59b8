import json

import numpy as np
from PIL import Image

from seglab.cli import main
from seglab.data import check, pets, voc


def test_built_in_data_is_usable(voc_root, pets_root):
    voc_report = check.check_voc(voc_root, progress=False)
    assert voc_report.usable and not voc_report.problems
    assert voc_report.splits == {"train": 160, "val": 40, "test": 40}
    assert voc_report.class_pixels["background"] > voc_report.class_pixels["person"] > 0
    assert voc_report.class_pixels["ignore (255)"] > 0
    pets_report = check.check_pets(pets_root, progress=False)
    splits = pets_report.splits
    assert pets_report.usable and (splits["trainval"], splits["test"]) == (192, 64)
    assert splits["train"] + splits["val"] == 192 and splits["val"] > 0


def _break_voc(root):
    """Damage a VOC folder in every way the checker knows; return the names."""
    folder = voc.find_voc(root)
    train = voc.read_split_ids(folder, "train")
    truncated, resized, bad_labels, no_mask, no_image = train[:5]
    jpeg = folder / "JPEGImages" / f"{truncated}.jpg"
    jpeg.write_bytes(jpeg.read_bytes()[:200])
    mask = folder / "SegmentationClass" / f"{resized}.png"
    Image.open(mask).resize((30, 20), Image.NEAREST).save(mask)
    mask = folder / "SegmentationClass" / f"{bad_labels}.png"
    labels = np.asarray(Image.open(mask)).copy()
    labels[:2, :2] = 99
    Image.fromarray(labels, mode="L").save(mask)
    (folder / "SegmentationClass" / f"{no_mask}.png").unlink()
    (folder / "JPEGImages" / f"{no_image}.jpg").unlink()
    return truncated, resized, bad_labels, no_mask, no_image


def test_every_voc_problem_is_named_by_file(small_voc):
    truncated, resized, bad_labels, no_mask, no_image = _break_voc(small_voc)
    report = check.check_voc(small_voc, progress=False)
    assert not report.usable
    found = {
        (p.file.rsplit("/", 1)[-1], p.message.split(":")[0]) for p in report.errors
    }
    text = report.format()
    assert f"{truncated}.jpg: unreadable or truncated" in text
    assert f"{resized}.png: mask is 30x20 but its image is" in text
    assert f"{bad_labels}.png: labels [99] are outside" in text
    assert f"{no_mask}.png: missing mask" in text
    assert f"{no_image}.jpg: missing" in text
    assert len(found) == 5
    assert "NOT usable: 5 errors" in text


def test_pets_problems_and_extension_warnings(small_pets):
    names = pets.read_split(small_pets, "train")
    Image.open(small_pets / "images" / f"{names[0]}.jpg").save(
        small_pets / "images" / f"{names[0]}.jpg", format="PNG"
    )
    trimap = small_pets / "annotations" / "trimaps" / f"{names[1]}.png"
    values = np.asarray(Image.open(trimap)).copy()
    values[0, 0] = 7
    Image.fromarray(values).save(trimap)
    report = check.check_pets(small_pets, progress=False)
    text = report.format()
    assert f"WARNING: {small_pets}/images/{names[0]}.jpg: content is PNG" in text
    assert f"{names[1]}.png: trimap values [7] are not 1 (pet)" in text
    assert len(report.errors) == 1 and len(report.warnings) == 1


def test_cli_check_exit_codes_and_json(small_voc, capsys):
    assert main(["data", "check", "voc", str(small_voc), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["usable"] and report["splits"]["train"] == 6
    _break_voc(small_voc)
    assert main(["data", "check", "voc", str(small_voc)]) == 1
    out = capsys.readouterr().out
    assert "NOT usable" in out and "Traceback" not in out


def test_cli_check_on_a_missing_folder_is_one_clear_line(tmp_path, capsys):
    assert main(["data", "check", "pets", str(tmp_path / "none")]) == 1
    err = capsys.readouterr().err
    assert "no Oxford-IIIT Pet folder" in err and "Traceback" not in err
