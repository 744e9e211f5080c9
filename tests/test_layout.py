"""The package's wings and layers: every module has a place in the import contracts, and
the README's Layout lists exactly those wings and layers, top to bottom."""

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "gastown"
WINGS_CONTRACT = "the wings: imports flow one way"


def contracts() -> list[dict]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]


def wings() -> list[list[str]]:
    """The wings contract's layers, top to bottom (names without ``gastown.``)."""
    contract = next(c for c in contracts() if c["name"] == WINGS_CONTRACT)
    return [[name.strip().removeprefix("gastown.") for name in layer.split("|")] for layer in contract["layers"]]


def layers_of(wing: str) -> list[list[str]]:
    """The layers of one wing's own contract, top to bottom."""
    contract = next(c for c in contracts() if c.get("containers") == [f"gastown.{wing}"])
    return [[name.strip() for name in layer.split("|")] for layer in contract["layers"]]


def children(folder: Path) -> set[str]:
    """The modules and subpackages of a package folder."""
    found = {p.stem for p in folder.glob("*.py") if p.stem not in ("__init__", "__main__")}
    return found | {p.name for p in folder.iterdir() if (p / "__init__.py").is_file()}


def test_every_module_of_the_package_has_a_place_in_a_wing():
    placed = {name for layer in wings() for name in layer}
    assert children(PACKAGE) == placed, "the wings contract must place every top-level module and package"
    for name in sorted(placed):
        if (PACKAGE / name / "__init__.py").is_file() and any(
            c.get("containers") == [f"gastown.{name}"] for c in contracts()
        ):
            inside = {module for layer in layers_of(name) for module in layer}
            assert children(PACKAGE / name) == inside, f"gastown/{name}/ and its contract's layers differ"


def test_the_wings_hold_the_modules_that_used_to_be_flat():
    for wing in ("town", "machine", "agents", "mayor"):
        assert layers_of(wing), f"gastown/{wing}/ has no contract of its own"
    assert not [p.name for p in PACKAGE.glob("*.py") if p.stem not in ("__init__", "__main__", "errors")]


def test_the_readmes_layout_lists_the_wings_and_their_layers_in_order():
    readme = (ROOT / "README.md").read_text()
    block = readme[readme.index("## Layout") :].split("```")[1]
    listed: list[list[str]] = []
    inner: dict[str, list[list[str]]] = {}
    for line in block.splitlines():
        if line.startswith("    ") and not line.startswith("     "):
            inner[listed[-1][0]].append(line.split())
        elif line.startswith("  ") and not line.startswith("   "):
            names = [name.removesuffix("/") for name in line.split()]
            listed.append(names)
            if line.rstrip().endswith("/"):
                inner[names[0]] = []
    assert listed == wings()
    assert sorted(inner) == ["agents", "machine", "mayor", "town"]
    for wing, layers in inner.items():
        assert layers == layers_of(wing), f"the README's {wing}/ differs from its contract"
