"""The package's shape: no import cycle between its modules, function-level imports included.

A cycle that works only because one import sits inside a function still ties the two
modules together; each concern lives in one module and the imports flow one way.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

PACKAGE = ROOT / "musegen"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, modules: set[str]) -> set[str]:
    """musegen modules that ``path`` imports anywhere in it (``from a.b import c`` is ``a.b.c``
    when that is a module, else ``a.b``)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{alias.name}" for alias in node.names] + [node.module]
        else:
            continue
        for name in names:
            if name in modules:
                found.add(name)
    return found


def import_graph() -> dict[str, set[str]]:
    files = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    modules = set(files)
    return {name: _imports(path, modules) - {name} for name, path in files.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_no_module_imports_another_in_a_loop() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, " -> ".join(cycle or [])


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


MODEL_LAYER = {"musegen.fields", "musegen.errors", "musegen.checks", "musegen.atomic"}
"""What ``musegen.models`` may import beyond itself and ``musegen.data``'s small rule modules:
a model is built, trained and sampled without the data pipeline, the entry points or
Hydra, so a checkpoint loads in any program (``torch.load`` plus these modules)."""

DATA_RULES = {"musegen.data.note_timing", "musegen.data.tracks"}


def _third_party(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_the_models_depend_only_on_their_own_layer() -> None:
    graph = import_graph()
    allowed = MODEL_LAYER | DATA_RULES
    outside = {
        name: sorted(n for n in deps if not n.startswith("musegen.models") and n not in allowed)
        for name, deps in graph.items()
        if name.startswith("musegen.models")
    }
    assert {k: v for k, v in outside.items() if v} == {}
    hydra_users = [p.name for p in (PACKAGE / "models").rglob("*.py") if "hydra" in _third_party(p)]
    assert hydra_users == []


def test_generation_loads_no_lightning() -> None:
    """``generate``, ``demo`` and ``pretrained`` read checkpoints and draw notes, which
    Lightning has no part in: a fresh interpreter importing them loads none of it (its
    import would delay every answer to a bad command). Training and evaluation,
    which run a ``Trainer``, do."""
    code = (
        "import sys\n"
        "import musegen.generate, musegen.demo.__main__, musegen.pretrained.__main__\n"
        "names = ('lightning', 'pytorch_lightning')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in names))\n"
        "import musegen.models.checkpoint_io\n"
        "print('lightning' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.splitlines() == ["[]", "True"]


def test_a_bad_training_setting_is_answered_before_lightning_or_torch_is_imported(
    tmp_path: Path,
) -> None:
    """``python -m musegen.train`` checks its overrides and settings (``check_config``)
    before it imports ``musegen.training``, which brings Lightning and torch (seconds): a
    misspelt value is one line and exit code 2 with neither imported (``-X importtime``
    lists every module a process imports); ``musegen.training``, what a sound command runs,
    imports both. Hydra's run folder goes under ``tmp_path``."""

    def run(*args: str) -> tuple[int, set[str], list[str]]:
        done = subprocess.run(
            [sys.executable, "-X", "importtime", *args], capture_output=True, text=True
        )
        lines = done.stderr.splitlines()
        imported = {
            line.rsplit("|", 1)[1].strip().split(".")[0]
            for line in lines
            if line.startswith("import time:") and "|" in line
        }
        return done.returncode, imported, [x for x in lines if not x.startswith("import time:")]

    code, imported, said = run(
        "-m", "musegen.train", "trainer.max_epochs=abc", f"paths.log_dir={tmp_path}"
    )
    assert code == 2
    assert said == ["error: trainer.max_epochs must be an integer >= -1 (-1: no limit), got 'abc'"]
    assert {"hydra", "musegen"} <= imported and not {"lightning", "torch"} & imported
    code, imported, _ = run("-c", "import musegen.training")
    assert code == 0 and {"lightning", "torch"} <= imported
