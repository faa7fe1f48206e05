"""The docs site's policy schema page (docs/gen/policy_schema.py) lists every field of the policy file's models.

The page is generated from ``kubejit.adapters.policy_file`` at build time; these tests hold the generator to
covering every model and field defined there, with the YAML name, and to refusing a field it has no words for.
"""

from __future__ import annotations

import importlib.util
import inspect
import re
from pathlib import Path
from types import ModuleType

import pytest
from pydantic import BaseModel

from kubejit.adapters import policy_file

GENERATOR = Path(__file__).parents[2] / "docs" / "gen" / "policy_schema.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_policy_schema", GENERATOR)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


gen = _load()


def _defined_models() -> list[type[BaseModel]]:
    """Every pydantic model class defined in the policy file module (the private base excepted)."""
    return [
        value
        for name, value in vars(policy_file).items()
        if inspect.isclass(value)
        and issubclass(value, BaseModel)
        and value.__module__ == policy_file.__name__
        and not name.startswith("_")
    ]


def _rows_by_section(page: str) -> dict[str, list[str]]:
    """Section anchor -> the YAML names in its table's first column."""
    sections: dict[str, list[str]] = {}
    for block in page.split("\n## ")[1:]:
        anchor = re.search(r"\{ #(\w+) \}", block.splitlines()[0])
        assert anchor is not None, block.splitlines()[0]
        sections[anchor.group(1)] = re.findall(r"^\| `([^`]+)` \|", block, flags=re.MULTILINE)
    return sections


def test_every_model_of_the_policy_file_is_reached_from_the_document() -> None:
    assert set(gen.models()) == set(_defined_models())


def test_every_field_of_every_model_has_a_row_under_its_yaml_name() -> None:
    sections = _rows_by_section(gen.render())
    for model in _defined_models():
        rows = sections[model.__name__.lower()]
        expected = [info.alias or name for name, info in model.model_fields.items()]
        assert rows == expected, model.__name__


def test_rows_carry_the_schema_types_defaults_and_bounds() -> None:
    page = gen.render()
    assert "| `nonResourceURLs` | list of string | empty |" in page
    assert "| `required` | integer | `1` | >= 1; <= 20 |" in page
    assert "| `profiles` | list of [Profile](#profilemodel) | **required** | length >= 1 |" in page
    assert "| `scope` | one of `namespaced`, `cluster` | `namespaced` |" in page
    assert "| `breakGlass` | [Break-glass](#breakglassmodel) | unset |" in page


def test_a_field_without_a_note_stops_the_page_and_says_where_to_add_it() -> None:
    class MetadataModel(BaseModel):  # the real model's name (notes are looked up by name), plus a new field
        name: str
        owner: str = ""

    with pytest.raises(gen.UndocumentedField, match=r"MetadataModel\.owner .*FIELD_NOTES"):
        gen.render(root=MetadataModel)


def test_a_model_without_a_section_note_stops_the_page() -> None:
    class RetentionModel(BaseModel):
        days: int = 30

    with pytest.raises(gen.UndocumentedField, match=r"model RetentionModel .*MODEL_NOTES"):
        gen.render(root=RetentionModel)


def test_no_note_names_a_field_that_no_longer_exists() -> None:
    fields = {(m.__name__, name) for m in _defined_models() for name in m.model_fields}
    assert set(gen.FIELD_NOTES) <= fields
    assert set(gen.MODEL_NOTES) <= {m.__name__ for m in _defined_models()}
