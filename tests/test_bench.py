"""``seglab bench``: the report's structure and that every figure is measured.

No timing thresholds: the figures depend on the machine and its load.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from seglab import bench, cli
from seglab.palette import color_to_label, label_to_color


def _positive(value) -> bool:
    return isinstance(value, int | float) and math.isfinite(value) and value > 0


def _check_machine(report):
    machine = report["machine"]
    assert machine["cpu"] and machine["cores"] >= 1
    assert machine["tensorflow"] and machine["gpu"]
    assert set(report["cases"]) == set(bench.CASES)
    assert isinstance(report["notes"], list)
    for case in report["cases"].values():
        assert _positive(case["peak_rss_mb"]) and _positive(case["case_s"])


def _check_pipeline(case):
    names = [row["name"] for row in case["results"]]
    assert names[0].startswith("seglab") and names[1].startswith("book")
    for row in case["results"]:
        for key in ("cold_images_per_s", "warm_images_per_s", "cold_cpu_ms_per_image"):
            assert _positive(row[key]), (row["name"], key)
    ours, book = case["results"]
    expected = ours["cold_images_per_s"] / book["cold_images_per_s"]
    assert case["speedup_cold"] == pytest.approx(expected)
    target = bench.pipeline.PIPELINE_TARGET
    assert case["target_met"] == (case["speedup_cold"] >= target)


def _check_labels(case):
    vectorised, loop = case["results"]
    assert _positive(vectorised["ms_per_image"]) and _positive(loop["ms_per_image"])
    assert loop["voc_trainval_s"] == pytest.approx(
        loop["ms_per_image"] / 1000 * bench.labels.VOC_MASKS
    )
    assert case["speedup"] == pytest.approx(
        loop["ms_per_image"] / vectorised["ms_per_image"]
    )


def _check_train(case):
    rows = case["results"]
    assert {row["model"] for row in rows} == {"deeplabv3", "unet"}
    for row in rows:
        assert _positive(row["first_step_s"]) and _positive(row["step_s"])
        assert row["images_per_s"] == pytest.approx(row["batch_size"] / row["step_s"])
        assert _positive(row["real_epoch_s"])
        assert row["mixed_precision"] == (row["precision"].startswith("mixed"))
        assert row["training"]["global_batch"] == row["batch_size"]


def _check_predict(case):
    rows = case["results"]
    assert any(r["name"].startswith("keras") for r in rows)
    assert any(r["name"].startswith("SavedModel") for r in rows)
    assert all(_positive(r["latency_ms"]) for r in rows)


def test_every_case_reports_positive_figures_a_table_and_a_saved_file(tmp_path):
    # one test, so that parallel workers never run the cases twice
    report = bench.run("tiny", isolate=False)
    _check_machine(report)
    _check_pipeline(report["cases"]["pipeline"])
    _check_labels(report["cases"]["labels"])
    _check_train(report["cases"]["train"])
    _check_predict(report["cases"]["predict"])
    text = bench.table(report)
    for word in ("pipeline:", "labels:", "train:", "predict:", "speed-up"):
        assert word in text
    path = bench.save(report, tmp_path)
    assert json.loads(path.read_text())["machine"] == report["machine"]
    assert path.with_suffix(".txt").read_text() == text + "\n"


def test_per_pixel_loop_agrees_with_the_vectorised_conversion():
    labels = np.random.default_rng(0).choice([0, 1, 7, 15, 255], size=(9, 11))
    color = label_to_color(labels)
    looped = bench.labels.per_pixel_color_to_label(color)
    assert np.array_equal(looped, color_to_label(color))
    assert np.array_equal(looped, labels)


def test_cli_prints_one_json_object_from_isolated_processes(capsys):
    code = cli.main(["bench", "--quick", "--json", "--cases", "labels"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["level"] == "quick" and report["isolated_processes"]
    case = report["cases"]["labels"]
    assert _positive(case["speedup"]) and _positive(case["peak_rss_mb"])
    assert "saved_to" not in report  # quick runs are not saved


def test_unknown_case_is_rejected_with_the_choices(capsys):
    with pytest.raises(SystemExit):
        cli.main(["bench", "--cases", "pipeline,speed"])
    assert "pipeline,labels,train,predict" in capsys.readouterr().err.replace(", ", ",")


def test_training_layout_splits_the_global_batch_over_the_gpus():
    assert bench.train.training_layout(8, 0) == {
        "replicas": 1,
        "global_batch": 8,
        "batch_per_replica": 8,
    }
    assert bench.train.training_layout(8, 4)["batch_per_replica"] == 2
    with pytest.raises(ValueError, match="multiple of 3"):
        bench.train.training_layout(8, 3)


def test_append_record_adds_one_json_line_with_the_machine(tmp_path, capsys):
    from seglab.bench import report

    path = tmp_path / "runs.jsonl"
    report.append_record({"name": "a", "val_mean_iou": 0.5}, path)
    report.append_record({"name": "b", "val_mean_iou": 0.25}, path)
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["name"] for r in rows] == ["a", "b"]
    assert rows[1]["val_mean_iou"] == 0.25
    assert rows[0]["machine"]["cores"] >= 1 and "load_average" in rows[0]
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["name"] == "b"
