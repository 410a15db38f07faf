"""The module map in ARCHITECTURE.md holds: no import cycles, and each module imports only the layers below it."""
import ast

from conftest import REPO

MODULES = sorted(p.stem for p in REPO.glob("*.py"))


def our_imports(module: str) -> set[str]:
    """Every module of ours that `module` imports, at the top or inside a function."""
    tree = ast.parse((REPO / f"{module}.py").read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return (found & set(MODULES)) - {module}


def test_no_import_cycles():
    graph = {m: our_imports(m) for m in MODULES}
    state = {}

    def visit(node, path):
        state[node] = "open"
        for nxt in sorted(graph[node]):
            assert state.get(nxt) != "open", f"import cycle: {' -> '.join(path + [nxt])}"
            if nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = "done"

    for module in MODULES:
        if module not in state:
            visit(module, [module])


def test_layers_import_only_downwards():
    """Foundations import nothing of ours but errors; eval never imports training; the entry point is imported by
    nothing."""
    for foundation in ("errors", "runs"):
        assert our_imports(foundation) <= {"errors"}, foundation
    assert our_imports("reward") <= {"errors", "math_worker"} and not our_imports("math_worker")
    assert "train" not in our_imports("eval") and "main" not in our_imports("eval")
    assert not [m for m in MODULES if "main" in our_imports(m)], "nothing imports main.py"
    documented = (REPO / "ARCHITECTURE.md").read_text()
    for module in MODULES:
        assert f"`{module}.py`" in documented, f"{module}.py is missing from ARCHITECTURE.md"
