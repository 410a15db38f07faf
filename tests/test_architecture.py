"""The module map in ARCHITECTURE.md holds: each project module imports exactly what its row's "imports of ours" column
says, only modules listed above it (so there is no cycle), and every module of the project has a row.

The project's modules are the table's rows (plus every root .py that git tracks or that one of them imports): a file a
user drops into the checkout, such as the README's `my_rewards.py`, is not one of them.
"""
import ast
import re
import subprocess

import pytest

from conftest import REPO

ARCHITECTURE = REPO / "ARCHITECTURE.md"


def module_table() -> dict[str, str]:
    """{module: its "imports of ours" cell}, in the table's order (foundations first)."""
    lines = ARCHITECTURE.read_text().splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("|") and "imports of ours" in line)
    columns = [c.strip() for c in lines[header].strip("|").split("|")]
    column = columns.index("imports of ours")
    table = {}
    for line in lines[header + 2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        name = re.fullmatch(r"`(\w+)\.py`", cells[0])
        assert name, f"ARCHITECTURE.md: first cell should be a `module.py`, got {cells[0]!r}"
        table[name.group(1)] = cells[column]
    assert table, "ARCHITECTURE.md has no module table"
    return table


TABLE = module_table()
MODULES = list(TABLE)


def our_imports(module: str, ours: set[str]) -> set[str]:
    """Every module of ours that `module` imports, at the top or inside a function."""
    tree = ast.parse((REPO / f"{module}.py").read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return (found & ours) - {module}


def root_modules() -> set[str]:
    return {p.stem for p in REPO.glob("*.py")}


def documented_imports(module: str) -> tuple[set[str], bool]:
    """(modules the row names, exact?) from its cell. Forms: "–" (none), "a, b" (exactly these), "all of the above but
    x directly" (every row above but x), "everything" (at most every row above). Parentheses are commentary."""
    above = MODULES[:MODULES.index(module)]
    cell = re.sub(r"\([^)]*\)", "", TABLE[module]).strip()
    named = set(re.findall(r"\w+", cell.split(";")[0])) & set(MODULES)
    if cell in ("–", "-", "—", ""):
        return set(), True
    if cell.startswith("all of the above"):
        return set(above) - named, True
    if cell.startswith("everything"):
        return set(above), False
    words = {w.strip() for w in cell.split(";")[0].split(",")}
    unknown = words - set(MODULES)
    assert not unknown, f"ARCHITECTURE.md row {module}.py names {sorted(unknown)}, which are not modules in the table"
    return named, True


@pytest.mark.parametrize("module", MODULES)
def test_each_module_imports_what_its_row_says(module):
    assert (REPO / f"{module}.py").is_file(), f"ARCHITECTURE.md lists {module}.py, which does not exist"
    actual = our_imports(module, root_modules())
    undocumented = actual - set(MODULES)
    assert not undocumented, f"{module}.py imports {sorted(undocumented)}, which ARCHITECTURE.md does not list"
    documented, exact = documented_imports(module)
    above = set(MODULES[:MODULES.index(module)])
    assert actual <= above, f"{module}.py imports {sorted(actual - above)}, listed below it: layers import downwards"
    if exact:
        assert actual == documented, (f"{module}.py imports {sorted(actual)}; ARCHITECTURE.md says "
                                      f"{sorted(documented)}: update the code or the table")
    else:
        assert actual <= documented


def test_every_tracked_module_has_a_row():
    """A new module of the project gets its row; a user's untracked file in the checkout is not the project's."""
    try:
        tracked = subprocess.run(["git", "ls-files", "*.py"], cwd=REPO, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: the table's rows are the modules")
    root = {name[:-3] for name in tracked.stdout.split() if "/" not in name}
    assert root, "git lists no module at the root"
    assert not root - set(MODULES), f"{sorted(root - set(MODULES))} missing from ARCHITECTURE.md's table"


def test_entry_points_are_imported_by_nothing():
    importers = {m: our_imports(m, set(MODULES)) for m in MODULES}
    assert not [m for m in MODULES if "main" in importers[m]], "nothing imports main.py"
    assert "train" not in importers["eval"], "evaluation never imports training"
