"""The repository keeps its own rules: READMEs, docstrings, registrations and doc links.

* every directory of ``configs/`` holding ``.py`` configs (``_base_`` excepted) has a README.md;
* every class mmdistillmot registers into mmdet's (or mmengine's) registries has its own
  docstring with a summary and every constructor argument named;
* every module that registers a class is imported by ``import mmdistillmot`` (what configs'
  ``custom_imports`` does), so no config depends on an import elsewhere;
* every public function or method of the package that takes tensors gives their shapes;
* every Markdown link to a local file in the top-level and ``docs/`` pages resolves, and every
  ``configs/...py`` and ``tools/...py`` path those pages name exists.
"""

from __future__ import annotations

import importlib
import inspect
import json
import pkgutil
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import mmdistillmot

REPO_ROOT = Path(__file__).resolve().parents[2]
CONFIGS_ROOT = REPO_ROOT / "configs"
#: Pages whose links and paths are checked (configs' READMEs are checked for links too).
DOC_PAGES = sorted(
    [
        REPO_ROOT / n
        for n in ("README.md", "CONTRIBUTING.md", "CHANGELOG.md")
        if (REPO_ROOT / n).is_file()
    ]
    + list((REPO_ROOT / "docs").glob("**/*.md"))
)
#: The pages a user looks for (issue 8): they must exist.
REQUIRED_PAGES = (
    "README.md",
    "CHANGELOG.md",
    "CONTRIBUTING.md",
    "docs/README.md",
    "docs/getting_started.md",
    "docs/datasets.md",
    "docs/distillation.md",
    "docs/model_zoo.md",
    "docs/troubleshooting.md",
)
MODEL_ZOO = REPO_ROOT / "docs" / "model_zoo.md"
LINKED_PAGES = DOC_PAGES + sorted(CONFIGS_ROOT.glob("**/README.md"))

#: Minimum number of words of a registered class's docstring: a summary plus some substance.
MIN_CLASS_DOC_WORDS = 8
#: A shape in a docstring: ``[B, C, H, W]``, ``[N, 4]``, ``(H, W, 3)``, a 1-D ``[N]`` or the words
#: shape/scalar.
SHAPE_PATTERN = re.compile(
    r"[\[(][^\])\n]*\b(?:[A-Z][A-Za-z_]*|\d+)\b[^\])\n]*,[^\])\n]*[\])]|(?-i:\[[A-Z][A-Za-z_]*\])"
    r"|\bshapes?\b|\bscalar\b",
    re.IGNORECASE,
)
#: ``[text](target)`` and ``![alt](target)`` (targets without spaces, optional "title").
LINK_PATTERN = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
FENCE_PATTERN = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.MULTILINE | re.DOTALL)
#: Repository paths named in the pages (not preceded by another path component).
REPO_PATH_PATTERN = re.compile(r"(?<![\w./-])((?:configs|tools)/[\w./-]+?\.(?:py|sh))\b")


# ---------------------------------------------------------------------------- helpers
def _import_all_modules() -> list[Any]:
    """Import every module of the package (registrations made anywhere become visible)."""
    modules = [mmdistillmot]
    for info in pkgutil.walk_packages(mmdistillmot.__path__, "mmdistillmot."):
        modules.append(importlib.import_module(info.name))
    return modules


def _registered_classes() -> dict[str, type]:
    """``'REGISTRY.Name'`` -> class, for every class a module of mmdistillmot registered."""
    import mmdet.registry
    import mmengine.registry
    from mmengine.registry import Registry

    _import_all_modules()
    found: dict[str, type] = {}
    for module in (mmdet.registry, mmengine.registry):
        for attr in dir(module):
            registry = getattr(module, attr)
            if not isinstance(registry, Registry):
                continue
            for name, obj in registry.module_dict.items():
                if getattr(obj, "__module__", "").startswith("mmdistillmot"):
                    found[f"{module.__name__}.{attr}.{name}"] = obj
    return found


REGISTERED = _registered_classes()


def _public_callables() -> Iterator[tuple[str, Callable[..., Any]]]:
    """Public functions and methods (``forward`` / ``__call__`` included) defined in the package."""
    for module in _import_all_modules():
        for name, obj in vars(module).items():
            if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
                continue
            if inspect.isfunction(obj):
                yield f"{module.__name__}.{name}", obj
            elif inspect.isclass(obj):
                for method_name, method in vars(obj).items():
                    if isinstance(method, staticmethod | classmethod):
                        method = method.__func__
                    public = not method_name.startswith("_") or method_name == "__call__"
                    if public and inspect.isfunction(method):
                        yield f"{module.__name__}.{name}.{method_name}", method


def _tensor_arguments(function: Callable[..., Any]) -> list[str]:
    """Arguments annotated with a tensor type (a tensor, an optional one, a list of them).

    Containers keyed by name (state dicts, loss dicts) are left out: they have no one shape.
    """
    names = []
    for name, annotation in getattr(function, "__annotations__", {}).items():
        text = str(annotation)
        if name != "return" and "Tensor" in text and not re.search(r"dict|mapping", text, re.I):
            names.append(name)
    return names


def _config_dirs() -> list[Path]:
    dirs = {p.parent for p in CONFIGS_ROOT.glob("**/*.py")}
    return sorted(
        d for d in dirs if "_base_" not in d.relative_to(CONFIGS_ROOT).parts and d != CONFIGS_ROOT
    )


def _strip_fences(text: str) -> str:
    return FENCE_PATTERN.sub("", text)


def _rel(path: Path) -> str:
    return str(path.relative_to(REPO_ROOT))


# ---------------------------------------------------------------------------- configs
def test_config_tree_is_found() -> None:
    """Guards the tests below against passing on an empty tree."""
    assert len(_config_dirs()) >= 5
    assert len(REGISTERED) >= 20


@pytest.mark.parametrize("config_dir", _config_dirs(), ids=lambda p: _rel(p))
def test_every_config_directory_has_a_readme(config_dir: Path) -> None:
    readme = config_dir / "README.md"
    configs = sorted(p.name for p in config_dir.glob("*.py"))
    assert readme.is_file(), (
        f"{_rel(config_dir)}/ holds {len(configs)} configs ({', '.join(configs[:4])}...) but no "
        "README.md: add one with the paper's numbers beside ours and the train/test commands."
    )


# ---------------------------------------------------------------------------- registrations
@pytest.mark.parametrize("key", sorted(REGISTERED))
def test_registered_class_has_a_docstring(key: str) -> None:
    cls = REGISTERED[key]
    where = f"{cls.__module__}.{cls.__qualname__} (registered as {key})"
    own = cls.__dict__.get("__doc__")  # not inherited: the class must describe itself
    assert own and own.strip(), f"{where} has no docstring of its own."
    summary = own.strip().splitlines()[0]
    assert summary.endswith((".", ":")), f"{where}: the first line is not a summary sentence."
    words = len(own.split())
    assert words >= MIN_CLASS_DOC_WORDS, f"{where}: the docstring has only {words} words."
    if "__init__" in vars(cls):
        init_doc = cls.__init__.__doc__ or ""
        params = [
            p.name
            for p in inspect.signature(cls.__init__).parameters.values()
            if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        ]
        undocumented = [p for p in params if not re.search(rf"\b{p}\b", own + init_doc)]
        assert not undocumented, f"{where}: constructor arguments {undocumented} undocumented."


def test_package_import_registers_everything() -> None:
    """What configs import (``custom_imports=['mmdistillmot']``) registers every component."""
    code = (
        "import json, mmdet.registry, mmengine.registry, mmdistillmot\n"
        "from mmengine.registry import Registry\n"
        "out = []\n"
        "for m in (mmdet.registry, mmengine.registry):\n"
        "    for a in dir(m):\n"
        "        r = getattr(m, a)\n"
        "        if isinstance(r, Registry):\n"
        "            out += [f'{m.__name__}.{a}.{n}' for n, c in r.module_dict.items()\n"
        "                    if getattr(c, '__module__', '').startswith('mmdistillmot')]\n"
        "print(json.dumps(sorted(out)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO_ROOT, check=True,
        timeout=240,
    )  # fmt: skip
    on_import = set(json.loads(result.stdout.strip().splitlines()[-1]))
    missing = sorted(set(REGISTERED) - on_import)
    assert not missing, (
        "registered only when their module is imported directly, not by `import mmdistillmot` "
        "(add the import to the subpackage's __init__.py): "
        + ", ".join(f"{k} ({REGISTERED[k].__module__})" for k in missing)
    )


def test_tensor_arguments_have_shapes_in_docstrings() -> None:
    checked, missing = 0, []
    for qualname, function in _public_callables():
        tensors = _tensor_arguments(function)
        if not tensors:
            continue
        checked += 1
        if not SHAPE_PATTERN.search(function.__doc__ or ""):
            missing.append(f"{qualname}({', '.join(tensors)})")
    assert checked >= 50, f"only {checked} functions with tensor arguments found"
    assert not missing, "docstrings give no tensor shape: " + "; ".join(missing)


# ---------------------------------------------------------------------------- docs
def test_required_doc_pages_exist() -> None:
    missing = [name for name in REQUIRED_PAGES if not (REPO_ROOT / name).is_file()]
    assert not missing, f"documentation pages missing: {missing}"


def test_model_zoo_links_every_config() -> None:
    """docs/model_zoo.md is the index of every config: each one is linked from it."""
    text = MODEL_ZOO.read_text(encoding="utf-8")
    targets = {
        (MODEL_ZOO.parent / t.split("#", 1)[0]).resolve()
        for t in LINK_PATTERN.findall(_strip_fences(text))
    }
    configs = [p for d in _config_dirs() for p in sorted(d.glob("*.py"))]
    unlisted = [_rel(p) for p in configs if p.resolve() not in targets]
    assert configs and not unlisted, f"configs missing from docs/model_zoo.md: {unlisted}"


@pytest.mark.parametrize("page", LINKED_PAGES, ids=lambda p: _rel(p))
def test_local_links_resolve(page: Path) -> None:
    broken = []
    for target in LINK_PATTERN.findall(_strip_fences(page.read_text(encoding="utf-8"))):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I) or target.startswith("#"):
            continue  # a URL (http:, mailto:) or an anchor in the same page
        path = target.split("#", 1)[0].split("?", 1)[0]
        if not (page.parent / path).exists():
            broken.append(target)
    assert not broken, f"{_rel(page)} links to missing files: {broken}"


@pytest.mark.parametrize("page", DOC_PAGES, ids=lambda p: _rel(p))
def test_named_configs_and_tools_exist(page: Path) -> None:
    named = sorted(set(REPO_PATH_PATTERN.findall(page.read_text(encoding="utf-8"))))
    missing = [p for p in named if not (REPO_ROOT / p).is_file()]
    assert not missing, f"{_rel(page)} names files that do not exist: {missing}"


# ---------------------------------------------------------------------------- self-checks
def test_shape_pattern_tells_shapes_from_prose() -> None:
    assert SHAPE_PATTERN.search("feature: ``[B, C, H, W]``.")
    assert SHAPE_PATTERN.search("boxes: (N, 4) xyxy")
    assert SHAPE_PATTERN.search("Returns: scalar tensor")
    assert not SHAPE_PATTERN.search("inputs: The preprocessed batch (see the docs).")
    assert not SHAPE_PATTERN.search("[link](x.md)")


def test_link_pattern_skips_code_fences() -> None:
    text = "see [a](a.md) and ![b](img/b.png)\n```\n[c](c.md)\n```\n"
    assert LINK_PATTERN.findall(_strip_fences(text)) == ["a.md", "img/b.png"]
    assert REPO_PATH_PATTERN.findall("run configs/x/y.py, not mmdet/.mim/configs/z.py") == [
        "configs/x/y.py"
    ]
