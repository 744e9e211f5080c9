"""The package's layers: every module is placed in the import contract, and the README's
Layout lists exactly those layers, top to bottom."""

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def contract_layers() -> list[list[str]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    contract = next(c for c in config["tool"]["importlinter"]["contracts"] if c["name"] == "imports flow one way")
    return [[name.strip().removeprefix("gastown.") for name in layer.split("|")] for layer in contract["layers"]]


def test_every_module_of_the_package_has_a_place_in_the_import_contract():
    placed = {name for layer in contract_layers() for name in layer}
    package = ROOT / "gastown"
    modules = {p.stem for p in package.glob("*.py") if p.stem not in ("__init__", "__main__")}
    modules |= {p.name for p in package.iterdir() if (p / "__init__.py").is_file()}
    assert modules - placed == set(), "modules the import contract does not place (add them to pyproject.toml)"
    assert placed - modules == set(), "the import contract names modules that do not exist"


def test_the_readmes_layout_lists_the_contracts_layers_in_order():
    readme = (ROOT / "README.md").read_text()
    block = readme[readme.index("## Layout") :].split("```")[1]
    listed = [line.split() for line in block.splitlines() if line.startswith("  ") and not line.startswith("   ")]
    assert listed == contract_layers()
