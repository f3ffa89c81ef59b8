import numpy as np
from PIL import Image

from seglab.cli import main


def test_synth_writes_each_format(tmp_path, capsys):
    assert main(["data", "synth", "voc", str(tmp_path / "v"), "--count", "4"]) == 0
    assert main(["data", "synth", "pets", str(tmp_path / "p"), "--count", "3"]) == 0
    assert len(list((tmp_path / "v/VOCdevkit/VOC2012/JPEGImages").glob("*.jpg"))) == 6
    assert len(list((tmp_path / "p/images").glob("*.jpg"))) == 5
    assert "wrote built-in voc data" in capsys.readouterr().out


def test_synth_refuses_to_overwrite_without_force(tmp_path, capsys):
    target = str(tmp_path / "v")
    assert main(["data", "synth", "voc", target, "--count", "2"]) == 0
    assert main(["data", "synth", "voc", target, "--count", "2"]) == 1
    assert "--force" in capsys.readouterr().err
    assert main(["data", "synth", "voc", target, "--count", "2", "--force"]) == 0


def test_convert_labels_writes_grey_label_pngs(small_voc, capsys):
    assert main(["data", "convert-labels", str(small_voc)]) == 0
    raw = small_voc / "VOCdevkit/VOC2012/SegmentationClassRaw"
    for path in raw.glob("*.png"):
        palette_png = small_voc / "VOCdevkit/VOC2012/SegmentationClass" / path.name
        assert np.array_equal(
            np.asarray(Image.open(path)), np.asarray(Image.open(palette_png))
        )


def test_info_prints_the_banner_and_rejects_bad_profiles(capsys):
    assert main(["info", "--profile", "quick"]) == 0
    assert "seglab profile : quick" in capsys.readouterr().out
    assert main(["info", "--profile", "turbo"]) == 1
    assert "valid profiles are quick, full, auto" in capsys.readouterr().err
