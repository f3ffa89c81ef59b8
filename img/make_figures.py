"""Draw the course's static figures into img/. Run: python img/make_figures.py

The figures are generated, never edited by hand; tests/test_figures.py redraws
them and checks that the committed files match.
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402

HERE = Path(__file__).resolve().parent

MODELS = {
    # name: (x, y, year, idea)
    "FCN": (0.10, 0.70, 2015, "conv-only classifier\nskip fusion"),
    "U-Net": (0.36, 0.70, 2015, "encoder-decoder\nconcatenated skips"),
    "DeepLab v1": (0.10, 0.22, 2015, "atrous convolution\n+ CRF"),
    "DeepLab v2": (0.36, 0.22, 2017, "ASPP\nResNet backbone"),
    "DeepLab v3": (0.62, 0.22, 2017, "ASPP + BN\n+ image pooling"),
    "this course": (0.88, 0.46, None, "DeepLabV3 (ResNet-50)\nU-Net (MobileNetV2)"),
}
ARROWS = [
    ("FCN", "U-Net"),
    ("FCN", "DeepLab v1"),
    ("DeepLab v1", "DeepLab v2"),
    ("DeepLab v2", "DeepLab v3"),
    ("DeepLab v3", "this course"),
    ("U-Net", "this course"),
]


def segmentation_history(path: Path) -> None:
    """The family tree of the segmentation models this course discusses."""
    fig, axis = plt.subplots(figsize=(10, 3.4), dpi=100)
    axis.set_xlim(-0.01, 1.0)
    axis.set_ylim(0, 1)
    axis.axis("off")
    for name, (x, y, year, idea) in MODELS.items():
        colour = "#dbe9f6" if name != "this course" else "#fde2c8"
        axis.add_patch(
            FancyBboxPatch(
                (x - 0.095, y - 0.17),
                0.19,
                0.34,
                boxstyle="round,pad=0.01",
                facecolor=colour,
                edgecolor="#335",
            )
        )
        title = name if year is None else f"{name} ({year})"
        axis.text(x, y + 0.08, title, ha="center", va="center", weight="bold", size=9)
        axis.text(x, y - 0.06, idea, ha="center", va="center", size=8)
    for start, end in ARROWS:
        (x0, y0, *_), (x1, y1, *_) = MODELS[start], MODELS[end]
        if x0 == x1:  # straight down: bottom edge to top edge
            tail, head = (x0, y0 - 0.18), (x1, y1 + 0.18)
        else:  # rightwards: right edge to left edge
            tail, head = (x0 + 0.1, y0), (x1 - 0.1, y1)
        axis.add_patch(
            FancyArrowPatch(
                tail, head, arrowstyle="-|>", mutation_scale=12, color="#335"
            )
        )
    fig.tight_layout()
    fig.savefig(path, metadata={"Software": None})
    plt.close(fig)


FIGURES = {"segmentation_history.png": segmentation_history}


def main(out_dir: Path = HERE) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, draw in FIGURES.items():
        draw(out_dir / name)
        print(f"wrote {out_dir / name}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
