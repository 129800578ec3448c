"""The README's map of the server is the one import-linter keeps, and names only files that exist."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MAP_START = "The server is the package `realtime/`, in layers."


def contracts() -> list[dict]:
    """Return the import-linter contracts of pyproject.toml."""
    with open(ROOT / "pyproject.toml", "rb") as source:
        return tomllib.load(source)["tool"]["importlinter"]["contracts"]


def readme_layers() -> list[str]:
    """Return the layers the README draws, top first, as import-linter writes them (`collect | model`)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text[text.index(MAP_START) :].split("```")[1]
    layers = []
    for line in block.strip().splitlines():
        names = re.split(r"\s{2,}", line.strip())[0]
        layers.append(" | ".join(name.strip().removeprefix("realtime.") for name in names.split("|")))
    return layers


def test_the_readme_draws_the_layers_contract() -> None:
    (layers,) = [c for c in contracts() if c["type"] == "layers"]
    assert layers["containers"] == ["realtime"]
    assert readme_layers() == layers["layers"]


def test_every_package_of_the_server_is_a_layer() -> None:
    drawn = {name.strip() for layer in readme_layers() for name in layer.split("|")}
    packages = {path.name for path in (ROOT / "realtime").iterdir() if (path / "__init__.py").is_file()}
    modules = {path.stem for path in (ROOT / "realtime").glob("*.py") if path.stem != "__init__"}
    assert drawn == packages | modules


def test_the_readme_names_only_files_that_exist() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    named = set(re.findall(r"`((?:realtime|harness|trainer|bench|tests)/[\w/]+\.py)`", text))
    # "`realtime/game/`: `rules.py`, ..." names a package's files after the package.
    for package, files in re.findall(r"`((?:realtime|harness)/\w+/)`:(.*?)\n(?=- |\n)", text, flags=re.S):
        named |= {package + name for name in re.findall(r"`(\w+\.py)`", files)}
    assert len(named) > 20
    assert [name for name in sorted(named) if not (ROOT / name).is_file()] == []


def test_the_test_contracts_name_every_test_folder() -> None:
    folders = {path.name for path in (ROOT / "tests").iterdir() if (path / "__init__.py").is_file()}
    expected = {"tests.conftest"} | {f"tests.{name}.*" for name in folders - {"support"}}
    for contract in contracts():
        if contract["name"].startswith("Test modules never import one another"):
            assert set(contract["modules"]) == expected
        if contract["name"].startswith("The tests' shared helpers"):
            assert set(contract["forbidden_modules"]) == expected
