"""Answers as data: the shapes an answer may be asked to have, their JSON Schemas, and the check of an answer."""

from __future__ import annotations

import dataclasses
from typing import Literal, TypedDict

import pytest
from pydantic import BaseModel

from wenxin_magic.session._answer_schema import AnswerSchemaError, answer_schema, parse_short_spec


class City(BaseModel):
    city: str
    population: int
    kind: Literal["capital", "port", "other"] = "other"


@dataclasses.dataclass
class Point:
    x: float
    y: float


class Pair(TypedDict):
    left: str
    right: int


def test_a_short_spec_names_fields_with_str_as_the_default_type():
    fields = parse_short_spec("city, population int, famous_for list[str]: what it is known for")
    assert [(f.name, f.type, f.many) for f in fields] == [("city", str, False), ("population", int, False),
                                                          ("famous_for", str, True)]
    assert fields[2].description == "what it is known for"
    assert [f.name for f in parse_short_spec("a\nb float\n")] == ["a", "b"]


def test_a_short_spec_becomes_a_strict_object_schema():
    schema = answer_schema("city, population int, famous_for list[str]").json_schema
    assert schema["type"] == "object" and schema["required"] == ["city", "population", "famous_for"]
    assert schema["properties"]["population"] == {"type": "integer"}
    assert schema["properties"]["famous_for"] == {"type": "array", "items": {"type": "string"}}
    assert schema["additionalProperties"] is False and "title" not in schema


@pytest.mark.parametrize("spec, words", [
    ("", "The schema is empty"),
    ("city, population integer", r"'integer' \(for 'population'\) is not a type"),
    ("city, city int", "'city' is named twice"),
    ("1city", "is not a field"),
    ("city, tags list[dict]", "is not a type a short spec knows"),
])
def test_a_short_spec_that_does_not_parse_says_what_is_allowed(spec, words):
    with pytest.raises(AnswerSchemaError, match=words) as caught:
        answer_schema(spec)
    assert "str" in str(caught.value) or "twice" in str(caught.value)


def test_a_name_is_looked_up_in_the_notebook_and_a_missing_class_is_named():
    namespace = {"City": City, "Point": Point, "Pair": Pair}
    assert answer_schema("City", namespace).validate('{"city": "Xi an", "population": 1}') == City(
        city="Xi an", population=1)
    assert answer_schema("Point", namespace).validate('{"x": 1, "y": 2.5}') == Point(1.0, 2.5)
    assert answer_schema("Pair", namespace).validate('{"left": "a", "right": 2}') == {"left": "a", "right": 2}
    with pytest.raises(AnswerSchemaError, match="'Town' is not defined in this notebook"):
        answer_schema("Town", namespace)
    with pytest.raises(AnswerSchemaError, match="int is not a shape"):
        answer_schema(int)


def test_an_answer_is_validated_into_the_value_the_shape_describes():
    shape = answer_schema("city, population int, famous_for list[str]")
    value = shape.validate('Here it is:\n```json\n{"city": "北京", "population": 21000000, '
                           '"famous_for": ["故宫", "长城"]}\n```')
    assert value == {"city": "北京", "population": 21000000, "famous_for": ["故宫", "长城"]}


def test_many_asks_for_items_in_an_object_and_returns_the_list():
    shape = answer_schema("city, population int", many=True)
    assert shape.json_schema["properties"]["items"]["type"] == "array"
    assert shape.response_format()["json_schema"]["schema"]["required"] == ["items"]
    rows = shape.validate('{"items": [{"city": "a", "population": 1}, {"city": "b", "population": 2}]}')
    assert rows == [{"city": "a", "population": 1}, {"city": "b", "population": 2}]
    assert shape.validate('[{"city": "c", "population": 3}]') == [{"city": "c", "population": 3}]


@pytest.mark.parametrize("answer, words", [
    ('{"city": "a"}', "population: Field required"),
    ('{"city": "a", "population": "many"}', "population: Input should be a valid integer"),
    ('{"city": "a", "population": 1, "extra": 2}', "extra: Extra inputs are not permitted"),
    ("no json here", "The answer is not JSON"),
])
def test_an_answer_that_breaks_the_shape_says_what_to_repair(answer, words):
    with pytest.raises(AnswerSchemaError, match=words):
        answer_schema("city, population int").validate(answer)


def test_the_fields_give_the_batch_its_typed_columns_and_the_fallback_its_instructions():
    shape = answer_schema("City", {"City": City})
    assert shape.fields() == [("city", "string"), ("population", "integer"), ("kind", "string")]
    assert shape.json_schema["properties"]["kind"]["enum"] == ["capital", "port", "other"]
    assert '"population"' in shape.instructions() and shape.instructions().startswith("Answer with one JSON object")
