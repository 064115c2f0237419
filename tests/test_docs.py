"""The documentation stays true to the code: the API reference lists exactly what is
public, the guide's table of config keys is the one the settings generate, the README
stays short."""

import pathlib
import re

import dann_jax
from dann_jax import configs

ROOT = pathlib.Path(__file__).resolve().parents[1]
API = (ROOT / "docs" / "api.md").read_text()
# Modules without an automodule entry: the top level (its table lists its names), config
# files (data that `dann train --config` reads) and the `python -m dann_jax.cli` entry,
# which runs the command when imported.
NOT_API = re.compile(r"dann_jax|dann_jax\.configs\.\w+|dann_jax\.cli\.__main__")


def package_modules():
    for path in sorted((ROOT / "dann_jax").rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        if not NOT_API.fullmatch(name):
            yield name


def test_the_api_reference_lists_every_public_name_of_the_top_level_and_no_other():
    listed = re.findall(r"^\| `(\w+)` \| \{\w+\}`([\w.]+)`", API, flags=re.MULTILINE)
    assert sorted(name for name, _ in listed) == sorted(dann_jax.__all__)
    for name, target in listed:
        module, _, attribute = target.rpartition(".")
        assert attribute == name and getattr(dann_jax, name).__module__ == module, target


def test_the_api_reference_documents_every_module_once():
    documented = re.findall(r"^\.\. automodule:: ([\w.]+)$", API, flags=re.MULTILINE)
    assert len(documented) == len(set(documented))
    assert sorted(documented) == sorted(package_modules())


def test_the_guides_table_of_config_keys_is_generated_from_the_settings():
    guide = (ROOT / "docs" / "guide" / "cli.md").read_text()
    table = guide.split("<!-- config keys: start -->\n", 1)[1].split("<!-- config keys: end -->")[0]
    assert table == configs.keys_table(), (
        "docs/guide/cli.md's table of config keys differs from the settings; paste the "
        "output of `python -c 'from dann_jax import configs; print(configs.keys_table())'`"
    )
    for key in configs.KEYS:
        assert f"| `{key}` |" in table


def test_the_readme_stays_an_overview():
    assert len((ROOT / "README.md").read_bytes()) < 8 * 1024
