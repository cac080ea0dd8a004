"""The shape of the house, read from the code itself (``ast``): the course at the top, the
recommender in ``mixrec/``, dependencies one way.

- The top level holds the design card's modules and at most seven companions of the course.
- The course imports nothing of the package, nor dask, pandas or matplotlib, at any depth
  (imports inside functions count).
- No import circle anywhere among the project's modules, function-level imports included.
- No private name (``_name``) is used across modules.
- ``em.py`` holds the course's algorithm only, in at most about 450 lines; no module passes
  700 lines.
"""
import ast
import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DESIGN_CARD = {"em", "common", "main"}
COMPANIONS = {"reference", "products", "course", "synthetic"}  # at most seven
OPTIONAL = ("dask", "distributed", "pandas", "matplotlib")


def project_modules():
    """{module name: path} of the course's modules, the package's and the benchmarks'."""
    found = {}
    for name in os.listdir(ROOT):
        if name.endswith(".py") and not name.startswith("test_") and name != "conftest.py":
            found[name[:-3]] = os.path.join(ROOT, name)
    for package in ("mixrec", "benchmarks"):
        for name in os.listdir(os.path.join(ROOT, package)):
            if name.endswith(".py"):
                module = package if name == "__init__.py" else f"{package}.{name[:-3]}"
                found[module] = os.path.join(ROOT, package, name)
    return found


MODULES = project_modules()


def imports_of(path, module):
    """Every module name this file imports, at any depth, with the names taken from each:
    ``{imported module: set of names taken ('' for the module itself)}``."""
    tree = ast.parse(open(path, encoding="utf-8").read())
    package = module.rpartition(".")[0] if not path.endswith("__init__.py") else module
    out = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                out.setdefault(alias.name, set()).add("")
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[:len(package.split(".")) - node.level + 1]
                                + ([base] if base else []))
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                if submodule in MODULES:  # from mixrec import stages: the module stages
                    out.setdefault(submodule, set()).add("")
                else:
                    out.setdefault(base, set()).add(alias.name)
    return out


def project_edges():
    """{module: set of project modules it imports} (a package's __init__ counts as its own
    module only when a name defined there is imported)."""
    edges = {}
    for module, path in MODULES.items():
        targets = set()
        for imported, names in imports_of(path, module).items():
            if imported in MODULES and imported != module:
                targets.add(imported)
        edges[module] = targets
    return edges


def test_the_top_level_holds_the_course_and_its_companions_only():
    top = {m for m in MODULES if "." not in m and m not in ("mixrec", "benchmarks")}
    assert top == DESIGN_CARD | COMPANIONS
    assert len(COMPANIONS) <= 7
    assert os.path.isfile(os.path.join(ROOT, "test_em.py"))
    assert os.path.isdir(os.path.join(ROOT, "data"))
    for name in ("README.md", "requirements.txt", "pyproject.toml"):
        assert os.path.isfile(os.path.join(ROOT, name)), name


def test_the_course_imports_nothing_of_the_package_nor_optional_extras():
    for module in DESIGN_CARD | COMPANIONS:
        for imported in imports_of(MODULES[module], module):
            root = imported.split(".")[0]
            assert root not in ("mixrec", "benchmarks") + OPTIONAL, (module, imported)


def test_the_package_face_imports_no_dask_and_lists_its_names():
    face = imports_of(MODULES["mixrec"], "mixrec")
    assert not any(name.split(".")[0] in OPTIONAL for name in face)
    tree = ast.parse(open(MODULES["mixrec"], encoding="utf-8").read())
    exported = next(node.value for node in tree.body if isinstance(node, ast.Assign)
                    and getattr(node.targets[0], "id", "") == "__all__")
    assert len(ast.literal_eval(exported)) >= 10
    # dask only in the distributed module; pandas and matplotlib only where they are used
    for module, path in MODULES.items():
        for imported in imports_of(path, module):
            if imported.split(".")[0] == "dask":
                assert module in ("mixrec.distributed", "mixrec.commands",
                                  "benchmarks.distributed"), module


def test_no_import_circle_anywhere_function_level_imports_included():
    edges = project_edges()
    state = {}  # 1 on the path, 2 done

    def visit(module, path):
        state[module] = 1
        for target in sorted(edges[module]):
            if state.get(target) == 1:
                circle = path[path.index(target):] + [target]
                pytest.fail("import circle: " + " -> ".join(circle))
            if target not in state:
                visit(target, path + [target])
        state[module] = 2
    for module in sorted(edges):
        if module not in state:
            visit(module, [module])


def test_no_private_name_is_used_across_modules():
    for module, path in MODULES.items():
        tree = ast.parse(open(path, encoding="utf-8").read())
        aliases = {}  # local name -> project module it stands for
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                for imported, names in imports_of(path, module).items():
                    if imported in MODULES:
                        private = [n for n in names if n.startswith("_") and n != ""
                                   and not n.startswith("__")]
                        assert not private, (module, imported, private)
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name in MODULES:
                        aliases[alias.asname or alias.name.split(".")[-1]] = alias.name
            if isinstance(node, ast.ImportFrom):
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    if full in MODULES:
                        aliases[alias.asname or alias.name] = full
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and \
                    node.value.id in aliases and node.attr.startswith("_") and \
                    not node.attr.startswith("__"):
                pytest.fail(f"{module} uses {aliases[node.value.id]}.{node.attr}")


def test_em_is_the_courses_algorithm_in_at_most_about_450_lines():
    text = open(MODULES["em"], encoding="utf-8").read()
    lines = text.split("\n")
    assert len(lines) <= 460
    for word in ("client", "pattern", "float32", "run_many", "n_groups", "dask", "cluster"):
        assert word not in text, word
    head = "\n".join(lines[:200])
    for formula in ("log(p_j + 1e-16)", "post[u, j]", "mu_jl", "var_j", "p_j"):
        assert formula in head, formula
    for name in ("def estep", "def mstep", "def run", "def fill_matrix"):
        assert name in text


def test_no_module_passes_700_lines():
    for module, path in MODULES.items():
        with open(path, encoding="utf-8") as f:
            assert sum(1 for _ in f) <= 700, module


def test_every_module_imports_without_unix_only_modules():
    # what Windows lacks: resource, fcntl, termios; a module needing one at import time fails
    names = sorted(m for m in MODULES if not m.startswith("benchmarks.")
                   and m != "mixrec.distributed")
    code = ("import sys\nfor m in ('resource', 'fcntl', 'termios'): sys.modules[m] = None\n"
            + "".join(f"import {m}\n" for m in names) + "print('ok')")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=ROOT)
    assert result.stdout.strip() == "ok", result.stderr


def test_the_course_runs_without_importing_the_package():
    code = ("import sys, main, em, course, common, reference, products, synthetic\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('mixrec', 'dask', 'pandas', 'matplotlib')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=ROOT)
    assert result.stdout.strip() == "[]", result.stderr


def test_main_py_and_the_package_know_the_same_commands():
    import main
    from mixrec import cli
    assert main.COMMANDS == cli.COMMANDS


def test_main_py_hands_a_command_over_from_any_folder(tmp_path):
    result = subprocess.run([sys.executable, os.path.join(ROOT, "main.py"), "fit", "--help"],
                            capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert result.returncode == 0 and result.stdout.startswith("usage: main.py fit")
    result = subprocess.run([sys.executable, os.path.join(ROOT, "main.py"), "predict", "x.npz",
                             str(tmp_path / "none.csv")],
                            capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert result.returncode == 2 and result.stderr.startswith("main.py: ")
    assert len(result.stderr.strip().splitlines()) == 1


def test_the_package_runs_as_a_module_and_benchmarks_by_path_or_module(tmp_path):
    result = subprocess.run([sys.executable, "-m", "mixrec", "--help"], capture_output=True,
                            text=True, cwd=ROOT, timeout=60)
    assert result.returncode == 0 and "split" in result.stdout and "sweep" in result.stdout
    for command in ([os.path.join(ROOT, "benchmarks", "recommender.py"), "--help"],
                    ["-m", "benchmarks.speed", "--help"]):
        result = subprocess.run([sys.executable, *command], capture_output=True, text=True,
                                cwd=ROOT if command[0] == "-m" else tmp_path, timeout=60)
        assert result.returncode == 0 and "usage:" in result.stdout, result.stderr


def test_pip_installs_the_course_and_the_package_importable_from_any_folder(tmp_path):
    pytest.importorskip("setuptools", reason="building the wheel needs setuptools")
    source, target = tmp_path / "source", tmp_path / "site"
    # a copy of what pip reads, so that its build leaves nothing in the checkout
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        "data", "tests", ".git", "__pycache__", "build", "*.egg-info", ".hypothesis"))
    result = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                             "--no-build-isolation", "--disable-pip-version-check",
                             "--target", str(target), str(source)],
                            capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    installed = sorted(os.listdir(target))
    for module in sorted(DESIGN_CARD | COMPANIONS):
        assert f"{module}.py" in installed, installed
    assert "mixrec" in installed and "benchmarks" not in installed
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {**os.environ, "PYTHONPATH": str(target)}
    code = "import mixrec, em; print(mixrec.__file__.startswith(%r), em.estep.__name__)" % (
        str(target))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=elsewhere, env=env, timeout=60)
    assert result.stdout.split() == ["True", "estep"], result.stderr
    script = target / "bin" / "mixrec"
    assert script.is_file()
    result = subprocess.run([sys.executable, str(script), "--help"], capture_output=True,
                            text=True, cwd=elsewhere, env=env, timeout=60)
    assert result.returncode == 0 and result.stdout.startswith("usage: mixrec"), result.stderr
