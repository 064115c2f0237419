"""The package's shape: its layers import only downward, no module imports in a loop, and
only a few modules sit at its root. Read from the source (ast), so nothing is imported."""

import ast
import pathlib

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "dann_jax"
# Each part of the package (a subpackage, a root module) -> the parts it may import.
# cli -> runs -> (configs, evaluation) -> core -> (data, backbones, grl): downward only.
MAY_IMPORT = {
    "grl": set(),
    "testing": set(),
    "data": {"data"},
    "backbones": {"backbones"},
    "core": {"core", "data", "backbones", "grl"},
    "evaluation": {"evaluation", "core", "data"},
    "configs": {"configs", "core", "backbones"},
    "runs": {"runs", "configs", "evaluation", "core", "data", "backbones", "__init__"},
    "cli": {"cli", "runs", "configs", "evaluation", "core", "data", "__init__"},
    # The top level loads the runs only when load_trained is asked for (see below).
    "__init__": {"core", "data", "grl", "runs"},
}
ROOT_MODULES = {"__init__", "grl", "testing"}


def module_name(path):
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path, *, top_level_only=False):
    """The dann_jax modules ``path`` imports (``from dann_jax import x``: the module x)."""
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else ast.walk(tree)
    found = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("dann_jax")}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("dann_jax"):
            for alias in node.names:  # a submodule, or a name of the module itself
                submodule = f"{node.module}.{alias.name}"
                found.add(submodule if is_module(submodule) else node.module)
    return found


def is_module(name):
    path = PACKAGE.parent.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def part(name):
    """The layer a module belongs to: its subpackage, or itself at the root."""
    pieces = name.split(".")
    return "__init__" if len(pieces) == 1 else pieces[1]


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


@pytest.mark.parametrize("name", sorted(MODULES))
def test_a_module_imports_only_its_own_layer_and_those_below(name):
    allowed = MAY_IMPORT[part(name)] | {part(name)}
    upward = sorted(
        imported for imported in imported_modules(MODULES[name]) if part(imported) not in allowed
    )
    assert not upward, f"{name} imports {upward}, above its layer ({part(name)})"


def test_no_module_imports_in_a_loop():
    """Module-level imports form no cycle (an import inside a function may go anywhere
    its layer allows: it runs after every module has loaded)."""
    graph = {
        name: {imported for imported in imported_modules(path, top_level_only=True)}
        for name, path in MODULES.items()
    }
    state = {}

    def visit(name, trail):
        if state.get(name) == "done":
            return
        assert state.get(name) != "open", "import loop: " + " -> ".join([*trail, name])
        state[name] = "open"
        for imported in sorted(graph.get(name, ())):
            if imported != name and not name.startswith(imported + "."):  # a package's own
                visit(imported, [*trail, name])
        state[name] = "done"

    for name in sorted(graph):
        visit(name, [])


def test_importing_the_top_level_loads_only_the_core_data_and_grl():
    loaded = {part(name) for name in imported_modules(MODULES["dann_jax"], top_level_only=True)}
    assert loaded <= {"core", "data", "grl"}


def test_only_the_public_api_and_two_small_modules_sit_at_the_root():
    at_root = {path.stem for path in PACKAGE.glob("*.py")}
    assert at_root == ROOT_MODULES
    subpackages = {path.parent.name for path in PACKAGE.glob("*/__init__.py")}
    assert subpackages == set(MAY_IMPORT) - ROOT_MODULES
    assert set(MAY_IMPORT) == ROOT_MODULES | subpackages
