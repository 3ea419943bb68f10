"""A notebook function as a tool: the JSON Schema sent to the model and the check of the model's arguments."""

import dataclasses
import enum
import functools
import json
import subprocess
import sys
from typing import Annotated, Literal, Optional

import pytest
from pydantic import BaseModel, Field
from typing_extensions import TypedDict  # pydantic takes typing.TypedDict only from Python 3.12

from wenxin_magic.session._tool_schema import (
    FunctionSchema,
    ToolArgumentsError,
    ToolDefinitionError,
    function_schema,
)


class Unit(enum.Enum):
    CELSIUS = "celsius"
    FAHRENHEIT = "fahrenheit"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


class Place(BaseModel):
    """A place on the map."""

    city: str
    title: str = "home"  # a field named like the key that must vanish from schemas
    country: Optional[str] = None


class Trip(BaseModel):
    origin: Place
    stops: list[Place] = []


@dataclasses.dataclass
class Point:
    x: float
    y: float


class Window(TypedDict):
    start: int
    end: int


def properties(fn) -> dict:
    return function_schema(fn).parameters["properties"]


def walk(node):
    """Every dict key in a JSON value, with the dict it is in."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield key, node
            yield from walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from walk(item)


def schema_keywords(schema):
    """The JSON Schema keywords used, not counting the names of properties (a property may be called "title")."""
    if isinstance(schema, list):
        for item in schema:
            yield from schema_keywords(item)
    elif isinstance(schema, dict):
        for key, value in schema.items():
            yield key
            if key == "properties":
                for sub in value.values():
                    yield from schema_keywords(sub)
            elif key not in ("default", "enum"):
                yield from schema_keywords(value)


# ---- types


def test_each_plain_type_has_its_json_type():
    def f(s: str, i: int, x: float, b: bool, items: list, mapping: dict, pair: tuple):
        pass

    props = properties(f)
    assert props["s"] == {"type": "string"}
    assert props["i"] == {"type": "integer"}
    assert props["x"] == {"type": "number"}
    assert props["b"] == {"type": "boolean"}
    assert props["items"]["type"] == "array"
    assert props["mapping"]["type"] == "object"
    assert props["pair"]["type"] == "array"


def test_generic_containers_describe_their_items():
    def f(ids: list[int], weights: dict[str, float]):
        pass

    props = properties(f)
    assert props["ids"] == {"type": "array", "items": {"type": "integer"}}
    assert props["weights"] == {"type": "object", "additionalProperties": {"type": "number"}}


def test_parameters_without_default_are_required_and_defaults_are_shown():
    def f(a: int, b: str = "x", c: float = 1.5):
        pass

    schema = function_schema(f).parameters
    assert schema["type"] == "object"
    assert schema["required"] == ["a"]
    assert "default" not in schema["properties"]["a"]
    assert schema["properties"]["b"]["default"] == "x"
    assert schema["properties"]["c"]["default"] == 1.5


def test_required_is_an_empty_list_when_all_have_defaults():
    def f(a: int = 1):
        pass

    assert function_schema(f).parameters["required"] == []


@pytest.mark.parametrize("hint", [Optional[int], int | None])
def test_optional_is_its_other_branch_with_null_default(hint):
    def f(a: hint = None):  # type: ignore[valid-type]
        pass

    assert properties(f)["a"] == {"type": "integer", "default": None}


def test_optional_without_default_is_required_and_accepts_null():
    def f(a: Optional[int]):
        pass

    schema = function_schema(f)
    assert schema.parameters["properties"]["a"] == {"type": "integer"}
    assert schema.parameters["required"] == ["a"]
    assert schema.validate('{"a": null}') == ([], {"a": None})


def test_literal_is_an_enum_and_validates_to_the_value():
    def f(mode: Literal["fast", "slow"], single: Literal["only"] = "only"):
        pass

    schema = function_schema(f)
    assert schema.parameters["properties"]["mode"] == {"type": "string", "enum": ["fast", "slow"]}
    assert schema.parameters["properties"]["single"]["enum"] == ["only"]
    assert "const" not in json.dumps(schema.parameters)
    assert schema.validate({"mode": "slow"}) == ([], {"mode": "slow"})
    with pytest.raises(ToolArgumentsError, match="mode"):
        schema.validate({"mode": "medium"})


def test_enum_is_an_enum_of_values_and_validates_to_the_member():
    def f(unit: Unit = Unit.CELSIUS, level: Level = Level.LOW):
        pass

    schema = function_schema(f)
    unit = schema.parameters["properties"]["unit"]
    assert unit["type"] == "string" and unit["enum"] == ["celsius", "fahrenheit"] and unit["default"] == "celsius"
    level = schema.parameters["properties"]["level"]
    assert level["type"] == "integer" and level["enum"] == [1, 2]
    _, kwargs = schema.validate({"unit": "fahrenheit", "level": 2})
    assert kwargs["unit"] is Unit.FAHRENHEIT
    assert kwargs["level"] is Level.HIGH


def test_pydantic_model_is_inlined_without_refs_or_titles():
    def plan(trip: Trip, extra: Place | None = None):
        pass

    schema = function_schema(plan).parameters
    keywords = set(schema_keywords(schema))
    assert not keywords & {"$ref", "$defs", "title", "allOf"}
    assert not any(key in ("$ref", "$defs") for key, _ in walk(schema))
    origin = schema["properties"]["trip"]["properties"]["origin"]
    assert origin["type"] == "object"
    assert origin["required"] == ["city"]
    assert origin["description"] == "A place on the map."
    assert "title" in origin["properties"]  # the field called title survives; only the keyword goes
    assert schema["properties"]["trip"]["properties"]["stops"]["items"]["properties"]["city"] == {"type": "string"}
    assert schema["properties"]["extra"]["type"] == "object"
    assert schema["properties"]["extra"]["default"] is None


def test_pydantic_model_argument_becomes_an_instance():
    def plan(trip: Trip):
        pass

    arguments = '{"trip": {"origin": {"city": "Beijing"}, "stops": [{"city": "Xi\'an"}]}}'
    _, kwargs = function_schema(plan).validate(arguments)
    assert isinstance(kwargs["trip"], Trip)
    assert isinstance(kwargs["trip"].stops[0], Place)
    assert kwargs["trip"].origin.city == "Beijing"


def test_dataclass_and_typeddict_parameters():
    def f(point: Point, window: Window):
        pass

    schema = function_schema(f)
    assert schema.parameters["properties"]["point"]["properties"]["x"] == {"type": "number"}
    assert schema.parameters["properties"]["window"]["required"] == ["start", "end"]
    assert "title" not in set(schema_keywords(schema.parameters))
    _, kwargs = schema.validate({"point": {"x": 1, "y": 2.5}, "window": {"start": 1, "end": 2}})
    assert kwargs["point"] == Point(1.0, 2.5)
    assert kwargs["window"] == {"start": 1, "end": 2}


def test_annotated_metadata_describes_the_parameter():
    def f(a: Annotated[int, "how many"], b: Annotated[str, Field(description="which one")] = "x"):
        """Do it.

        Args:
            a: the docstring loses to Annotated
        """

    props = properties(f)
    assert props["a"] == {"type": "integer", "description": "how many"}
    assert props["b"]["description"] == "which one"


def test_unsupported_type_is_refused_with_the_parameter_named():
    class Opaque:
        pass

    def f(thing: Opaque):
        pass

    with pytest.raises(ToolDefinitionError, match=r"f: parameter 'thing'.*use str, int"):
        function_schema(f)


class Tree(BaseModel):
    label: str
    children: "list[Tree]" = []


def test_recursive_type_is_refused():
    def walk_tree(tree: Tree):
        pass

    with pytest.raises(ToolDefinitionError, match="walk_tree: a recursive type"):
        function_schema(walk_tree)


def test_default_json_cannot_hold_is_left_out_of_the_schema():
    marker = object()

    def f(a: int = marker):  # type: ignore[assignment]
        pass

    schema = function_schema(f)
    assert schema.parameters["properties"]["a"] == {"type": "integer"}
    assert schema.parameters["required"] == []
    assert schema.validate({}) == ([], {})


# ---- no type hints, *args, **kwargs


def test_unhinted_parameters_are_strings_with_a_note():
    def get_weather(location, unit="celsius", days: int = 1):
        pass

    schema = function_schema(get_weather)
    assert schema.parameters["properties"]["location"] == {"type": "string"}
    assert schema.parameters["properties"]["unit"] == {"type": "string", "default": "celsius"}
    assert schema.notes == ["get_weather: no type hints for location, unit: they are sent as strings; "
                            "add type hints to say what they are."]


def test_unhinted_values_are_passed_as_the_model_sent_them():
    def get_weather(location, days):
        pass

    assert function_schema(get_weather).validate({"location": 7, "days": [1]}) == ([], {"location": 7, "days": [1]})


def test_fully_hinted_function_has_no_notes():
    def f(a: int, b: str = ""):
        pass

    assert function_schema(f).notes == []


def test_var_args_are_left_out_with_a_note():
    def f(a: int, *rest, **options):
        pass

    schema = function_schema(f)
    assert list(schema.parameters["properties"]) == ["a"]
    assert len(schema.notes) == 1
    assert "*rest" in schema.notes[0] and "**options" in schema.notes[0]


# ---- docstrings


def test_google_docstring():
    def get_weather(location: str, days: int = 1, unit: str = "c"):
        """Get the weather
        for a place.

        Args:
            location (str): The city,
                for example Beijing.
            days: How many days.

        Returns:
            The forecast.
        """

    schema = function_schema(get_weather)
    assert schema.description == "Get the weather for a place."
    assert schema.parameters["properties"]["location"]["description"] == "The city, for example Beijing."
    assert schema.parameters["properties"]["days"]["description"] == "How many days."
    assert "description" not in schema.parameters["properties"]["unit"]


@pytest.mark.parametrize("header", ["Arguments:", "Parameters:"])
def test_google_docstring_other_headers(header):
    def f(a: int):
        pass

    f.__doc__ = f"Do.\n\n{header}\n    a: The a.\n"
    schema = function_schema(f)
    assert schema.description == "Do."
    assert schema.parameters["properties"]["a"]["description"] == "The a."


def test_numpy_docstring():
    def f(x: int, y: int, label: str):
        """Plot a point.

        Parameters
        ----------
        x, y : int
            The coordinates
            of the point.
        label : str
            What to write.

        Returns
        -------
        bool
            Whether it worked.
        """

    schema = function_schema(f)
    assert schema.description == "Plot a point."
    props = schema.parameters["properties"]
    assert props["x"]["description"] == props["y"]["description"] == "The coordinates of the point."
    assert props["label"]["description"] == "What to write."


def test_sphinx_docstring():
    def f(query: str, limit: int = 10, sizes: dict = None):
        """Search the index.

        :param query: What to look for,
            in plain words.
        :param int limit: At most this many.
        :param dict[str, int] sizes: Sizes by name.
        :type query: str
        :returns: The hits.
        """

    schema = function_schema(f)
    assert schema.description == "Search the index."
    props = schema.parameters["properties"]
    assert props["query"]["description"] == "What to look for, in plain words."
    assert props["limit"]["description"] == "At most this many."
    assert props["sizes"]["description"] == "Sizes by name."


def test_description_stops_at_returns_and_raises():
    def f():
        """Do a thing.

        Raises:
            KeyError: when not found.
        """

    def g():
        """Do another.

        Returns:
            Something.
        """

    assert function_schema(f).description == "Do a thing."
    assert function_schema(g).description == "Do another."


def test_no_docstring_is_an_empty_description():
    def f(a: int):
        pass

    assert function_schema(f).description == ""
    assert function_schema(f).definition() == {"name": "f", "description": "", "parameters": {
        "type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}}


# ---- postponed annotations


POSTPONED = '''
from __future__ import annotations
from typing import Literal, Optional

def lookup(ids: list[int], mode: Literal["a", "b"] = "a", when: Optional[float] = None, unknown: NotDefined = None):
    pass

def resolved(count: int, names: list[str]):
    pass
'''


@pytest.fixture(scope="module")
def postponed():
    namespace: dict = {}
    exec(compile(POSTPONED, "<postponed>", "exec"), namespace)
    return namespace


def test_postponed_annotations_are_resolved(postponed):
    props = properties(postponed["resolved"])
    assert props["count"] == {"type": "integer"}
    assert props["names"] == {"type": "array", "items": {"type": "string"}}


def test_postponed_annotations_resolve_one_by_one_when_one_fails(postponed):
    schema = function_schema(postponed["lookup"])
    props = schema.parameters["properties"]
    assert props["ids"] == {"type": "array", "items": {"type": "integer"}}
    assert props["mode"]["enum"] == ["a", "b"]
    assert props["when"] == {"type": "number", "default": None}
    assert props["unknown"] == {"type": "string", "default": None}
    assert any("unknown" in note for note in schema.notes)


# ---- callables of every kind


def test_bound_method_has_no_self():
    class Station:
        def read(self, sensor: str) -> float:
            """Read a sensor."""

    schema = function_schema(Station().read)
    assert schema.name == "read"
    assert list(schema.parameters["properties"]) == ["sensor"]


def test_callable_instance_uses_its_call_method():
    class Lookup:
        def __call__(self, key: str, default: int = 0):
            """Find a key.

            :param key: The key.
            """

    schema = function_schema(Lookup())
    assert schema.name == "Lookup"
    assert schema.description == "Find a key."
    assert schema.parameters["required"] == ["key"]
    assert schema.parameters["properties"]["key"]["description"] == "The key."


def test_partial_takes_the_wrapped_name_and_drops_bound_arguments():
    def convert(amount: float, currency: str, rounding: int = 2):
        """Convert money."""

    schema = function_schema(functools.partial(convert, 10.0))
    assert schema.name == "convert"
    assert schema.description == "Convert money."
    assert list(schema.parameters["properties"]) == ["currency", "rounding"]
    assert schema.parameters["required"] == ["currency"]


def test_definition_is_a_v1_functions_entry():
    def f(a: int):
        """Add one."""

    schema = function_schema(f)
    assert isinstance(schema, FunctionSchema)
    assert schema.function is f
    assert set(schema.definition()) == {"name", "description", "parameters"}
    assert schema.definition()["description"] == "Add one."


def test_lambda_is_refused():
    with pytest.raises(ToolDefinitionError, match="use a def with a name"):
        function_schema(lambda x: x)


def test_bad_name_is_refused():
    def f():
        pass

    f.__name__ = "has space"
    with pytest.raises(ToolDefinitionError, match="has space"):
        function_schema(f)


@pytest.mark.parametrize("thing", [3, "text", None])
def test_non_callable_is_refused(thing):
    with pytest.raises(ToolDefinitionError, match="not callable"):
        function_schema(thing)


def test_builtin_without_signature_is_refused_by_name():
    with pytest.raises(ToolDefinitionError, match="^max: "):
        function_schema(max)


# ---- validation


def get_weather(location: str, days: int, unit: Unit = Unit.CELSIUS):
    pass


def test_validate_converts_and_keeps_only_what_was_given():
    assert function_schema(get_weather).validate('{"location": "Beijing", "days": "3"}') == (
        [], {"location": "Beijing", "days": 3})


def test_validation_errors_name_each_field():
    with pytest.raises(ToolArgumentsError) as caught:
        function_schema(get_weather).validate('{"days": "abc"}')
    message = str(caught.value)
    assert message.startswith("get_weather: ")
    assert "days: Input should be a valid integer" in message and "(got 'abc')" in message
    assert "location: Field required" in message
    assert "Traceback" not in message


def test_validation_error_names_nested_fields():
    def plan(trip: Trip):
        pass

    with pytest.raises(ToolArgumentsError, match=r"trip\.origin\.city: Field required"):
        function_schema(plan).validate({"trip": {"origin": {}}})


def test_validation_message_stays_short():
    def wide(a0: int, a1: int, a2: int, a3: int, a4: int, a5: int, a6: int, a7: int, a8: int, a9: int,
             b0: int, b1: int, b2: int, b3: int, b4: int, b5: int, b6: int, b7: int, b8: int, b9: int):
        pass

    long_value = "x" * 1000
    with pytest.raises(ToolArgumentsError) as caught:
        function_schema(wide).validate({name: long_value for name in wide.__code__.co_varnames})
    message = str(caught.value)
    assert len(message) < 600
    assert "more" in message
    assert long_value not in message


def test_invalid_json_text():
    with pytest.raises(ToolArgumentsError, match="get_weather: the arguments are not valid JSON"):
        function_schema(get_weather).validate('{"location": ')


@pytest.mark.parametrize("text", ["[1, 2]", '"Beijing"', "42"])
def test_json_that_is_not_an_object(text):
    with pytest.raises(ToolArgumentsError, match="must be a JSON object"):
        function_schema(get_weather).validate(text)


@pytest.mark.parametrize("empty", [None, "", "  ", {}])
def test_no_arguments_for_a_function_without_required_ones(empty):
    def ping(host: str = "localhost"):
        pass

    assert function_schema(ping).validate(empty) == ([], {})


def test_extra_fields_are_ignored():
    args, kwargs = function_schema(get_weather).validate({"location": "X", "days": 1, "reason": "the user asked"})
    assert kwargs == {"location": "X", "days": 1}
    assert args == []


def test_positional_only_parameters_go_in_args():
    def f(a: int, b: int = 2, /, c: int = 3, *, d: int = 4):
        pass

    schema = function_schema(f)
    assert schema.validate({"a": 1, "d": 5}) == ([1], {"d": 5})
    assert schema.validate({"a": 1, "b": 9, "c": 7}) == ([1, 9], {"c": 7})


def test_positional_only_gaps_are_filled_with_defaults():
    def f(a: int = 1, b: int = 2, /):
        pass

    schema = function_schema(f)
    assert schema.validate({"b": 5}) == ([1, 5], {})
    assert schema.validate({}) == ([], {})


def test_validated_arguments_call_the_function():
    def add(a: int, /, b: int = 10) -> int:
        return a + b

    schema = function_schema(add)
    args, kwargs = schema.validate('{"a": "2"}')
    assert schema.function(*args, **kwargs) == 12


def test_parameters_named_like_pydantic_attributes():
    def f(model_config: str, schema: int, _private: bool = False):
        pass

    schema = function_schema(f)
    assert list(schema.parameters["properties"]) == ["model_config", "schema", "_private"]
    assert schema.validate({"model_config": "x", "schema": 1, "_private": True}) == (
        [], {"model_config": "x", "schema": 1, "_private": True})


# ---- loading stays light


def test_importing_the_module_does_not_import_pydantic():
    code = "import wenxin_magic.session._tool_schema, sys; assert 'pydantic' not in sys.modules"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
