"""The request parameters: one rule per parameter, written once (v1's names; v2 borrows the shared ranges).

Validation (by the client and by the emulator) and any command line read their
types, ranges and choices from ``PARAMETERS``, so a range is never written twice.

A parameter's ``kind`` says what it takes:

* ``number``: a finite number (not a bool) in [low, high], or (low, high] with ``low_open``
* ``integer``: a whole number (not a bool) in the same kind of range
* ``boolean``: true or false
* ``string``: a string
* ``choice``: one of ``choices``
* ``stop``: a list of at most ``max_items`` strings of 1 to ``max_chars`` characters
* ``functions``: a non-empty list of function definitions (name, description, parameters)
* ``tool_choice``: ``{"type": "function", "function": {"name": ...}}``
* ``object``: anything; the service judges it
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass

# The ranges are v1's own, so a value out of one is reported in v1's code; v2's rules recode it.
from ._v1._codes import v1_invalid as invalid

NUMBER = "number"
INTEGER = "integer"
BOOLEAN = "boolean"
STRING = "string"
CHOICE = "choice"
STOP = "stop"
FUNCTIONS = "functions"
TOOL_CHOICE = "tool_choice"
OBJECT = "object"

_NUMERIC = (NUMBER, INTEGER)

# parameter name -> the v1 models that accept it, filled in by the model table, which reads this one (and so
# cannot be imported from here).
ACCEPTED_BY: dict[str, tuple[str, ...]] = {}


def preview(value) -> str:
    """``repr(value)`` cut to 40 characters, for messages."""
    try:
        text = repr(value)
    except ValueError:  # an int past Python's digit limit for str()
        return f"an integer of more than {sys.get_int_max_str_digits()} digits"
    return text if len(text) <= 40 else text[:37] + "..."


def _is_number(value) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    # math.isfinite overflows on ints too large for a float; every int is finite
    return isinstance(value, int) or math.isfinite(value)


def _is_integer(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _interval(low, high, low_open: bool, unbounded: str = "∞)") -> str:
    return f"{'(' if low_open else '['}{low}, {unbounded if high is None else f'{high}]'}"


@dataclass(frozen=True)
class Parameter:
    """One request parameter: what it takes (see the module's notes on ``kind``) and what it means.

    ``low``/``high`` bound numeric kinds (None: unbounded); ``option``/``short``
    are the command-line flags that set it, if any.
    """

    name: str
    kind: str
    doc: str
    low: int | float | None = None
    high: int | float | None = None
    low_open: bool = False
    choices: tuple[str, ...] = ()
    max_items: int | None = None
    max_chars: int | None = None
    needs: str | None = None  # another parameter this one is meaningless without
    option: str | None = None
    short: str | None = None

    @property
    def range_text(self) -> str:
        """The numeric range, e.g. ``(0, 1]`` or ``[1, ∞)``; empty for other kinds."""
        return _interval(self.low, self.high, self.low_open) if self.kind in _NUMERIC else ""

    @property
    def label(self) -> str:
        """How messages about a command-line value name it: the option, else the wire name."""
        return self.option or self.name

    def models(self) -> tuple[str, ...]:
        """Names of the registry models that accept this parameter."""
        return ACCEPTED_BY.get(self.name, ())

    # -- request values --------------------------------------------------------------------------
    def check(self, value, *, model: str, bounds: tuple | None = None) -> None:
        """Raise InvalidRequestError (code 336003) unless ``value`` is acceptable.

        ``bounds`` replaces (low, high) where the range depends on the model or
        on another parameter of the request.
        """
        if self.kind in _NUMERIC:
            low, high = bounds or (self.low, self.high)
            self._check_range(value, low, high, model)
        else:
            _CHECKS[self.kind](self, value, model)

    def _check_range(self, value, low, high, model: str) -> None:
        integer = self.kind == INTEGER
        allowed = f"{'an integer' if integer else 'a number'} in {_interval(low, high, self.low_open)}"
        message = f"`{self.name}` must be {allowed}, got {preview(value)} (model {model})."
        if not (_is_integer(value) if integer else _is_number(value)):
            raise invalid(336003, message, wire=f"invalid {self.name}", field=self.name, allowed=allowed, model=model)
        too_low = value <= low if self.low_open else value < low
        if too_low or (high is not None and value > high):
            raise invalid(336003, message, wire=f"{self.name} out of range", field=self.name, allowed=allowed,
                          model=model)

    def _check_boolean(self, value, model: str) -> None:
        if not isinstance(value, bool):
            raise invalid(336003, f"`{self.name}` must be true or false, got {preview(value)}.",
                          wire=f"invalid {self.name}", field=self.name, allowed="true or false", model=model)

    def _check_string(self, value, model: str) -> None:
        if not isinstance(value, str):
            raise invalid(336003, f"`{self.name}` must be a string, got {preview(value)}.", wire=f"invalid {self.name}",
                          field=self.name, allowed="a string", model=model)

    def _check_choice(self, value, model: str) -> None:
        if value not in self.choices:
            spelled = " or ".join(repr(choice) for choice in self.choices)
            raise invalid(336003, f"`{self.name}` must be {spelled}, got {preview(value)}.",
                          wire=f"invalid {self.name}", field=self.name, allowed=", ".join(self.choices), model=model)

    def _check_stop(self, value, model: str) -> None:
        allowed = f"a list of at most {self.max_items} strings, each at most {self.max_chars} characters"
        fits = (isinstance(value, list) and len(value) <= self.max_items
                and all(isinstance(text, str) and 0 < len(text) <= self.max_chars for text in value))
        if not fits:
            raise invalid(336003, f"`{self.name}` must be {allowed}, got {preview(value)} (model {model}).",
                          wire=f"invalid {self.name}", field=self.name, allowed=allowed, model=model)

    def _check_functions(self, value, model: str) -> None:
        if not isinstance(value, list) or not value:
            raise invalid(336003, "`functions` must be a non-empty list of {name, description, parameters}.",
                          wire="invalid functions", field="functions", model=model)
        for index, function in enumerate(value, start=1):
            _check_function(index, function, model)

    def _check_tool_choice(self, value, model: str) -> None:
        if value is None:  # null is no choice at all, the same as leaving it out
            return
        function = value.get("function") if isinstance(value, dict) else None
        if (not isinstance(value, dict) or value.get("type") != "function"
                or not isinstance(function, dict) or not isinstance(function.get("name"), str)):
            raise invalid(336003, "`tool_choice` must be {\"type\": \"function\", \"function\": {\"name\": ...}}.",
                          wire="invalid tool_choice", field="tool_choice", model=model)

    def _check_nothing(self, value, model: str) -> None:
        pass

    # -- command-line words ------------------------------------------------------------------------
    def parse(self, text: str):
        """The value a command-line word stands for; ValueError naming the option and what it takes."""
        if self.kind == NUMBER:
            return self._parse_number(text)
        if self.kind == INTEGER:
            return self._parse_integer(text)
        if self.kind == STOP:
            return self._parse_stop(text)
        if self.kind == CHOICE and text not in self.choices:
            raise ValueError(f"{self.label} takes one of {', '.join(self.choices)}, got {text!r}")
        if self.kind in (STRING, CHOICE):
            return text
        raise ValueError(f"{self.label} cannot be given as a single word")

    def _parse_number(self, text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"{self.label} takes a number, got {text!r}") from None
        low_bad = self.low is not None and (value <= self.low if self.low_open else value < self.low)
        if low_bad or (self.high is not None and value > self.high) or not math.isfinite(value):
            raise ValueError(f"{self.label} must be in {self._option_range()}, got {text}")
        return value

    def _parse_integer(self, text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise ValueError(f"{self.label} takes a whole number, got {text!r}") from None
        low_bad = self.low is not None and (value <= self.low if self.low_open else value < self.low)
        if low_bad or (self.high is not None and value > self.high):
            raise ValueError(f"{self.label} must be in {self._option_range()}, got {text}")
        return value

    def _parse_stop(self, text: str) -> str:
        if not 0 < len(text) <= self.max_chars:
            raise ValueError(f"{self.label} takes at most {self.max_items} texts, each 1 to {self.max_chars} "
                             f"characters, got {text!r}")
        return text

    def _option_range(self) -> str:
        # the command line has always written an unbounded top as "∞]"; kept so its messages stay the same
        return _interval(self.low, self.high, self.low_open, unbounded="∞]")


def _check_function(index: int, function, model: str) -> None:
    if not isinstance(function, dict):
        raise invalid(336003, f"Function {index} must be a dict with name, description and parameters.",
                      wire="invalid functions", field="functions", model=model)
    name = function.get("name")
    if not isinstance(name, str) or not name.strip():
        raise invalid(336003, f"Function {index} needs a `name`.", wire="function_call's name can't be blank",
                      field="functions.name", model=model)
    description = function.get("description")
    if not isinstance(description, str) or not description.strip():
        raise invalid(336003, f"Function {name!r} needs a `description`.",
                      wire="functions description can't be blank", field="functions.description", model=model)
    if not isinstance(function.get("parameters"), dict):
        raise invalid(336003, f"Function {name!r} needs `parameters` as a JSON Schema object "
                      "(use {\"type\": \"object\", \"properties\": {}} for none).",
                      wire="functions parameters can't be blank", field="functions.parameters", model=model)


_CHECKS = {
    BOOLEAN: Parameter._check_boolean,
    STRING: Parameter._check_string,
    CHOICE: Parameter._check_choice,
    STOP: Parameter._check_stop,
    FUNCTIONS: Parameter._check_functions,
    TOOL_CHOICE: Parameter._check_tool_choice,
    OBJECT: Parameter._check_nothing,
}

# Checked in this order, so when a request breaks several rules the first one here is reported.
PARAMETERS: dict[str, Parameter] = {p.name: p for p in (
    Parameter("temperature", NUMBER, "sampling temperature: higher is more varied, lower more focused",
              low=0, high=1, low_open=True, option="--temperature", short="-t"),
    Parameter("top_p", NUMBER, "nucleus sampling: draw from the likeliest words that make up this share",
              low=0, high=1, option="--top-p"),
    Parameter("penalty_score", NUMBER, "repetition penalty: higher repeats less", low=1, high=2,
              option="--penalty"),
    Parameter("top_k", INTEGER, "draw only from the k likeliest next words", low=1, option="--top-k"),
    Parameter("frequency_penalty", NUMBER, "penalise words by how often they have appeared so far",
              low=-2, high=2),
    Parameter("presence_penalty", NUMBER, "penalise words that have appeared at all, favouring new topics",
              low=-2, high=2),
    Parameter("max_output_tokens", INTEGER, "the most tokens the answer may have", low=2, high=2048,
              option="--max-tokens"),
    Parameter("min_output_tokens", INTEGER, "the fewest tokens the answer may have", low=2, high=2048),
    Parameter("stop", STOP, "texts that end the answer where the model writes them", max_items=4, max_chars=20,
              option="--stop"),
    Parameter("disable_search", BOOLEAN, "answer without searching the web"),
    Parameter("enable_citation", BOOLEAN, "mark which search result each part of the answer comes from"),
    Parameter("enable_trace", BOOLEAN, "return the search results the answer drew on"),
    Parameter("enable_system_memory", BOOLEAN, "use the stored system memory named by system_memory_id"),
    Parameter("stream", BOOLEAN, "send the answer in pieces as it is written"),
    Parameter("response_format", CHOICE, "answer as plain text or as a JSON object",
              choices=("text", "json_object")),
    Parameter("system", STRING, "the system prompt: who the model is and how it should answer"),
    Parameter("user_id", STRING, "an id of the end user, for abuse monitoring"),
    Parameter("system_memory_id", STRING, "the id of the stored system memory to use"),
    Parameter("functions", FUNCTIONS, "functions the model may ask the caller to run"),
    Parameter("tool_choice", TOOL_CHOICE, "make the model call this one of the functions", needs="functions"),
    Parameter("user_setting", OBJECT, "settings about the user, passed to the model as given"),
)}
