"""litemongo's internals are used in one module, written against one version of it."""

from __future__ import annotations

import importlib.metadata
import re
import tomllib
from pathlib import Path

from tracos_integration.tracos.stores import litemongo_adapter

ROOT = Path(__file__).resolve().parents[1]


def test_litemongo_is_the_version_the_adapter_was_written_against():
    installed = importlib.metadata.version("litemongo")
    assert installed == litemongo_adapter.WRITTEN_AGAINST == "0.2.0", (
        f"litemongo {installed} is installed, but tracos/stores/litemongo_adapter.py was written against "
        f"{litemongo_adapter.WRITTEN_AGAINST}: re-check every internal it uses (Collection._store, the "
        "CollectionStore's _connection, _documents and indexes, the documents table and its typed keys, the "
        "vendored mongomock filtering) in the new version, run the embedded store's tests, then move "
        "WRITTEN_AGAINST and the pin in pyproject.toml together"
    )


def test_the_demo_extra_pins_the_litemongo_the_adapter_was_written_against():
    demo = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["demo"]
    assert f"litemongo=={litemongo_adapter.WRITTEN_AGAINST}" in demo


def test_no_other_module_of_the_package_touches_litemongo():
    package = ROOT / "tracos_integration"
    importers = sorted(
        str(path.relative_to(package)) for path in package.rglob("*.py")
        if re.search(r"^\s*(import|from)\s+litemongo\b", path.read_text(), re.MULTILINE)
    )
    assert importers == ["tracos/stores/litemongo_adapter.py"]


def test_only_the_stores_package_imports_mongomock_or_litemongo():
    package = ROOT / "tracos_integration"
    importers = sorted(
        str(path.relative_to(package)) for path in package.rglob("*.py")
        if re.search(r"^\s*(import|from)\s+(mongomock|litemongo)\b", path.read_text(), re.MULTILINE)
    )
    assert importers and all(name.startswith("tracos/stores/") for name in importers), importers
