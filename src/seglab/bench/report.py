"""The machine a report was measured on, the notes a reader needs, the
table and the saved files."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path

RESULTS_DIR = Path("benchmarks") / "results"


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict:
    """The machine the figures were measured on."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    try:
        total_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError, AttributeError):
        total_gib = None
    return {
        "cpu": cpu_model(),
        "cores": usable,
        "memory_gib": total_gib,
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def append_record(row: dict, path: str | os.PathLike) -> None:
    """Print one run's figures as a JSON line and append it to ``path``, with
    the load average and the machine (the tuning scripts in ``benchmarks/``)."""
    row = {**row, "load_average": load_average(), "machine": machine()}
    line = json.dumps(row)
    print(line)
    with open(path, "a") as handle:
        handle.write(line + "\n")


def notes(report: dict) -> list[str]:
    """What a reader must know to judge the figures (no GPU, a busy machine)."""
    found = []
    machine = report["machine"]
    if machine.get("gpu", "none") == "none":
        found.append(
            "no GPU: only float32 on the CPU was timed; mixed precision and XLA "
            "are timed when a GPU is present"
        )
    loads = [report.get("load_average_before"), report.get("load_average_after")]
    busiest = max((load[0] for load in loads if load), default=0.0)
    if busiest > machine["cores"]:
        found.append(
            f"the machine was shared (load average up to {busiest:.1f} on "
            f"{machine['cores']} cores): absolute figures are pessimistic, "
            "ratios measured side by side are the ones to compare"
        )
    return found


def table(report: dict) -> str:
    """The report as a plain-text table, one row per measured variant."""
    lines = []
    m = report["machine"]
    lines.append(
        f"seglab bench ({report['level']}) on {m['cpu']}, {m['cores']} cores, "
        f"GPU: {m.get('gpu', 'none')}, TensorFlow {m.get('tensorflow', '?')}"
    )
    lines.append(
        f"load average before/after: {report['load_average_before']} / "
        f"{report['load_average_after']}"
    )
    lines.extend(f"note: {note}" for note in report.get("notes", []))
    cases = report["cases"]
    if "pipeline" in cases:
        case = cases["pipeline"]
        s = case["settings"]
        lines.append("")
        lines.append(
            f"pipeline: {s['images']} images of {s['image_sides'][0]}-"
            f"{s['image_sides'][1]} px -> {s['image_size']}px, batch "
            f"{s['batch_size']}, augmented; median of {s['repeats']} run(s)"
        )
        lines.append(
            f"  {'':30s} {'cold img/s':>11s} {'warm img/s':>11s} "
            f"{'cold CPU ms/img':>16s} {'warm CPU ms/img':>16s}"
        )
        for row in case["results"]:
            lines.append(
                f"  {row['name']:30s} {row['cold_images_per_s']:11.1f} "
                f"{row['warm_images_per_s']:11.1f} "
                f"{row['cold_cpu_ms_per_image']:16.1f} "
                f"{row['warm_cpu_ms_per_image']:16.1f}"
            )
        stages = ", ".join(
            f"{name} {ms:.1f}" for name, ms in case["stage_cpu_ms_per_image"].items()
        )
        lines.append(f"  seglab steps alone, CPU ms/img: {stages}")
        verdict = "met" if case["target_met"] else "MISSED"
        lines.append(
            f"  speed-up cold {case['speedup_cold']:.1f}x (target "
            f"{case['target_cold']:.0f}x: {verdict}), "
            f"warm {case['speedup_warm']:.1f}x; one-off label conversion "
            f"{case['label_conversion_s']:.2f} s; "
            f"peak RSS {case['peak_rss_mb']:.0f} MiB"
        )
    if "labels" in cases:
        case = cases["labels"]
        lines.append("")
        lines.append(
            f"labels: colour map -> labels, "
            f"{case['settings']['mean_pixels_per_image']:.0f} px per image"
        )
        for row in case["results"]:
            lines.append(
                f"  {row['name']:30s} {row['ms_per_image']:10.2f} ms/image   "
                f"VOC trainval ({case['voc_trainval_masks']} masks) "
                f"{row['voc_trainval_s']:8.1f} s"
            )
        lines.append(
            f"  speed-up {case['speedup']:.0f}x (target {case['target']:.0f}x: "
            f"{'met' if case['target_met'] else 'MISSED'}); "
            f"peak RSS {case['peak_rss_mb']:.0f} MiB"
        )
    if "train" in cases:
        case = cases["train"]
        lines.append("")
        lines.append(
            f"train: random weights, first step apart, then mean of "
            f"{case['settings']['steps']} steps"
        )
        lines.append(
            f"  {'':38s} {'size':>5s} {'batch':>5s} {'first s':>8s} "
            f"{'s/step':>8s} {'img/s':>7s} {'real epoch':>11s}"
        )
        for row in case["results"]:
            lines.append(
                f"  {row['name']:38s} {row['image_size']:5d} {row['batch_size']:5d} "
                f"{row['first_step_s']:8.1f} {row['step_s']:8.3f} "
                f"{row['images_per_s']:7.1f} {row['real_epoch_s'] / 60:7.1f} min"
            )
        lines.append(
            "  real epoch: VOC 2012 train (1464 images) for DeepLabV3, "
            "Pets trainval (3680) for U-Net, at this rate"
        )
        lines.append(f"  peak RSS {case['peak_rss_mb']:.0f} MiB")
    if "predict" in cases:
        case = cases["predict"]
        lines.append("")
        lines.append("predict: latency per image (batch of one), median")
        for row in case["results"]:
            lines.append(
                f"  {row['name']:34s} {row['backbone']:11s} {row['latency_ms']:9.1f} ms"
            )
        lines.append(f"  peak RSS {case['peak_rss_mb']:.0f} MiB")
    return "\n".join(lines)


def save(report: dict, folder: Path = RESULTS_DIR) -> Path:
    """Write ``<folder>/bench-<date>.json`` and the table next to it (``.txt``)."""
    folder.mkdir(parents=True, exist_ok=True)
    stamp = report["date"].replace(":", "").replace("-", "")[:15]
    path = folder / f"bench-{report['level']}-{stamp}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    path.with_suffix(".txt").write_text(table(report) + "\n")
    return path
