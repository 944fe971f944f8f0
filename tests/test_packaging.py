"""The wheel carries every package and the specs: `pip install .` must work from any folder."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).parent.parent


def test_every_package_folder_is_listed() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    roots = {name: Path(folder) for name, folder in config["package-dir"].items()}
    for name, folder in roots.items():
        for init in sorted((ROOT / folder).rglob("__init__.py")):
            relative = init.parent.relative_to(ROOT / folder)
            package = ".".join([name, *relative.parts]) if relative.parts else name
            assert package in listed, f"{package} ({init.parent}) is missing from [tool.setuptools] packages"


def test_shipped_specs_are_package_data() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    patterns = config["package-data"]["kvolt.spec"]
    shipped = {p for pattern in patterns for p in (ROOT / "spec").glob(pattern)}
    assert shipped == set((ROOT / "spec").rglob("*.kvolt"))
