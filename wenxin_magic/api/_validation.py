"""The service's request rules, checked before anything is sent.

The emulator runs the same checks to answer with the service's error codes,
so each failure carries both a message for people (``message``: the field, the
allowed values, the model) and the text the service itself sends
(``wire_message``).
"""

from __future__ import annotations

import json
import math
import re
import sys

from ._errors import InvalidRequestError
from ._registry import COMPLETION, ModelSpec

# Fields the service takes on every endpoint that are not model parameters.
_TRANSPORT_FIELDS = frozenset({"messages", "prompt", "stream", "extra_parameters", "request_id"})

KNOWN_PARAMS = frozenset({
    "stream", "user_id", "temperature", "top_p", "top_k", "penalty_score", "system", "stop",
    "max_output_tokens", "min_output_tokens", "functions", "tool_choice", "disable_search",
    "enable_citation", "enable_trace", "response_format", "user_setting", "enable_system_memory",
    "system_memory_id", "frequency_penalty", "presence_penalty",
})

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
_ENDPOINT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")


def check_endpoint_name(endpoint) -> None:
    """A deployed service's API address is one path segment of letters, digits, '_', '-', '.'."""
    if not isinstance(endpoint, str) or not _ENDPOINT_NAME.match(endpoint):
        raise InvalidRequestError(
            f"Endpoint {endpoint!r} is not a valid API address: use the name you gave the service when you "
            "deployed it (letters, digits, '_', '-', '.').", field="endpoint")


def estimate_tokens(text: str) -> int:
    """The service's published local estimate: 0.625 per CJK character plus one per word."""
    if not text:
        return 0
    han = len(_CJK.findall(text))
    words = len(_CJK.sub(" ", text).split())
    return int(han * 0.625 + words)


def _fail(code: int, message: str, *, wire: str | None = None, field: str | None = None,
          allowed: str | None = None, model: str | None = None) -> InvalidRequestError:
    err = InvalidRequestError(message, code=code, field=field, allowed=allowed, model=model)
    err.wire_message = wire or message
    return err


def _is_number(value) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    # math.isfinite overflows on ints too large for a float; every int is finite
    return isinstance(value, int) or math.isfinite(value)


def _fmt(value) -> str:
    try:
        text = repr(value)
    except ValueError:  # an int past Python's digit limit for str()
        return f"an integer of more than {sys.get_int_max_str_digits()} digits"
    return text if len(text) <= 40 else text[:37] + "..."


def _check_range(name, value, lo, hi, *, lo_open=False, model, integer=False):
    kind = "an integer" if integer else "a number"
    if integer:
        ok_type = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok_type = _is_number(value)
    lo_text = f"({lo}" if lo_open else f"[{lo}"
    hi_text = "∞)" if hi is None else f"{hi}]"
    allowed = f"{kind} in {lo_text}, {hi_text}"
    if not ok_type:
        raise _fail(336003, f"`{name}` must be {allowed}, got {_fmt(value)} (model {model}).",
                    wire=f"invalid {name}", field=name, allowed=allowed, model=model)
    too_low = value <= lo if lo_open else value < lo
    too_high = hi is not None and value > hi
    if too_low or too_high:
        raise _fail(336003, f"`{name}` must be {allowed}, got {_fmt(value)} (model {model}).",
                    wire=f"{name} out of range", field=name, allowed=allowed, model=model)


def _check_messages(messages, model: str) -> None:
    shape = ("alternating user and assistant messages, odd in count, "
             "starting and ending with a user message (function results take a user position)")
    if not isinstance(messages, list) or not messages:
        raise _fail(336006, f"`messages` must be a non-empty list of {shape}.",
                    wire="the length of messages must be an odd number", field="messages", allowed=shape, model=model)
    for index, message in enumerate(messages, start=1):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise _fail(336006, f"Message {index} must be a dict with a string `role` and `content`.",
                        wire="the length of messages must be an odd number", field="messages", allowed=shape,
                        model=model)
    if len(messages) % 2 == 0:
        raise _fail(336006, f"`messages` has {len(messages)} messages; it must be an odd number: {shape}.",
                    wire="the length of messages must be an odd number", field="messages", allowed=shape, model=model)
    for index, message in enumerate(messages, start=1):
        role = message["role"]
        if index == 1 and role == "function":
            raise _fail(336006, "The first message cannot be a function result; it must come from the user.",
                        wire="the role of first message can not be function", field="messages", allowed=shape,
                        model=model)
        if index % 2 == 1 and role not in ("user", "function"):
            raise _fail(336006, f"Message {index} has role {role!r}; odd positions must be 'user' (or 'function'). "
                        f"Expected {shape}.",
                        wire="the role of message with even index in the messages must be user or function",
                        field="messages", allowed=shape, model=model)
        if index % 2 == 0 and role != "assistant":
            raise _fail(336006, f"Message {index} has role {role!r}; even positions must be 'assistant'. "
                        f"Expected {shape}.",
                        wire="the role of message with odd index in the messages must be assistant",
                        field="messages", allowed=shape, model=model)
    for index, message in enumerate(messages, start=1):
        role, content = message["role"], message.get("content")
        if role == "function":
            name = message.get("name")
            if not isinstance(name, str) or not name.strip():
                raise _fail(336003, f"Message {index} is a function result and needs the function's `name`.",
                            wire="function_call's name can't be blank", field="messages.name", model=model)
            if content is not None and not isinstance(content, str):
                raise _fail(336003, f"Message {index}: `content` must be a string.", wire="invalid content",
                            field="messages.content", model=model)
            continue
        if role == "assistant" and content in (None, "") and isinstance(message.get("function_call"), dict):
            continue
        if not isinstance(content, str):
            raise _fail(336003, f"Message {index}: `content` must be a string, got {_fmt(content)}.",
                        wire="message content can not be empty", field="messages.content", model=model)
        if not content.strip() and (index == len(messages) or content == ""):
            raise _fail(336003, f"Message {index} ({role}) is empty; message content cannot be blank.",
                        wire="message content can not be empty", field="messages.content", model=model)


def _check_functions(functions, tool_choice, model: str) -> None:
    if not isinstance(functions, list) or not functions:
        raise _fail(336003, "`functions` must be a non-empty list of {name, description, parameters}.",
                    wire="invalid functions", field="functions", model=model)
    names = []
    for index, fn in enumerate(functions, start=1):
        if not isinstance(fn, dict):
            raise _fail(336003, f"Function {index} must be a dict with name, description and parameters.",
                        wire="invalid functions", field="functions", model=model)
        if not isinstance(fn.get("name"), str) or not fn["name"].strip():
            raise _fail(336003, f"Function {index} needs a `name`.", wire="function_call's name can't be blank",
                        field="functions.name", model=model)
        if not isinstance(fn.get("description"), str) or not fn["description"].strip():
            raise _fail(336003, f"Function {fn['name']!r} needs a `description`.",
                        wire="functions description can't be blank", field="functions.description", model=model)
        if not isinstance(fn.get("parameters"), dict):
            raise _fail(336003, f"Function {fn['name']!r} needs `parameters` as a JSON Schema object "
                        "(use {\"type\": \"object\", \"properties\": {}} for none).",
                        wire="functions parameters can't be blank", field="functions.parameters", model=model)
        names.append(fn["name"])
    if tool_choice is not None:
        chosen = tool_choice.get("function", {}).get("name") if isinstance(tool_choice, dict) else None
        if (not isinstance(tool_choice, dict) or tool_choice.get("type") != "function"
                or not isinstance(chosen, str)):
            raise _fail(336003, "`tool_choice` must be {\"type\": \"function\", \"function\": {\"name\": ...}}.",
                        wire="invalid tool_choice", field="tool_choice", model=model)
        if chosen not in names:
            raise _fail(336003, f"`tool_choice` names {chosen!r}, which is not among the functions {names}.",
                        wire="tool_choice function not found", field="tool_choice", allowed=", ".join(names),
                        model=model)


def _check_params(spec: ModelSpec, body: dict) -> None:
    model = spec.name
    for name in body:
        if name in _TRANSPORT_FIELDS:
            continue
        if name not in spec.params:
            accepted = ", ".join(sorted(spec.params - {"stream"}))
            if name in KNOWN_PARAMS:
                message = f"{model} does not accept `{name}`. It accepts: {accepted}."
            else:
                message = f"Unknown parameter `{name}`. {model} accepts: {accepted}."
            raise _fail(336003, message, wire=f"the field {name} is not supported", field=name,
                        allowed=accepted, model=model)
    if "temperature" in body:
        _check_range("temperature", body["temperature"], 0, 1, lo_open=True, model=model)
    if "top_p" in body:
        _check_range("top_p", body["top_p"], 0, 1, model=model)
    if "penalty_score" in body:
        _check_range("penalty_score", body["penalty_score"], 1, 2, model=model)
    if "top_k" in body:
        _check_range("top_k", body["top_k"], 1, None, model=model, integer=True)
    for name in ("frequency_penalty", "presence_penalty"):
        if name in body:
            _check_range(name, body[name], -2, 2, model=model)
    if "max_output_tokens" in body:
        lo, hi = spec.max_output_tokens or (2, 2048)
        _check_range("max_output_tokens", body["max_output_tokens"], lo, hi, model=model, integer=True)
    if "min_output_tokens" in body:
        hi = body.get("max_output_tokens") if isinstance(body.get("max_output_tokens"), int) else 2048
        _check_range("min_output_tokens", body["min_output_tokens"], 2, hi, model=model, integer=True)
    if "stop" in body:
        stop = body["stop"]
        allowed = "a list of at most 4 strings, each at most 20 characters"
        if (not isinstance(stop, list) or len(stop) > 4
                or not all(isinstance(s, str) and 0 < len(s) <= 20 for s in stop)):
            raise _fail(336003, f"`stop` must be {allowed}, got {_fmt(stop)} (model {model}).",
                        wire="invalid stop", field="stop", allowed=allowed, model=model)
    for name in ("disable_search", "enable_citation", "enable_trace", "enable_system_memory"):
        if name in body and not isinstance(body[name], bool):
            raise _fail(336003, f"`{name}` must be true or false, got {_fmt(body[name])}.",
                        wire=f"invalid {name}", field=name, allowed="true or false", model=model)
    if "stream" in body and not isinstance(body["stream"], bool):
        raise _fail(336003, f"`stream` must be true or false, got {_fmt(body['stream'])}.", wire="invalid stream",
                    field="stream", allowed="true or false", model=model)
    if "response_format" in body and body["response_format"] not in ("text", "json_object"):
        raise _fail(336003, f"`response_format` must be 'text' or 'json_object', got {_fmt(body['response_format'])}.",
                    wire="invalid response_format", field="response_format", allowed="text, json_object",
                    model=model)
    for name in ("system", "user_id", "system_memory_id"):
        if name in body and not isinstance(body[name], str):
            raise _fail(336003, f"`{name}` must be a string, got {_fmt(body[name])}.", wire=f"invalid {name}",
                        field=name, allowed="a string", model=model)
    if "functions" in body or "tool_choice" in body:
        if "functions" not in body:
            raise _fail(336003, "`tool_choice` needs `functions` to choose from.", wire="invalid tool_choice",
                        field="tool_choice", model=model)
        _check_functions(body["functions"], body.get("tool_choice"), model)


def input_size(body: dict) -> tuple[int, int]:
    """(characters, estimated tokens) of what counts against the input limit."""
    texts = []
    if isinstance(body.get("prompt"), str):
        texts.append(body["prompt"])
    for message in body.get("messages") or ():
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            texts.append(content)
    if isinstance(body.get("system"), str):
        texts.append(body["system"])
    if body.get("functions"):
        texts.append(json.dumps(body["functions"], ensure_ascii=False))
    chars = sum(len(t) for t in texts)
    tokens = sum(estimate_tokens(t) for t in texts)
    return chars, tokens


def _surrogate_in(value) -> tuple[str, int] | None:
    """(the text, the offset) of the first lone surrogate anywhere in ``value``."""
    if isinstance(value, str):
        match = _SURROGATE.search(value)
        return (value, match.start()) if match else None
    items = value.items() if isinstance(value, dict) else value if isinstance(value, (list, tuple)) else ()
    for item in items:
        found = _surrogate_in(item)
        if found:
            return found
    return None


def check_encodable(body: dict, model: str | None = None) -> None:
    """Lone surrogates cannot be encoded as UTF-8: say where one is instead of failing inside the send."""
    for name, value in body.items():
        found = _surrogate_in(value)
        if not found:
            continue
        text, at = found
        where = f"`{name}`"
        if name == "messages" and isinstance(value, list):
            index = next(i for i, m in enumerate(value, start=1) if _surrogate_in(m))
            where = f"Message {index}"
        # ascii() shows the bad character as an escape: printing it raw would fail the same way
        raise _fail(336003, f"{where} contains {ascii(text[at])} at character {at}, a lone surrogate that is not "
                    "valid Unicode and cannot be sent. It usually comes from text decoded with "
                    "errors='surrogateescape' (file names, command output): decode it with the right encoding, or "
                    "clean it with text.encode('utf-8', 'replace').decode('utf-8').",
                    wire="Invalid JSON", field="messages" if name == "messages" else name,
                    allowed="valid Unicode text", model=model)


def validate_request(spec: ModelSpec, body: dict) -> None:
    """Raise InvalidRequestError, with the service's code, if ``body`` breaks a rule for ``spec``."""
    model = spec.name
    check_encodable(body, model)
    if spec.kind == COMPLETION:
        prompt = body.get("prompt")
        if not isinstance(prompt, str) or not prompt.strip():
            raise _fail(336003, f"`prompt` must be a non-empty string for the text-continuation model {model}.",
                        wire="prompt can not be empty", field="prompt", allowed="a non-empty string", model=model)
        if "messages" in body:
            raise _fail(336003, f"{model} continues text: send `prompt`, not `messages`.",
                        wire="the field messages is not supported", field="messages", model=model)
    else:
        if "prompt" in body:
            raise _fail(336003, f"{model} is a chat model: send `messages`, not `prompt`.",
                        wire="the field prompt is not supported", field="prompt", model=model)
        _check_messages(body.get("messages"), model)
    _check_params(spec, body)
    chars, tokens = input_size(body)
    if chars > spec.max_input_chars:
        raise _fail(336007, f"The input is {chars} characters; {model} accepts at most {spec.max_input_chars} "
                    "(all message contents, system and functions together). Start a new conversation or drop old turns.",
                    wire=f"the max input characters is {spec.max_input_chars}", field="messages",
                    allowed=f"at most {spec.max_input_chars} characters", model=model)
    if spec.max_input_tokens is not None and tokens > spec.max_input_tokens:
        raise _fail(336103, f"The input is about {tokens} tokens; {model} accepts at most {spec.max_input_tokens}. "
                    "Start a new conversation or drop old turns.",
                    wire="Prompt tokens too long", field="messages",
                    allowed=f"at most {spec.max_input_tokens} tokens", model=model)
