"""The package's shape: public doors between its parts, one subcommand table, a load that imports little.

import-linter checks which layer may import which (pyproject.toml); these tests check what it cannot
see: that no part reaches into another's private names, and what loading the extension pulls in.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import wenxin_magic

PACKAGE = Path(wenxin_magic.__file__).parent


def _modules() -> list[tuple[str, Path]]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out.append((".".join(parts), path))
    return out


def _unit(module: str) -> str:
    """The part of the package a module belongs to: wenxin_magic.api._client -> wenxin_magic.api."""
    parts = module.split(".")
    return ".".join(parts[:2])


def _imports(module: str, path: Path):
    """(imported module, imported name or None, line) for every import in a module, relative ones resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    is_package = path.name == "__init__.py"
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, None, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base if is_package else base[:-1]
                base = base[:len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                yield target, alias.name, node.lineno


def _violations() -> list[str]:
    found = []
    known = {module for module, _ in _modules()}
    for module, path in _modules():
        unit = _unit(module)
        for target, name, line in _imports(module, path):
            if name and f"{target}.{name}" in known:  # ``from . import display`` imports a module
                target, name = f"{target}.{name}", None
            if not target.startswith("wenxin_magic"):
                continue
            where = f"{path.relative_to(PACKAGE.parent)}:{line}"
            target_unit = _unit(target)
            if target == "wenxin_magic" and module != "wenxin_magic":
                found.append(f"{where} imports the package root ({name}): import from the part that owns it")
                continue
            if target_unit == unit or module == "wenxin_magic":
                continue
            private_path = any(part.startswith("_") for part in target.split(".")[1:])
            if private_path or (name or "").startswith("_"):
                found.append(f"{where} imports {target}{'.' + name if name else ''}, private to {target_unit}")
    return found


def test_no_part_imports_another_parts_private_names():
    assert _violations() == []


def test_the_private_import_check_catches_what_it_should(tmp_path, monkeypatch):
    # a check that finds nothing must be able to find something
    fake = tmp_path / "wenxin_magic"
    (fake / "api").mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    (fake / "api" / "__init__.py").write_text("")
    (fake / "api" / "_auth.py").write_text("Credentials = 1\n")
    (fake / "display.py").write_text("_secret = 1\n")
    (fake / "magics.py").write_text("from .api._auth import Credentials\nfrom .display import _secret\n"
                                    "from . import get_session\nfrom .api import Credentials as C\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", fake)
    found = _violations()
    assert len(found) == 3, found
    assert any("api._auth" in f for f in found) and any("_secret" in f for f in found)
    assert any("package root" in f for f in found)


def test_every_subcommand_has_one_handler_and_help():
    from wenxin_magic import magics
    from wenxin_magic.parsers import SUBCOMMANDS, help_text

    assert set(magics._HANDLERS) == set(SUBCOMMANDS)
    whole = help_text()
    for name, sub in SUBCOMMANDS.items():
        assert sub.summary in whole and sub.usage in whole
        assert help_text(name).startswith(f"%wenxin {name}")


def test_api_and_emulator_speak_no_magic():
    texts = [p.read_text(encoding="utf-8") for p in (PACKAGE / "api").rglob("*.py")]
    texts += [p.read_text(encoding="utf-8") for p in (PACKAGE / "session").rglob("*.py")]
    assert not [t for t in texts if "%wenxin" in t or "%%wenxin" in t]


HEAVY = ("httpx", "ipywidgets", "pydantic", "pandas", "starlette", "uvicorn", "wenxin_magic.emulator",
         "wenxin_magic.panel", "wenxin_magic.display", "markdown_it", "mdit_py_plugins", "nh3")


def test_loading_the_extension_imports_nothing_heavy():
    code = ("from IPython.core.interactiveshell import InteractiveShell\n"
            "import sys\n"
            "before = set(sys.modules)\n"
            "ip = InteractiveShell.instance()\n"
            "ip.run_line_magic('load_ext', 'wenxin_magic')\n"
            "ip.run_cell('%config WenxinMagics.temperature = 0.5')\n"
            f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={"PATH": "/usr/bin:/bin", "HOME": str(Path.home())})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout


def test_importing_the_package_imports_nothing_of_it():
    code = "import sys, wenxin_magic; print(sorted(m for m in sys.modules if m.startswith('wenxin_magic.')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


@pytest.mark.parametrize("value, ok", [(0.5, True), (1.0, True), (0.0, False), (1.5, False)])
def test_trait_ranges_come_from_the_parameter_table(value, ok):
    from traitlets import TraitError

    from wenxin_magic.magics import WenxinMagics
    from wenxin_magic.session import Session

    magics = WenxinMagics(shell=None, session=Session(offline=True, environ={}))
    if ok:
        magics.temperature = value
        assert magics.temperature == value
    else:
        with pytest.raises(TraitError, match=r"temperature must be .*\(0, 1\]"):
            magics.temperature = value
    assert "(0, 1]" in WenxinMagics.class_traits()["temperature"].help
