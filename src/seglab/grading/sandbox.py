"""A sandbox for graded kernels, built on bubblewrap (``bwrap``).

nbgrader runs each submission in a Jupyter kernel. ``SandboxedKernelManager``
starts that kernel inside ``bwrap`` (the sandbox Flatpak uses) under resource
limits set with ``prlimit`` (util-linux). The kernel sees:

- a scratch copy of its own working folder (the submission), and nothing
  else of the course: no ``source/``, no other submissions, no gradebook;
- the Python environment (every folder on the grader's ``sys.path``) and the
  system libraries, read-only;
- a small private ``/tmp`` and home; no network (it talks to the grader
  through Unix sockets in a private folder), its own PID namespace, a clean
  environment (``PYTHONSAFEPATH`` keeps the working folder off ``sys.path``).

Limits (``prlimit``): address space, number of processes, size of any file
written, open files, no core dumps. Disk: the kernel's working folder, home
and ``/tmp`` are size-limited in-memory file systems (``tmpfs``); the
submission is copied in when the kernel starts, and whatever the kernel
writes there is gone when it stops. When the kernel stops, the PID namespace
goes with it: every process the submission started is killed.

The limit on processes (``RLIMIT_NPROC``) counts every process of one user.
So that no other process on the machine counts against a sandbox, each
sandbox runs as a user of its own: as an ordinary user, inside a user
namespace of its own; as root, as a user id no account uses, one per kernel
(``SANDBOX_UID_BASE`` plus the grading process's id, set with ``setpriv``),
so root-only files stay closed too.

Where bubblewrap cannot run (macOS, Windows, a Linux without it) the manager
refuses to start unless sandboxing was turned off explicitly
(``SandboxedKernelManager.sandbox = "off"``, ``--no-sandbox`` or
``SEGLAB_GRADING_SANDBOX=off``); then it warns and runs the plain kernel.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
import tempfile
import warnings
from functools import lru_cache
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager
from traitlets import Enum, Integer, Unicode

SANDBOX_ENV = "SEGLAB_GRADING_SANDBOX"
"""``on`` (default) or ``off``: the environment's say over the kernel sandbox."""

SANDBOX_UID_BASE = 0x70000000
"""When the grader is root, each sandbox runs as ``SANDBOX_UID_BASE + pid`` (the
process id of the grading process that starts the kernel, unique while it
runs). The range 1879048192-1883242495 is one no distribution or systemd
gives out (systemd's container ranges end below it)."""


def sandbox_uid(pid: int | None = None) -> int:
    """The user id a sandbox started by process ``pid`` (default: this one)
    runs as when the grader is root."""
    return SANDBOX_UID_BASE + (os.getpid() if pid is None else pid)


KERNEL_HOME = "/home/student"
WORK_DIR = KERNEL_HOME + "/submission"
SEED_DIR = "/submitted"
"""Where the sandbox sees the scratch copy of its submission, read-only; the
kernel works on a copy of it in ``WORK_DIR`` (inside the size-limited home)."""

KEPT_ENV = (
    "LANG",
    "LC_ALL",
    "LC_CTYPE",
    "TF_CPP_MIN_LOG_LEVEL",
    "SEGLAB_PROFILE",
    "CUDA_VISIBLE_DEVICES",
    "OMP_NUM_THREADS",
    "TF_NUM_INTRAOP_THREADS",
    "TF_NUM_INTEROP_THREADS",
)
"""Grader environment variables a kernel may see; every other one is dropped."""

ETC_FILES = (
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "localtime",
    "alternatives",
    "ssl",
    "nsswitch.conf",
    "mime.types",
    "fonts",
    "matplotlibrc",
)
"""The few ``/etc`` entries Python, NumPy, TensorFlow and matplotlib read."""

INSTALL_HINT = (
    "install bubblewrap (Debian/Ubuntu: `sudo apt-get install bubblewrap`; "
    "`bash scripts/setup.sh` does it) or, only for submissions you trust, "
    "grade without a sandbox: `seglab grade autograde --no-sandbox` "
    f"(plain nbgrader: `{SANDBOX_ENV}=off nbgrader autograde ...`)"
)


class SandboxError(RuntimeError):
    """The sandbox cannot start; the message says why and what to do."""


def sandbox_wanted() -> bool:
    """False when ``SEGLAB_GRADING_SANDBOX`` says ``off`` (the opt-out)."""
    value = os.environ.get(SANDBOX_ENV, "on").strip().lower()
    if value not in {"on", "off", "1", "0", "yes", "no", "true", "false"}:
        raise SandboxError(f"{SANDBOX_ENV}={value!r}: use 'on' or 'off'")
    return value in {"on", "1", "yes", "true"}


@lru_cache(maxsize=1)
def probe() -> str:
    """Empty string when ``bwrap`` can start a sandbox here, else the reason."""
    if platform.system() != "Linux":
        return f"bubblewrap needs Linux; this is {platform.system()}"
    for tool in ("bwrap", "prlimit"):
        if shutil.which(tool) is None:
            return f"`{tool}` is not installed"
    if os.geteuid() == 0 and shutil.which("setpriv") is None:
        return "`setpriv` (util-linux) is needed to drop root for the sandbox"
    command = (
        _bwrap_prefix()
        + _system_binds()
        + ["--tmpfs", "/tmp"]
        + _python_binds()
        + ["--"]
        + _privilege_drop(sandbox_uid())
        + [sys.executable, "-c", "import seglab"]
    )
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"bwrap could not run: {error}"
    if done.returncode != 0:
        return f"bwrap failed: {done.stderr.strip()[-300:] or done.returncode}"
    return ""


def require_sandbox() -> bool:
    """True when kernels will be sandboxed; raise or warn as the settings say.

    With the sandbox wanted (the default) and unavailable, raise
    ``SandboxError`` with the fix. With the opt-out, warn and return False.
    """
    if not sandbox_wanted():
        warnings.warn(
            "grading WITHOUT a sandbox: submitted code runs with your rights and "
            "can read and change the course, the gradebook and your files",
            RuntimeWarning,
            stacklevel=2,
        )
        return False
    if not sys.platform.startswith("linux"):
        warnings.warn(
            f"no sandbox for graded kernels on {platform.system()} (bubblewrap "
            "needs Linux): submitted code runs with your rights. Grade untrusted "
            "submissions on Linux, or in a container or throw-away account",
            RuntimeWarning,
            stacklevel=2,
        )
        return False
    problem = probe()
    if problem:
        raise SandboxError(
            f"cannot sandbox graded kernels: {problem}. Fix: " + INSTALL_HINT
        )
    return True


def _bwrap_prefix() -> list[str]:
    """``bwrap`` and its namespace options for the account running the grader.

    As an ordinary user, bwrap makes a user namespace (so the process limit
    counts only the sandbox's processes). As root it runs privileged, without
    one, and keeps only the capability to switch to the sandbox's own user
    (``sandbox_uid``) inside.
    """
    common = [
        "--die-with-parent",
        "--unshare-ipc",
        "--unshare-pid",
        "--unshare-net",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--hostname",
        "sandbox",
    ]
    if os.geteuid() == 0:
        return [
            "bwrap",
            *common,
            "--cap-add",
            "CAP_SETUID",
            "--cap-add",
            "CAP_SETGID",
            "--cap-add",
            "CAP_SETPCAP",
        ]
    return ["bwrap", *common, "--unshare-user", "--disable-userns"]


def _privilege_drop(uid: int) -> list[str]:
    """Inside the sandbox: become user ``uid`` with no capabilities (root only)."""
    if os.geteuid() != 0:
        return []
    return [
        "setpriv",
        f"--reuid={uid}",
        f"--regid={uid}",
        "--clear-groups",
        "--inh-caps=-all",
        "--bounding-set=-all",
        "--",
    ]


@lru_cache(maxsize=1)
def _python_paths() -> tuple[str, ...]:
    """Folders of the Python environment: its prefixes and the ``sys.path`` a
    fresh, isolated interpreter gets (site-packages, editable installs), not
    the grader's working folder or ``PYTHONPATH``."""
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix}
    done = subprocess.run(
        [sys.executable, "-I", "-c", "import sys; print('\\n'.join(sys.path))"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    paths.update(p for p in done.stdout.splitlines() if p and os.path.isabs(p))
    paths.add(str(Path(sys.executable).resolve().parent))
    found = sorted({os.path.realpath(p) for p in paths if os.path.exists(p)})
    # Bind each tree once: drop entries inside another entry.
    kept: list[str] = []
    for path in found:
        if not any(path == k or path.startswith(k.rstrip("/") + "/") for k in kept):
            kept.append(path)
    return tuple(kept)


def _system_binds() -> list[str]:
    args = ["--ro-bind", "/usr", "/usr"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64"):
        path = Path("/") / name
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), str(path)]
        elif path.exists():
            args += ["--ro-bind", str(path), str(path)]
    for name in ETC_FILES:
        args += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
    args += ["--proc", "/proc", "--dev", "/dev"]
    return args


def _python_binds() -> list[str]:
    """Read-only binds of the Python environment. They come after the private
    ``/tmp`` is mounted, so an environment that lives under ``/tmp`` (a CI
    clone, say) stays visible."""
    args = []
    for path in _python_paths():
        if not path.startswith("/usr/"):
            args += _parents(path) + ["--ro-bind", path, path]
    return args


def _parents(path: str) -> list[str]:
    """Create the folders above ``path`` readable by all (bwrap's are 0700)."""
    args = []
    parent = Path(path).parent
    for folder in reversed([parent, *parent.parents]):
        if str(folder) not in ("/", "/usr", "/tmp"):
            args += ["--perms", "0755", "--dir", str(folder)]
    return args


SOCKET_PATH_LIMIT = 100
"""Longest kernel socket path used as is (Linux allows 107 bytes per socket)."""


def _short_socket_link(run_dir: Path) -> Path | None:
    """A short name for ``run_dir`` when its sockets' paths would be too long.

    ZeroMQ's ``ipc://`` sockets are Unix sockets, whose paths are limited to
    107 bytes; a course in a deep folder (or pytest's temporary folders)
    exceeds that. Returns a symbolic link ``/tmp/sgk-*`` to ``run_dir``
    (the sandbox binds ``run_dir`` at the same short path), or ``None`` when
    the real path is short enough.
    """
    if len(str(run_dir / "kernel-99")) <= SOCKET_PATH_LIMIT:
        return None
    remove_dangling_socket_links()
    link = Path(tempfile.mkdtemp(prefix="sgk-", dir="/tmp"))
    link.rmdir()
    link.symlink_to(run_dir, target_is_directory=True)
    return link


def remove_dangling_socket_links() -> list[Path]:
    """Remove the ``/tmp/sgk-*`` links whose kernel folder is gone.

    A kernel whose worker was killed leaves its link behind (its folder is
    removed with the submission's scratch folder); grading calls this when
    it ends and before it makes a new link.
    """
    removed = []
    for link in Path("/tmp").glob("sgk-*"):
        if link.is_symlink() and not link.exists():
            link.unlink(missing_ok=True)
            removed.append(link)
    return removed


def _copy_regular_files(source: Path, target: Path) -> None:
    """Copy a folder's regular files and folders (never links or devices)."""
    target.mkdir(parents=True, exist_ok=True)
    for entry in os.scandir(source):
        if entry.is_symlink():
            continue
        if entry.is_dir():
            _copy_regular_files(Path(entry.path), target / entry.name)
        elif entry.is_file():
            shutil.copyfile(entry.path, target / entry.name)


def _chown_tree(path: Path, uid: int) -> None:
    for root, dirs, files in os.walk(path):
        os.chown(root, uid, uid)
        for name in dirs + files:
            os.chown(os.path.join(root, name), uid, uid, follow_symlinks=False)


class SandboxedKernelManager(AsyncKernelManager):
    """A kernel manager that starts every kernel inside bubblewrap.

    Set it as ``c.Execute.kernel_manager_class`` (the course config does).
    """

    sandbox = Enum(
        ["auto", "on", "off"],
        "auto",
        help=(
            "'on': always sandbox (fail when bwrap cannot run); 'off': never (warns); "
            f"'auto': follow {SANDBOX_ENV} (on unless it says off)"
        ),
    ).tag(config=True)
    memory_limit = Integer(
        8 * 1024**3, help="address space of each sandboxed process, bytes"
    ).tag(config=True)
    max_processes = Integer(
        256, help="processes and threads the sandbox may run (its user is its own)"
    ).tag(config=True)
    max_file_size = Integer(
        64 * 1024**2, help="largest file a sandboxed kernel may write, bytes"
    ).tag(config=True)
    tmp_size = Integer(
        256 * 1024**2,
        help=(
            "size of the sandbox's private /tmp, and of its home (which holds "
            "the working folder), bytes: all a kernel can write to disk is "
            "twice this"
        ),
    ).tag(config=True)
    work_dir = Unicode(WORK_DIR, help="where the kernel sees its submission").tag(
        config=True
    )

    _scratch: tempfile.TemporaryDirectory | None = None
    _link: Path | None = None
    _uid: int | None = None

    def _enabled(self) -> bool:
        if self.sandbox == "off":
            return False
        return self.sandbox == "on" or sandbox_wanted()

    async def _async_pre_start_kernel(self, **kw):
        if not self._enabled() or not require_sandbox():
            warnings.warn(
                "graded kernel started WITHOUT a sandbox", RuntimeWarning, stacklevel=2
            )
            self.transport = "tcp"
            return await super()._async_pre_start_kernel(**kw)
        self._scratch = tempfile.TemporaryDirectory(prefix="seglab-kernel-")
        root = Path(self._scratch.name)
        (root / "run").mkdir()
        _copy_regular_files(Path(kw.get("cwd") or os.getcwd()), root / "submission")
        self._uid = sandbox_uid()
        if os.geteuid() == 0:
            _chown_tree(root, self._uid)
        os.chmod(root, 0o755)
        # Interrupt through the control channel: a SIGINT to the process group
        # would stop bwrap itself, and with it the kernel.
        self.kernel_spec.interrupt_mode = "message"
        self.transport = "ipc"
        self._link = _short_socket_link(root / "run")
        self.ip = str((self._link or root / "run") / "kernel")
        self.connection_file = str(root / "run" / "kernel.json")
        kw["cwd"] = str(root)
        return await super()._async_pre_start_kernel(**kw)

    def write_connection_file(self, **kwargs) -> None:
        """Write it, readable by the sandbox's user."""
        super().write_connection_file(**kwargs)
        if self._scratch is not None and os.geteuid() == 0:
            os.chown(self.connection_file, self._uid, self._uid)

    def format_kernel_cmd(self, extra_arguments=None) -> list[str]:
        """The kernel's command, wrapped in prlimit and bwrap when sandboxed."""
        command = super().format_kernel_cmd(extra_arguments)
        if self._scratch is None:
            return command
        return self.wrap(command, Path(self._scratch.name), self._uid)

    def wrap(self, command: list[str], root: Path, uid: int | None = None) -> list[str]:
        """``bwrap ... -- [setpriv ...] prlimit ... sh -c COPY command`` for a
        scratch folder ``root``; ``uid``: the sandbox's user when root (default:
        ``sandbox_uid()``)."""
        limits = [
            "prlimit",
            f"--as={self.memory_limit}",
            f"--nproc={self.max_processes}",
            f"--fsize={self.max_file_size}",
            "--nofile=1024",
            "--core=0",
            "--",
        ]
        env = [
            "--clearenv",
            "--setenv",
            "HOME",
            KERNEL_HOME,
            "--setenv",
            "PATH",
            f"{Path(sys.executable).parent}:/usr/bin:/bin",
            "--setenv",
            "PYTHONSAFEPATH",
            "1",
            "--setenv",
            "PYTHONDONTWRITEBYTECODE",
            "1",
            "--setenv",
            "IPYTHONDIR",
            KERNEL_HOME + "/.ipython",
            "--setenv",
            "MPLCONFIGDIR",
            KERNEL_HOME + "/.matplotlib",
            "--setenv",
            "MPLBACKEND",
            "agg",
        ]
        for name in KEPT_ENV:
            if name in os.environ:
                env += ["--setenv", name, os.environ[name]]
        run = str(root / "run")
        link = (
            self._link
            if self._scratch is not None and Path(self._scratch.name) == root
            else None
        )
        bwrap = _bwrap_prefix() + [
            *_system_binds(),
            "--perms",
            "1777",
            "--size",
            str(self.tmp_size),
            "--tmpfs",
            "/tmp",
            "--perms",
            "0755",
            "--dir",
            "/home",
            "--perms",
            "0777",
            "--size",
            str(self.tmp_size),
            "--tmpfs",
            KERNEL_HOME,
            "--perms",
            "0777",
            "--dir",
            self.work_dir,
            *_python_binds(),
            "--ro-bind",
            str(root / "submission"),
            SEED_DIR,
            *_parents(run),
            "--bind",
            run,
            run,
            # sockets: the same folder under a short name (see _short_socket_link)
            *(["--bind", run, str(link)] if link is not None else []),
            # Nothing else is writable: bwrap's own root and /dev are
            # in-memory file systems without a size limit.
            "--remount-ro",
            "/dev",
            "--remount-ro",
            "/",
            "--chdir",
            self.work_dir,
            *env,
            "--",
        ]
        # The working folder lives in the size-limited home: copy the
        # submission in, then become the kernel.
        copy_in = ["/bin/sh", "-c", f'cp -R {SEED_DIR}/. . && exec "$@"', "sh"]
        drop = _privilege_drop(sandbox_uid() if uid is None else uid)
        return bwrap + drop + limits + copy_in + command

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        await super()._async_cleanup_resources(restart=restart)
        if self._scratch is not None and not restart:
            if self._link is not None:
                self._link.unlink(missing_ok=True)
                self._link = None
            self._scratch.cleanup()
            self._scratch = None
