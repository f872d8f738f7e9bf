"""The import layers of `datasets`, read from the source (module level and inside function
bodies alike: a function-local import hides a circle from Python, not from this test).

Services and everything below them enqueue tasks by name through portal.celery.enqueue,
so only the layers above them (views, API, management commands) may import
datasets.tasks, and tasks.py is the only module that imports the services to run them."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "datasets"
TASKS = "datasets.tasks"
# Above the services: these may call a task directly (none does today).
ABOVE_TASKS = ("datasets.views", "datasets.api", "datasets.management", "datasets.admin")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {
        _module_name(path): path
        for path in sorted(PACKAGE.rglob("*.py"))
        if "migrations" not in path.parts
    }


MODULES = _modules()


def _imports(name: str, path: Path, source: str | None = None) -> list[tuple[str, int]]:
    """(imported datasets module, line) for every import statement anywhere in the file.
    `from package import module` counts as importing the module."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    source = path.read_text() if source is None else source
    for node in ast.walk(ast.parse(source, filename=str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            targets = [
                f"{origin}.{alias.name}" if f"{origin}.{alias.name}" in MODULES else origin
                for alias in node.names
            ]
        else:
            continue
        for target in targets:
            while target and target not in MODULES:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.append((target, node.lineno))
    return found


def import_graph() -> dict[str, set[str]]:
    return {
        name: {target for target, _line in _imports(name, path)} for name, path in MODULES.items()
    }


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in graph.get(node, ()):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_an_import_inside_a_function_body_is_found():
    # The checks below must be able to fail: the import that used to hide the circle.
    source = "def send():\n    from datasets.tasks import job_publish\n\n    from . import jobs\n"
    path = PACKAGE / "services" / "example.py"
    assert _imports("datasets.services.example", path, source) == [
        ("datasets.tasks", 2),
        ("datasets.services.jobs", 4),
    ]


def test_the_cycle_finder_reports_a_circle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]


def test_no_module_below_the_views_imports_the_tasks_module():
    offenders = [
        f"{name} line {line}"
        for name, path in MODULES.items()
        if name != TASKS and not name.startswith(ABOVE_TASKS)
        for target, line in _imports(name, path)
        if target == TASKS
    ]
    assert offenders == [], (
        "enqueue the task by name (portal.celery.enqueue('datasets.tasks.…')) instead: "
        + ", ".join(offenders)
    )


def test_the_services_are_among_the_modules_checked():
    # Guards the walk above: renaming the package must not turn the check into a no-op.
    assert "datasets.services.jobs" in MODULES
    assert "datasets.services.jobs" in import_graph()[TASKS]


def test_the_datasets_modules_import_each_other_without_a_circle():
    assert cycles(import_graph()) == []


def _task_names_in(path: Path) -> list[tuple[str, int]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    in_fstrings = {
        id(value)
        for node in ast.walk(tree)
        if isinstance(node, ast.JoinedStr)
        for value in node.values
    }
    return [
        (node.value, node.lineno)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and node.value.startswith(f"{TASKS}.")
        and "*" not in node.value  # a route pattern, not a name
        and id(node) not in in_fstrings
    ]


@pytest.mark.parametrize(
    "path",
    [path for name, path in MODULES.items() if name != TASKS]
    + sorted((ROOT / "portal").rglob("*.py")),
    ids=lambda path: str(path.relative_to(ROOT)),
)
def test_every_task_name_sent_or_scheduled_is_a_registered_task(path):
    import datasets.tasks  # noqa: F401  registers the tasks with the app
    from portal.celery import app

    unknown = [f"{name} (line {line})" for name, line in _task_names_in(path)
               if name not in app.tasks]  # fmt: skip
    assert unknown == [], "no task has this name: " + ", ".join(unknown)
