"""The tree's own rules: one registry names the attention types, the library
never imports the app, the app's modules import each other one way, and
keras-tuner still provides what the app's oracles rely on."""

import ast
import pathlib

import keras_tuner as kt
import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
REGISTRY = ROOT / "keras_se" / "layers" / "attention_types.py"
SOURCES = sorted([*(ROOT / "keras_se").rglob("*.py"), *(ROOT / "apps").rglob("*.py")])
TYPE_NAMES = ("ese", "eca", "cbam", "ge", "se")


def _docstrings(tree):
    """The string constants that are docstrings."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def attention_literals(source):
    """`(line, text)` of each string literal, docstrings aside, that is an
    attention type's name."""
    tree = ast.parse(source)
    docstrings = _docstrings(tree)
    return [(node.lineno, node.value) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
            and node.value in TYPE_NAMES and id(node) not in docstrings]


# timm's own attribute name, not an attention type (`block.se`), defined once.
TIMM_ATTRIBUTES = {(ROOT / "keras_se" / "convert" / "timm_weights.py", "se")}


def test_no_module_but_the_registry_names_an_attention_type():
    found = []
    for path in SOURCES:
        if path == REGISTRY:
            continue
        for line, text in attention_literals(path.read_text()):
            if (path, text) not in TIMM_ATTRIBUTES:
                found.append(f"{path.relative_to(ROOT)}:{line}: {text!r}")
    assert found == []


def test_the_literal_check_sees_a_type_name_outside_docstrings():
    source = '"""Docstring naming "eca"."""\nx = "cbam"\ndef f(a="ese"):\n    """eca"""\n'
    assert [text for _, text in attention_literals(source)] == ["cbam", "ese"]


def _imports(path):
    """The modules `path` imports (top-level and inside functions)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_the_library_never_imports_the_app():
    offenders = [str(path.relative_to(ROOT)) for path in (ROOT / "keras_se").rglob("*.py")
                 if any(name.split(".")[0] == "se_tune" for name in _imports(path))]
    assert offenders == []


def app_import_graph():
    """se_tune module -> the se_tune modules it imports."""
    modules = {path.stem: path for path in (ROOT / "apps" / "se_tune").glob("*.py")}
    graph = {}
    for name, path in modules.items():
        graph[name] = {part for imported in _imports(path) if imported.startswith("se_tune.")
                       for part in imported.split(".")[1:2] if part in modules and part != name}
    return graph


def cycles(graph):
    """Every module that lies on an import cycle of `graph`."""
    on_cycle = set()
    for start in graph:
        stack, seen = list(graph[start]), set()
        while stack:
            node = stack.pop()
            if node == start:
                on_cycle.add(start)
                break
            if node not in seen:
                seen.add(node)
                stack.extend(graph.get(node, ()))
    return on_cycle


def test_the_app_modules_import_each_other_one_way():
    graph = app_import_graph()
    assert {"cli", "runner", "search", "tuner", "search_space", "trial_results"} <= set(graph)
    assert cycles(graph) == set()
    # The cycle check itself sees a cycle.
    assert cycles({**graph, "files": graph["files"] | {"cli"}}) >= {"cli", "files"}


def test_no_app_module_exceeds_350_lines():
    lengths = {path.name: len(path.read_text().splitlines())
               for path in (ROOT / "apps" / "se_tune").glob("*.py")}
    assert {name: n for name, n in lengths.items() if n > 350} == {}


def _oracle():
    from se_tune.oracles import RandomOracle

    return RandomOracle(state_path="unused.json", objective=kt.Objective("val_accuracy", "max"),
                        max_trials=2, hyperparameters=kt.HyperParameters())


def test_keras_tuner_still_provides_the_state_the_app_relies_on():
    from se_tune.oracles import contract_breaches

    oracle = _oracle()
    assert contract_breaches(oracle.get_state(), oracle) == []


@pytest.mark.parametrize("key", ["retry_queue", "ongoing_trials", "display"])
def test_the_keras_tuner_contract_fails_without_a_key(key):
    from se_tune.oracles import contract_breaches

    oracle = _oracle()
    state = oracle.get_state()
    del state[key]
    assert contract_breaches(state, oracle)[0] == f"state has no {key!r}"
