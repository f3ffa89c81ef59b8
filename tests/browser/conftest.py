"""Fixtures of the browser tests: JupyterLab started like ``make lab``, the nbgrader
course released into a scratch exchange, and Debian's Chromium driven by Playwright.

Everything the tests write goes to a temporary folder (Jupyter config, settings,
runtime files, the exchange, a gradebook) or to ``test-artifacts/browser/``
(screenshots, the server log). The lessons and the course are only read.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

REPO = Path(__file__).resolve().parents[2]
COURSE = REPO / "autograder"
ARTIFACTS = REPO / "test-artifacts" / "browser"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
INSTALL_HINT = (
    "Install Debian's Chromium with `sudo apt-get install chromium` "
    "(`bash scripts/setup.sh --browser` does it, and `make test` runs that); "
    "never `playwright install`, which downloads another browser."
)
SERVER_START_SECONDS = 90
SERVER_STOP_SECONDS = 30

# JupyterLab settings for the test profile only: keep every cell in the page
# (the default windowing leaves off-screen cells unrendered), never save the
# lesson (it is stored without outputs), and no news pop-ups.
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
    "@jupyterlab/docmanager-extension/plugin": {"autosave": False},
    "@jupyterlab/apputils-extension/notification": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
}

# Run inside a scratch copy of the course: generate the student versions and
# release them into the exchange given as the first argument.
RELEASE_SCRIPT = """
import os, sys
from nbgrader.apps import NbGraderAPI
from nbgrader.apps.baseapp import NbGrader

app = NbGrader()
app.load_config_file()
config = app.config
config.CourseDirectory.root = os.getcwd()
config.Exchange.root = sys.argv[1]
api = NbGraderAPI(config=config)
names = sorted(api.get_source_assignments())
for name in names:
    for step in (api.generate_assignment, api.release_assignment):
        result = step(name)
        if not result["success"]:
            sys.exit(f"{step.__name__}({name}) failed:\\n{result.get('error')}"
                     f"\\n{result.get('log')}")
print("released:", " ".join(names))
"""


@dataclass
class LabServer:
    """A running JupyterLab server: where it listens and what it serves."""

    url: str
    token: str
    process: subprocess.Popen
    exchange: Path
    log_path: Path
    course: Path
    student_dir: Path

    def lab_url(self, path: str = "lab", reset: bool = False) -> str:
        """Address of a page of the server, logged in with the token; reset
        starts from an empty workspace (no tabs left from earlier tests)."""
        return f"{self.url}/{path}?{'reset&' if reset else ''}token={self.token}"

    def api(self, path: str, method: str = "GET") -> dict:
        """Call the server's REST API; returns the decoded JSON (or {})."""
        request = urllib.request.Request(
            f"{self.url}/{path}",
            method=method,
            headers={"Authorization": f"token {self.token}"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body else {}

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of the server's log, for failure messages."""
        text = self.log_path.read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])


@pytest.fixture(scope="session")
def course_assignments() -> list[str]:
    """Names of the assignments in autograder/source (one folder each)."""
    source = COURSE / "source"
    names = sorted(p.name for p in source.glob("*") if p.is_dir())
    if not names:
        pytest.fail(
            f"{source} has no assignment folders: the browser tests check that "
            "the course's assignments appear in nbgrader.",
            pytrace=False,
        )
    return names


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_jupyter_config(
    config_dir: Path, exchange: Path, gradebook: Path, student_dir: Path
) -> None:
    """Jupyter config of the test profile: nbgrader's exchange, gradebook and
    the student's fetched assignments in the scratch folder (never
    /srv/nbgrader/exchange, never the repository), and LAB_SETTINGS."""
    config_dir.mkdir(parents=True, exist_ok=True)
    student_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / "nbgrader_config.py").write_text(
        "c = get_config()  # noqa: F821\n"
        f"c.Exchange.root = {str(exchange)!r}\n"
        f"c.Exchange.assignment_dir = {str(student_dir)!r}\n"
        f"c.CourseDirectory.db_url = {'sqlite:///' + str(gradebook)!r}\n"
    )
    settings_root = config_dir / "lab" / "user-settings"
    for plugin, values in LAB_SETTINGS.items():
        path = settings_root / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))


def start_course_release(scratch: Path, exchange: Path) -> subprocess.Popen:
    """Copy the course (config and sources) and start releasing it to exchange."""
    copy = scratch / "course"
    copy.mkdir()
    shutil.copy2(COURSE / "nbgrader_config.py", copy / "nbgrader_config.py")
    shutil.copytree(COURSE / "source", copy / "source")
    exchange.mkdir()
    return subprocess.Popen(
        [sys.executable, "-c", RELEASE_SCRIPT, str(exchange)],
        cwd=copy,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_until_serving(server: LabServer) -> None:
    """Block until the server answers its status API; fail with its log if not."""
    deadline = time.monotonic() + SERVER_START_SECONDS
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            pytest.fail(
                f"JupyterLab exited with code {server.process.returncode} while "
                f"starting; its log ends with:\n{server.log_tail()}",
                pytrace=False,
            )
        try:
            server.api("api/status")
            return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.5)
    pytest.fail(
        f"JupyterLab did not answer on {server.url} within "
        f"{SERVER_START_SECONDS} s; its log ends with:\n{server.log_tail()}",
        pytrace=False,
    )


def stop_server(server: LabServer) -> list[str]:
    """Shut the server down through its API; returns the problems seen (empty
    when it exited by itself and left no process behind)."""
    problems = []
    if server.process.poll() is not None:
        return problems  # it never started or already stopped: reported elsewhere
    try:
        family = [psutil.Process(server.process.pid)]
        family += family[0].children(recursive=True)
    except psutil.NoSuchProcess:
        family = []
    try:
        server.api("api/shutdown", method="POST")
    except (urllib.error.URLError, ConnectionError, TimeoutError) as error:
        problems.append(f"POST /api/shutdown failed: {error}")
    try:
        code = server.process.wait(timeout=SERVER_STOP_SECONDS)
        if code != 0:
            problems.append(f"the server exited with code {code}")
    except subprocess.TimeoutExpired:
        problems.append(
            f"the server was still running {SERVER_STOP_SECONDS} s after /api/shutdown"
        )
        server.process.terminate()
    _, alive = psutil.wait_procs(family, timeout=10)
    for process in alive:
        problems.append(f"left running: pid {process.pid} {_describe(process)}")
        process.kill()
    return problems


def _describe(process: psutil.Process) -> str:
    """Command line of a process, shortened, for messages."""
    try:
        return " ".join(process.cmdline())[:200]
    except psutil.Error:
        return "(gone)"


@pytest.fixture(scope="session", autouse=True)
def no_leftover_processes() -> Iterator[None]:
    """After the suite, nothing the suite started (server, kernels, Chromium,
    Playwright's driver) may still run."""
    me = psutil.Process()
    before = {p.pid for p in me.children(recursive=True)}
    yield
    fresh = [p for p in me.children(recursive=True) if p.pid not in before]
    _, alive = psutil.wait_procs(fresh, timeout=10)
    if alive:
        names = "; ".join(f"pid {p.pid} {_describe(p)}" for p in alive)
        for process in alive:
            process.kill()
        pytest.fail(
            f"processes left running after the browser tests: {names}", pytrace=False
        )


@pytest.fixture(scope="session")
def lab_server(
    tmp_path_factory: pytest.TempPathFactory, artifacts: Path
) -> Iterator[LabServer]:
    """JupyterLab launched by scripts/lab.sh (as `make lab` does) on a free port
    with a random token, with the course released into a scratch exchange."""
    scratch = tmp_path_factory.mktemp("lab")
    exchange = scratch / "exchange"
    config_dir = scratch / "jupyter-config"
    student_dir = scratch / "student"
    write_jupyter_config(config_dir, exchange, scratch / "gradebook.db", student_dir)
    release = start_course_release(scratch, exchange)

    log_path = artifacts / "jupyterlab.log"
    port, token = free_port(), secrets.token_hex(24)
    env = dict(
        os.environ,
        SEGLAB_PROFILE="quick",
        JUPYTER_CONFIG_DIR=str(config_dir),
        JUPYTER_DATA_DIR=str(scratch / "jupyter-data"),
        JUPYTER_RUNTIME_DIR=str(scratch / "jupyter-runtime"),
        IPYTHONDIR=str(scratch / "ipython"),
        TF_CPP_MIN_LOG_LEVEL="2",
    )
    env.pop("JUPYTER_CONFIG_PATH", None)
    command = [
        "bash",
        str(REPO / "scripts" / "lab.sh"),
        f"--port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        "--LabApp.expose_app_in_browser=True",
    ]
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            command,
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = LabServer(
        f"http://127.0.0.1:{port}",
        token,
        process,
        exchange,
        log_path,
        scratch / "course",
        student_dir,
    )
    try:
        release_output, _ = release.communicate(timeout=SERVER_START_SECONDS)
        if release.returncode != 0:
            pytest.fail(
                f"releasing the course into {exchange} failed:\n{release_output}",
                pytrace=False,
            )
        wait_until_serving(server)
        yield server
    finally:
        if release.poll() is None:
            release.kill()
            release.wait()
        problems = stop_server(server)
        if problems:
            pytest.fail(
                "JupyterLab did not stop cleanly: "
                + "; ".join(problems)
                + f"\nlog: {log_path}",
                pytrace=False,
            )


@pytest.fixture(scope="session")
def chromium():
    """Debian's Chromium, headless, driven by Playwright; fails (never skips)
    with install instructions when it cannot be started."""
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the browser tests need Debian's "
            f"Chromium. {INSTALL_HINT}",
            pytrace=False,
        )
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    try:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_FLAGS,
            timeout=60_000,
        )
    except PlaywrightError as error:
        playwright.stop()
        pytest.fail(
            f"Chromium at {CHROMIUM} could not be started: {error}\n{INSTALL_HINT}",
            pytrace=False,
        )
    yield browser
    browser.close()
    playwright.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the test item (for failure screenshots)."""
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Folder for screenshots and logs (test-artifacts/browser/, not in git),
    emptied at the start of the suite."""
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    return ARTIFACTS


@pytest.fixture
def page(chromium, lab_server, artifacts, request):
    """A fresh browser tab (own cookies and storage); a screenshot is saved to
    test-artifacts/browser/ when the test fails."""
    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(30_000)
    tab = context.new_page()
    yield tab
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        tab.screenshot(path=str(artifacts / f"{request.node.name}-failure.png"))
    context.close()
