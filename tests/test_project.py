"""Project-level promises: pins agree, notebooks are clean, CI runs the README."""

import json
import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(ROOT.glob("lessons/*.ipynb")) + sorted(
    ROOT.glob("autograder/source/*/*.ipynb")
)


def _pins(lines):
    pins = {}
    for line in lines:
        requirement = line.split(";")[0].strip()
        match = re.fullmatch(r"([A-Za-z0-9_.\-\[\]]+)==([^\s]+)", requirement)
        if match:
            name = re.sub(r"[-_.]+", "-", match.group(1).split("[")[0]).lower()
            pins[name] = match.group(2)
    return pins


def test_environment_yml_and_pyproject_pin_the_same_versions():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = project["dependencies"] + project["optional-dependencies"]["dev"]
    for requirement in declared:
        assert "==" in requirement, f"{requirement!r} is not pinned exactly"
    pyproject = _pins(declared)
    text = (ROOT / "environment.yml").read_text()
    conda = _pins(re.findall(r"^\s*-\s+(\S+==\S+)\s*$", text, re.MULTILINE))
    # the conda file installs tensorflow-cpu; pyproject picks tensorflow
    # elsewhere than Linux x86-64 with the same version
    assert pyproject.pop("tensorflow") == pyproject["tensorflow-cpu"]
    assert conda == pyproject
    assert re.search(r"^\s*-\s+python=3\.11\s*$", text, re.MULTILINE)


def test_the_student_copy_carries_the_files_pip_needs_to_install_it():
    from seglab.grading.release import STUDENT_COPY_PARTS

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    needed = [project["readme"], *project["license-files"], "pyproject.toml"]
    for name in needed:
        assert (ROOT / name).is_file(), f"pyproject.toml names {name}: missing"
        assert name in STUDENT_COPY_PARTS, f"students' copy lacks {name}"


def test_notebooks_are_stored_without_outputs():
    assert NOTEBOOKS, "no notebooks found"
    for path in NOTEBOOKS:
        notebook = json.loads(path.read_text())
        for index, cell in enumerate(notebook["cells"]):
            if cell["cell_type"] == "code":
                assert not cell.get("outputs"), f"{path.name} cell {index} has outputs"
                assert cell.get("execution_count") is None, f"{path.name} cell {index}"


def _quick_start_commands():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Quick start", 1)[1]
    block = re.search(r"```(?:bash)?\n(.*?)```", section, re.DOTALL).group(1)
    return [line.split("#")[0].strip() for line in block.splitlines() if line.strip()]


def test_readme_quick_start_has_exactly_two_commands():
    commands = _quick_start_commands()
    assert len(commands) == 2, commands


def test_ci_runs_the_readme_test_command_verbatim():
    test_command = _quick_start_commands()[1]
    script = (ROOT / ".ci" / "run").read_text()
    lines = [line.strip() for line in script.splitlines()]
    assert test_command in lines


@pytest.mark.parametrize(
    "path", sorted(ROOT.glob("lessons/*.ipynb")), ids=lambda p: p.stem
)
def test_lessons_start_with_goals_and_the_banner(path):
    cells = json.loads(path.read_text())["cells"]
    assert cells[0]["cell_type"] == "markdown"
    assert "learning goals" in "".join(cells[0]["source"]).lower()
    code = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
    assert any("banner(" in source for source in code[:3]), "banner must come first"
