"""Static scan of a submission for tricks an honest answer never needs.

Before a submission is graded, every cell its author wrote (the answer cells,
and any cell they added) is parsed with :mod:`ast` and checked for constructs
that none of this course's assignments needs but that a student who wants
points without the knowledge would use: IPython internals (AST and input
transformers, events), overriding ``__eq__`` so that any comparison passes,
patching NumPy or another imported module, ``sys.modules``, ``builtins``,
files outside the working folder, the gradebook's ``sqlite3``, processes and
signals, ``ctypes``, ``gc``, ``inspect``, dynamic code and imports, magics and
shell escapes. A cell that does not parse (a syntax error, a magic) is also
searched as text. Locked instructor cells (nbgrader metadata ``locked`` with a
``grade_id``, not a solution) are skipped: nbgrader restores them from the
source before it runs the notebook.

A finding is a reason for a person to look, not a verdict: the grading
command withholds the score of a flagged submission until an instructor
clears it. The scan and the runtime checks of :mod:`seglab.grading.guard`
work together: the guard lives in names that start with ``_seglab``, and any
student code that mentions them is flagged here.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import nbformat

__all__ = [
    "Finding",
    "RULES",
    "locked_ids",
    "scan_notebook",
    "scan_source",
    "student_cells",
]


@dataclass(frozen=True)
class Finding:
    """One construct in one student cell that a person should look at."""

    cell_id: str
    line: int
    rule: str
    message: str

    def __str__(self) -> str:
        return f"cell {self.cell_id}, line {self.line}: [{self.rule}] {self.message}"


RULES = {
    "ipython-internals": "IPython's shell, transformers, events or history",
    "ast-module": "the ast module (rewrites code before it runs)",
    "dunder-override": "an __eq__/__hash__-style override that fools comparisons",
    "module-patch": "assigning to, setattr on, or rebinding an imported module",
    "sys-internals": "sys.modules, import hooks, displayhook, trace or audit hooks",
    "builtins": "the builtins module or a rebound built-in name",
    "file-outside": "files outside the working folder, or a computed file path",
    "sqlite3": "the sqlite3 module (the gradebook is an SQLite file)",
    "subprocess": "subprocess, os.system/popen/exec/spawn or pty",
    "process-control": "fork, kill, signals, threads or exit handlers",
    "ctypes": "ctypes or another foreign-memory module",
    "gc": "the gc module (reaches every object, the grader's included)",
    "inspect": "inspect, frames, code objects or other reflection",
    "dynamic-import": "importlib, runpy, __import__ or pkgutil",
    "exec-eval": "exec, eval or compile of code built at run time",
    "grader-internals": "names of the grading checks (_seglab*, seglab.grading)",
    "magic": "an IPython magic, shell escape or help line",
    "network": "sockets or URL access",
}
"""Every rule the scan knows, with what it covers."""

# Imported module (first dotted component) -> rule.
_MODULE_RULES = {
    "IPython": "ipython-internals",
    "ipykernel": "ipython-internals",
    "jupyter_client": "ipython-internals",
    "traitlets": "ipython-internals",
    "ast": "ast-module",
    "sys": None,  # only some uses of sys are flagged, see _SYS_ATTRS
    "builtins": "builtins",
    "__builtin__": "builtins",
    "sqlite3": "sqlite3",
    "_sqlite3": "sqlite3",
    "nbgrader": "grader-internals",
    "subprocess": "subprocess",
    "_posixsubprocess": "subprocess",
    "pty": "subprocess",
    "signal": "process-control",
    "threading": "process-control",
    "_thread": "process-control",
    "multiprocessing": "process-control",
    "concurrent": "process-control",
    "atexit": "process-control",
    "resource": "process-control",
    "ctypes": "ctypes",
    "_ctypes": "ctypes",
    "cffi": "ctypes",
    "mmap": "ctypes",
    "gc": "gc",
    "inspect": "inspect",
    "types": "inspect",
    "dis": "inspect",
    "code": "inspect",
    "codeop": "inspect",
    "marshal": "inspect",
    "pickle": "inspect",
    "weakref": "inspect",
    "importlib": "dynamic-import",
    "runpy": "dynamic-import",
    "pkgutil": "dynamic-import",
    "zipimport": "dynamic-import",
    "imp": "dynamic-import",
    "shutil": "file-outside",
    "glob": "file-outside",
    "tempfile": "file-outside",
    "socket": "network",
    "urllib": "network",
    "http": "network",
    "requests": "network",
    "ftplib": "network",
}

_OS_ATTRS = {
    "system": "subprocess",
    "popen": "subprocess",
    "posix_spawn": "subprocess",
    "posix_spawnp": "subprocess",
    "fork": "process-control",
    "forkpty": "process-control",
    "kill": "process-control",
    "killpg": "process-control",
    "setsid": "process-control",
    "setpgid": "process-control",
    "setpgrp": "process-control",
    "_exit": "process-control",
    "abort": "process-control",
    "register_at_fork": "process-control",
    "chdir": "file-outside",
    "fchdir": "file-outside",
    "chroot": "file-outside",
    "pardir": "file-outside",
    "getcwd": "file-outside",
    "listdir": "file-outside",
    "scandir": "file-outside",
    "walk": "file-outside",
    "remove": "file-outside",
    "unlink": "file-outside",
    "rename": "file-outside",
    "replace": "file-outside",
    "symlink": "file-outside",
    "link": "file-outside",
    "open": "file-outside",
    "expanduser": "file-outside",
    "environ": None,
}
_OS_PREFIX_RULES = (
    ("exec", "subprocess"),
    ("spawn", "subprocess"),
    ("wait", "process-control"),
)

_SYS_ATTRS = {
    "modules",
    "meta_path",
    "path_hooks",
    "path_importer_cache",
    "path",
    "displayhook",
    "excepthook",
    "__displayhook__",
    "__excepthook__",
    "settrace",
    "setprofile",
    "gettrace",
    "getprofile",
    "_getframe",
    "addaudithook",
    "audit",
    "setrecursionlimit",
    "exit",
    "stdout",
    "stderr",
    "stdin",
    "__stdout__",
    "__stderr__",
    "builtin_module_names",
    "call_tracing",
    "monitoring",
    "breakpointhook",
    "unraisablehook",
}

_IPYTHON_NAMES = {
    "get_ipython",
    "__IPYTHON__",
    "In",
    "Out",
    "_ih",
    "_oh",
    "_dh",
    "_i",
    "_ii",
    "_iii",
    "exit",
    "quit",
    "display_pub",
}
_IPYTHON_ATTRS = {
    "ast_transformers",
    "input_transformers_post",
    "input_transformers_cleanup",
    "input_transformer_manager",
    "input_splitter",
    "events",
    "register_magics",
    "register_magic_function",
    "run_line_magic",
    "run_cell_magic",
    "run_cell",
    "run_cell_async",
    "run_ast_nodes",
    "transform_cell",
    "transform_ast",
    "set_custom_exc",
    "user_ns",
    "user_global_ns",
    "displayhook",
    "display_pub",
    "display_formatter",
    "comm_manager",
    "_ip",
    "execution_count",
    "history_manager",
    "magics_manager",
}

_DUNDERS = {
    "__eq__",
    "__ne__",
    "__hash__",
    "__lt__",
    "__le__",
    "__gt__",
    "__ge__",
    "__bool__",
    "__len__",
    "__contains__",
    "__array__",
    "__array_ufunc__",
    "__array_function__",
    "__array_interface__",
    "__array_priority__",
    "__instancecheck__",
    "__subclasscheck__",
    "__subclasshook__",
    "__getattr__",
    "__getattribute__",
    "__setattr__",
    "__index__",
    "__int__",
    "__float__",
    "__str__",
    "__repr__",
    "__format__",
    "__iter__",
    "__round__",
    "__abs__",
    "__sub__",
    "__rsub__",
    "__and__",
    "__rand__",
}
"""Methods that decide how an answer compares, converts or is checked."""

_REFLECTION_ATTRS = {
    "__dict__",
    "__class__",
    "__globals__",
    "__code__",
    "__closure__",
    "__defaults__",
    "__kwdefaults__",
    "__subclasses__",
    "__bases__",
    "__mro__",
    "__base__",
    "__wrapped__",
    "__self__",
    "__func__",
    "__builtins__",
    "__loader__",
    "__spec__",
    "__import__",
    "__reduce__",
    "__reduce_ex__",
    "f_globals",
    "f_locals",
    "f_back",
    "f_builtins",
    "f_code",
    "gi_frame",
    "cr_frame",
    "ag_frame",
    "tb_frame",
    "co_code",
    "co_consts",
    "__traceback__",
}
_REFLECTION_CALLS = {
    "globals",
    "vars",
    "locals",
    "setattr",
    "delattr",
    "breakpoint",
    "memoryview",
}
_EXEC_CALLS = {"exec", "eval", "compile"}
_FILE_CALLS = {
    "open",
    "Path",
    "PurePath",
    "PosixPath",
    "WindowsPath",
    "load",
    "loadtxt",
    "genfromtxt",
    "fromfile",
    "memmap",
    "save",
    "savez",
    "savetxt",
    "tofile",
    "read_file",
    "write_file",
    "GFile",
    "listdir",
    "glob",
    "imread",
    "imwrite",
    "load_img",
    "load_model",
    "get_file",
    "read_csv",
    "FileIO",
}
_FILE_ATTRS = {
    "parent",
    "parents",
    "home",
    "cwd",
    "expanduser",
    "resolve",
    "absolute",
    "abspath",
    "realpath",
    "dirname",
    "chdir",
    "gfile",
}
_GRADER_NAME = re.compile(
    r"_seglab|grading_guard|grading_scan|seglab\.grading\b|gradebook"
)
_OUTSIDE_PATH = re.compile(r"^(/|~|[A-Za-z]:[\\/])|(^|[\\/])\.\.([\\/]|$)")
_TEST_BUILTINS = {
    "type",
    "isinstance",
    "issubclass",
    "len",
    "set",
    "frozenset",
    "str",
    "bool",
    "int",
    "float",
    "tuple",
    "list",
    "dict",
    "range",
    "sorted",
    "zip",
    "any",
    "all",
    "abs",
    "next",
    "iter",
    "repr",
    "AssertionError",
    "ValueError",
    "object",
    "print",
    "super",
    "hasattr",
    "getattr",
    "enumerate",
}
"""Built-in names the test cells call; rebinding one at top level is flagged."""

_DEFAULT_MODULE_NAMES = {
    "np",
    "numpy",
    "tf",
    "tensorflow",
    "keras",
    "palette",
    "seglab",
    "os",
    "sys",
    "math",
    "re",
}


def _nbgrader(cell) -> dict:
    metadata = cell.get("metadata") if isinstance(cell, dict) else None
    meta = metadata.get("nbgrader") if isinstance(metadata, dict) else None
    return meta if isinstance(meta, dict) else {}


def _source(cell) -> str:
    """A cell's source as one string (a list of lines in raw JSON)."""
    source = cell.get("source", "") if isinstance(cell, dict) else ""
    return "".join(source) if isinstance(source, list) else str(source or "")


def _is_instructor_cell(cell, instructor_ids: set[str] | None) -> bool:
    meta = _nbgrader(cell)
    locked = bool(meta.get("locked")) and not meta.get("solution", False)
    grade_id = meta.get("grade_id")
    if not locked or not grade_id:
        return False
    return instructor_ids is None or grade_id in instructor_ids


def locked_ids(source) -> set[str]:
    """Grade ids of the locked instructor cells of a source or released notebook.

    Pass them to :func:`scan_notebook` as ``instructor_ids``.
    """
    return {
        _nbgrader(cell)["grade_id"]
        for cell in source.get("cells") or []
        if isinstance(cell, dict) and _is_instructor_cell(cell, None)
    }


def student_cells(nb, instructor_ids: Iterable[str] | None = None):
    """Yield ``(cell_id, source)`` for every code cell a student could have written.

    A code cell is the instructor's when its nbgrader metadata marks it locked
    (and not a solution) with a ``grade_id``; nbgrader restores those cells
    from the source before grading. Pass ``instructor_ids`` (the grade ids of
    the locked cells of the source notebook) to also scan a student cell whose
    metadata was edited to look locked under an unknown id.
    """
    ids = set(instructor_ids) if instructor_ids is not None else None
    for index, cell in enumerate(nb.get("cells") or []):
        if (
            not isinstance(cell, dict)
            or cell.get("cell_type") != "code"
            or _is_instructor_cell(cell, ids)
        ):
            continue
        cell_id = cell.get("id") or _nbgrader(cell).get("grade_id") or f"#{index}"
        yield str(cell_id), _source(cell)


def _module_names(nb) -> set[str]:
    """Names bound to modules by any import in the notebook, plus the usual aliases."""
    names = set(_DEFAULT_MODULE_NAMES)
    for cell in nb.get("cells") or []:
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        try:
            tree = ast.parse(_strip_magics(_source(cell))[0])
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    names.add(alias.asname or alias.name.split(".")[0])
            elif isinstance(node, ast.ImportFrom):
                for alias in node.names:
                    names.add(alias.asname or alias.name)
    return names


def _instructor_names(nb, instructor_ids: set[str] | None) -> dict[str, str]:
    """Top-level names the locked instructor cells import -> the module imported."""
    names: dict[str, str] = {}
    for cell in nb.get("cells") or []:
        if (
            not isinstance(cell, dict)
            or cell.get("cell_type") != "code"
            or not _is_instructor_cell(cell, instructor_ids)
        ):
            continue
        try:
            tree = ast.parse(_source(cell))
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, ast.Import):
                for alias in node.names:
                    bound = alias.asname or alias.name.split(".")[0]
                    names[bound] = alias.name if alias.asname else bound
            elif isinstance(node, ast.ImportFrom):
                for alias in node.names:
                    names[alias.asname or alias.name] = f"{node.module}.{alias.name}"
            elif isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        names[target.id] = ""
    return names


# --------------------------------------------------------------------------
# Magics and shell escapes

_MAGIC_LINE = re.compile(
    r"^\s*(%%?[A-Za-z_]|!|[A-Za-z_][\w.]*\s*=\s*[%!]|\?|[A-Za-z_][\w.]*\?\??\s*$)"
)


def _strip_magics(source: str) -> tuple[str, list[int]]:
    """The source with IPython-only lines blanked, and their 1-based numbers."""
    lines = source.split("\n")
    found = []
    for number, line in enumerate(lines, start=1):
        if _MAGIC_LINE.match(line):
            found.append(number)
            lines[number - 1] = ""
    return "\n".join(lines), found


# --------------------------------------------------------------------------
# The AST visitor


def _root_name(node: ast.AST) -> str | None:
    """``np`` for ``np.linalg.norm``; None when the chain does not start at a name."""
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _dotted(node: ast.AST) -> str:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    return ".".join(reversed(parts))


class _Scanner(ast.NodeVisitor):
    def __init__(self, module_names: set[str], instructor_names: dict[str, str]):
        self.modules = set(module_names)
        self.instructor_names = instructor_names
        self.found: list[tuple[int, str, str]] = []
        self.depth = 0  # 0 at the top level of the cell
        self.os_names = {"os", "posix", "nt"}
        self.sys_names = {"sys"}

    def flag(self, node: ast.AST, rule: str, message: str) -> None:
        self.found.append((getattr(node, "lineno", 1), rule, message))

    # -- imports -----------------------------------------------------------
    def _check_module(self, node: ast.AST, module: str) -> None:
        top = module.split(".")[0]
        if _GRADER_NAME.search(module):
            self.flag(node, "grader-internals", f"imports {module}")
            return
        rule = _MODULE_RULES.get(top)
        if module in ("os.path",) or top in ("os", "posix", "nt", "sys"):
            return
        if rule:
            self.flag(node, rule, f"imports {module}")

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._check_module(node, alias.name)
            bound = alias.asname or alias.name.split(".")[0]
            self._rebinding(
                node,
                bound,
                f"import {alias.name}",
                alias.name if alias.asname else bound,
            )
            self.modules.add(bound)
            if alias.name in ("os", "posix", "nt"):
                self.os_names.add(bound)
            if alias.name == "sys":
                self.sys_names.add(bound)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = ("." * node.level) + (node.module or "")
        if node.level:
            self.flag(node, "dynamic-import", f"relative import from {module}")
        self._check_module(node, module)
        for alias in node.names:
            bound = alias.asname or alias.name
            if _GRADER_NAME.search(f"{module}.{alias.name}"):
                self.flag(node, "grader-internals", f"imports {module}.{alias.name}")
            self._rebinding(
                node,
                bound,
                f"from {module} import {alias.name}",
                f"{module}.{alias.name}",
            )
            self.modules.add(bound)
            if module in ("os", "posix", "nt", "os.path"):
                rule = _OS_ATTRS.get(alias.name) or next(
                    (r for p, r in _OS_PREFIX_RULES if alias.name.startswith(p)), None
                )
                if rule:
                    self.flag(node, rule, f"imports os.{alias.name}")
            if module == "sys" and alias.name in _SYS_ATTRS:
                self.flag(node, "sys-internals", f"imports sys.{alias.name}")
            if module == "os.path" and alias.name in _FILE_ATTRS | {"expanduser"}:
                self.flag(node, "file-outside", f"imports os.path.{alias.name}")
            if alias.name == "*":
                self.flag(node, "module-patch", f"star import from {module}")

    # -- names and bindings ------------------------------------------------
    def _rebinding(
        self, node: ast.AST, name: str, how: str, module: str | None = None
    ) -> None:
        if self.depth:
            return
        if name in self.instructor_names:
            if module and self.instructor_names[name] == module:
                return  # importing the same module again is harmless
            self.flag(
                node,
                "module-patch",
                f"{how} rebinds {name}, set up by the instructor's cell",
            )
        elif name in _TEST_BUILTINS:
            self.flag(node, "builtins", f"{how} rebinds the built-in {name}")

    def _bind_target(self, target: ast.AST, node: ast.AST) -> None:
        if isinstance(target, ast.Name):
            self._rebinding(node, target.id, "assignment")
        elif isinstance(target, (ast.Tuple, ast.List)):
            for element in target.elts:
                self._bind_target(element, node)
        elif isinstance(target, ast.Starred):
            self._bind_target(target.value, node)
        elif isinstance(target, (ast.Attribute, ast.Subscript)):
            root = _root_name(target)
            if isinstance(target, ast.Attribute) and target.attr in _DUNDERS:
                self.flag(node, "dunder-override", f"assigns {target.attr}")
            if root in self.modules:
                self.flag(
                    node,
                    "module-patch",
                    f"assigns to {_dotted(target) or root}, part of an imported module",
                )

    def visit_Assign(self, node: ast.Assign) -> None:
        for target in node.targets:
            self._bind_target(target, node)
            if (
                isinstance(target, ast.Name)
                and _root_name(node.value) in self.modules
                and isinstance(node.value, (ast.Name, ast.Attribute))
            ):
                self.modules.add(target.id)  # an alias of a module or its part
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self._bind_target(node.target, node)
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        self._bind_target(node.target, node)
        self.generic_visit(node)

    def visit_Delete(self, node: ast.Delete) -> None:
        for target in node.targets:
            self._bind_target(target, node)
        self.generic_visit(node)

    def visit_NamedExpr(self, node: ast.NamedExpr) -> None:
        self._bind_target(node.target, node)
        self.generic_visit(node)

    def visit_Global(self, node: ast.Global) -> None:
        for name in node.names:
            if name in self.instructor_names or name in _TEST_BUILTINS:
                self.flag(node, "module-patch", f"declares {name} global")

    def _scope(self, node: ast.AST) -> None:
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._rebinding(node, node.name, f"def {node.name}")
        for decorator in node.decorator_list:
            self.visit(decorator)
        self._scope(node)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self._scope(node)

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self._rebinding(node, node.name, f"class {node.name}")
        for statement in node.body:
            names = []
            if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef)):
                names = [statement.name]
            elif isinstance(statement, ast.Assign):
                names = [t.id for t in statement.targets if isinstance(t, ast.Name)]
            for name in names:
                if name in _DUNDERS:
                    self.flag(
                        statement,
                        "dunder-override",
                        f"class {node.name} defines {name}",
                    )
        for keyword in node.keywords:
            if keyword.arg == "metaclass":
                self.flag(
                    node, "dunder-override", f"class {node.name} sets a metaclass"
                )
        self._scope(node)

    def visit_Name(self, node: ast.Name) -> None:
        name = node.id
        if name in _IPYTHON_NAMES:
            self.flag(node, "ipython-internals", f"uses {name}")
        elif name in (
            "__builtins__",
            "__builtin__",
            "builtins",
        ) and name not in self.modules - {"builtins"}:
            self.flag(node, "builtins", f"uses {name}")
        elif name == "__import__":
            self.flag(node, "dynamic-import", "uses __import__")
        elif name in _EXEC_CALLS:
            self.flag(node, "exec-eval", f"uses {name}")
        elif name in _REFLECTION_CALLS:
            self.flag(node, "inspect", f"uses {name}")
        elif _GRADER_NAME.search(name):
            self.flag(node, "grader-internals", f"uses {name}")

    def visit_Attribute(self, node: ast.Attribute) -> None:
        attr = node.attr
        root = _root_name(node)
        base = node.value
        base_name = base.id if isinstance(base, ast.Name) else None
        if _GRADER_NAME.search(attr):
            self.flag(node, "grader-internals", f"uses .{attr}")
        if attr in _IPYTHON_ATTRS and root not in {"self"}:
            self.flag(node, "ipython-internals", f"uses .{attr}")
        if attr in _REFLECTION_ATTRS:
            self.flag(node, "inspect", f"uses .{attr}")
        if attr in _DUNDERS and not isinstance(node.ctx, ast.Store):
            self.flag(node, "dunder-override", f"uses .{attr}")
        if attr == "modules" or (base_name in self.sys_names and attr in _SYS_ATTRS):
            self.flag(node, "sys-internals", f"uses {_dotted(node) or attr}")
        if base_name in self.os_names or _dotted(base) in {"os.path"}:
            rule = _OS_ATTRS.get(attr) or next(
                (r for p, r in _OS_PREFIX_RULES if attr.startswith(p)), None
            )
            if rule:
                self.flag(node, rule, f"uses {_dotted(node)}")
        if attr in _FILE_ATTRS:
            self.flag(node, "file-outside", f"uses .{attr}")
        if attr in {"system", "popen"} and base_name not in self.os_names:
            self.flag(node, "subprocess", f"uses .{attr}")
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        name = (
            func.id
            if isinstance(func, ast.Name)
            else (func.attr if isinstance(func, ast.Attribute) else None)
        )
        if name in ("setattr", "delattr") and node.args:
            if _root_name(node.args[0]) in self.modules:
                self.flag(
                    node,
                    "module-patch",
                    f"{name} on the module {_dotted(node.args[0])}",
                )
        if name in _FILE_CALLS and isinstance(func, ast.Name | ast.Attribute):
            path = node.args[0] if node.args else None
            if path is not None and not (
                isinstance(path, ast.Constant) and isinstance(path.value, str)
            ):
                self.flag(
                    node, "file-outside", f"{name}() of a path computed at run time"
                )
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        value = node.value
        if not isinstance(value, str):
            return
        if value in _DUNDERS:
            self.flag(node, "dunder-override", f"names {value}")
        elif value in _REFLECTION_ATTRS or value in _SYS_ATTRS - {"path", "exit"}:
            self.flag(node, "inspect", f"names {value}")
        elif _GRADER_NAME.search(value):
            self.flag(node, "grader-internals", f"names {value!r}")
        elif (
            len(value) < 300
            and "\n" not in value
            and _OUTSIDE_PATH.search(value)
            and " " not in value.strip()
        ):
            self.flag(
                node, "file-outside", f"path {value!r} is outside the working folder"
            )


# --------------------------------------------------------------------------
# Text fallback for cells that do not parse

_TEXT_RULES = [
    (
        r"\bget_ipython\b|\bIPython\b|ast_transformers|input_transformer|\.events\b"
        r"|\b_ip\b",
        "ipython-internals",
    ),
    (r"\bimport\s+ast\b|\bfrom\s+ast\b|\bast\.", "ast-module"),
    (
        r"__(eq|ne|hash|bool|array_ufunc|array_function|instancecheck)__",
        "dunder-override",
    ),
    (
        r"\bsys\.(modules|meta_path|displayhook|settrace|_getframe)|\.modules\b",
        "sys-internals",
    ),
    (r"\bbuiltins\b|__builtins__", "builtins"),
    (r"['\"](/|~|\.\.[\\/])|\bchdir\b|\bpardir\b|\bexpanduser\b", "file-outside"),
    (r"\bsqlite3\b|gradebook", "sqlite3"),
    (r"\bsubprocess\b|\bos\.(system|popen|exec|spawn)|\bpty\b", "subprocess"),
    (
        r"\bos\.(fork|kill|killpg|setsid|_exit)\b|\bsignal\b|\bthreading\b"
        r"|\bmultiprocessing\b|\batexit\b",
        "process-control",
    ),
    (r"\bctypes\b|\bcffi\b", "ctypes"),
    (r"\bgc\b", "gc"),
    (
        r"\binspect\b|__globals__|__code__|\bf_globals\b|\bglobals\s*\(|\bvars\s*\(",
        "inspect",
    ),
    (r"\bimportlib\b|__import__|\brunpy\b", "dynamic-import"),
    (r"\b(exec|eval|compile)\s*\(", "exec-eval"),
    (r"_seglab|grading_guard|seglab\.grading\b|nbgrader", "grader-internals"),
    (r"\bsocket\b|\burllib\b|\brequests\b", "network"),
]
_TEXT_PATTERNS = [(re.compile(p), rule) for p, rule in _TEXT_RULES]


def _scan_text(source: str) -> Iterator[tuple[int, str, str]]:
    for number, line in enumerate(source.split("\n"), start=1):
        for pattern, rule in _TEXT_PATTERNS:
            match = pattern.search(line)
            if match:
                yield number, rule, f"mentions {match.group(0)!r} (cell does not parse)"


def scan_source(
    source: str,
    cell_id: str = "cell",
    module_names: Iterable[str] = (),
    instructor_names: dict[str, str] | None = None,
) -> list[Finding]:
    """Findings for one cell's source.

    ``module_names``: names bound to modules anywhere in the notebook;
    ``instructor_names``: top-level names the locked cells bind, each to the
    module it imports ("" when it is not an import).
    """
    stripped, magic_lines = _strip_magics(source)
    found: list[tuple[int, str, str]] = [
        (n, "magic", f"IPython-only line {source.split(chr(10))[n - 1].strip()[:60]!r}")
        for n in magic_lines
    ]
    try:
        tree = ast.parse(stripped)
    except (SyntaxError, ValueError):
        found.extend(_scan_text(source))
    else:
        scanner = _Scanner(
            set(module_names) | _DEFAULT_MODULE_NAMES, dict(instructor_names or {})
        )
        scanner.visit(tree)
        found.extend(scanner.found)
    unique = sorted(set(found))
    return [Finding(cell_id, line, rule, message) for line, rule, message in unique]


def scan_notebook(
    nb: nbformat.NotebookNode, instructor_ids: Iterable[str] | None = None
) -> list[Finding]:
    """Findings in every student-written code cell of a notebook, in cell order.

    ``instructor_ids``: the grade ids of the source notebook's locked cells;
    when given, a cell counts as the instructor's only under one of these ids.
    """
    ids = set(instructor_ids) if instructor_ids is not None else None
    modules = _module_names(nb)
    instructor_names = _instructor_names(nb, ids)
    findings: list[Finding] = []
    for cell_id, source in student_cells(nb, ids):
        findings.extend(scan_source(source, cell_id, modules, instructor_names))
    return findings
