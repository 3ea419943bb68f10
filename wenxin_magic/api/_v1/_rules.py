"""v1's request rules, checked before anything is sent.

The emulator runs the same checks to answer with the service's error codes,
so each failure carries both a message for people (``message``: the field, the
allowed values, the model) and the text the service itself sends
(``wire_message``).
"""

from __future__ import annotations

import re

from .._errors import InvalidRequestError
from .._parameters import PARAMETERS, Parameter, preview
from .._text import input_size, unencodable
from ._codes import v1_invalid as invalid
from ._models import COMPLETION, ModelSpec

# Fields the service takes on every endpoint that are not model parameters.
_TRANSPORT_FIELDS = frozenset({"messages", "prompt", "stream", "extra_parameters", "request_id"})

_ENDPOINT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")

_SHAPE = ("alternating user and assistant messages, odd in count, "
          "starting and ending with a user message (function results take a user position)")
_ODD_COUNT = "the length of messages must be an odd number"


def check_endpoint_name(endpoint) -> None:
    """A deployed service's API address is one path segment of letters, digits, '_', '-', '.'."""
    if not isinstance(endpoint, str) or not _ENDPOINT_NAME.match(endpoint):
        raise InvalidRequestError(
            f"Endpoint {endpoint!r} is not a valid API address: use the name you gave the service when you "
            "deployed it (letters, digits, '_', '-', '.').", field="endpoint")


# -- messages --------------------------------------------------------------------------------------------

def _check_messages(messages, model: str) -> None:
    _check_message_list(messages, model)
    _check_roles(messages, model)
    for index, message in enumerate(messages, start=1):
        _check_content(index, message, index == len(messages), model)


def _check_message_list(messages, model: str) -> None:
    if not isinstance(messages, list) or not messages:
        raise invalid(336006, f"`messages` must be a non-empty list of {_SHAPE}.", wire=_ODD_COUNT,
                      field="messages", allowed=_SHAPE, model=model)
    for index, message in enumerate(messages, start=1):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise invalid(336006, f"Message {index} must be a dict with a string `role` and `content`.",
                          wire=_ODD_COUNT, field="messages", allowed=_SHAPE, model=model)
    if len(messages) % 2 == 0:
        raise invalid(336006, f"`messages` has {len(messages)} messages; it must be an odd number: {_SHAPE}.",
                      wire=_ODD_COUNT, field="messages", allowed=_SHAPE, model=model)


def _check_roles(messages: list, model: str) -> None:
    for index, message in enumerate(messages, start=1):
        role = message["role"]
        if index == 1 and role == "function":
            raise invalid(336006, "The first message cannot be a function result; it must come from the user.",
                          wire="the role of first message can not be function", field="messages", allowed=_SHAPE,
                          model=model)
        if index % 2 == 1 and role not in ("user", "function"):
            raise invalid(336006, f"Message {index} has role {role!r}; odd positions must be 'user' (or "
                          f"'function'). Expected {_SHAPE}.",
                          wire="the role of message with even index in the messages must be user or function",
                          field="messages", allowed=_SHAPE, model=model)
        if index % 2 == 0 and role != "assistant":
            raise invalid(336006, f"Message {index} has role {role!r}; even positions must be 'assistant'. "
                          f"Expected {_SHAPE}.",
                          wire="the role of message with odd index in the messages must be assistant",
                          field="messages", allowed=_SHAPE, model=model)


def _check_content(index: int, message: dict, last: bool, model: str) -> None:
    role, content = message["role"], message.get("content")
    if role == "function":
        _check_function_result(index, message, model)
        return
    if role == "assistant" and content in (None, "") and isinstance(message.get("function_call"), dict):
        return  # an assistant turn that only called a function
    if not isinstance(content, str):
        raise invalid(336003, f"Message {index}: `content` must be a string, got {preview(content)}.",
                      wire="message content can not be empty", field="messages.content", model=model)
    # the service lets a blank earlier turn through, but never an empty one or a blank question
    if not content.strip() and (last or content == ""):
        raise invalid(336003, f"Message {index} ({role}) is empty; message content cannot be blank.",
                      wire="message content can not be empty", field="messages.content", model=model)


def _check_function_result(index: int, message: dict, model: str) -> None:
    name, content = message.get("name"), message.get("content")
    if not isinstance(name, str) or not name.strip():
        raise invalid(336003, f"Message {index} is a function result and needs the function's `name`.",
                      wire="function_call's name can't be blank", field="messages.name", model=model)
    if content is not None and not isinstance(content, str):
        raise invalid(336003, f"Message {index}: `content` must be a string.", wire="invalid content",
                      field="messages.content", model=model)


# -- parameters ------------------------------------------------------------------------------------------

def _check_params(spec: ModelSpec, body: dict) -> None:
    _check_accepted(spec, body)
    _check_values(spec, body)


def _check_accepted(spec: ModelSpec, body: dict) -> None:
    model = spec.name
    for name in body:
        if name in _TRANSPORT_FIELDS or name in spec.params:
            continue
        accepted = ", ".join(sorted(spec.params - {"stream"}))
        if name in PARAMETERS:
            message = f"{model} does not accept `{name}`. It accepts: {accepted}."
        else:
            message = f"Unknown parameter `{name}`. {model} accepts: {accepted}."
        raise invalid(336003, message, wire=f"the field {name} is not supported", field=name, allowed=accepted,
                      model=model)


def _check_values(spec: ModelSpec, body: dict) -> None:
    model = spec.name
    for param in PARAMETERS.values():
        if param.name not in body:
            continue
        if param.needs and param.needs not in body:
            raise invalid(336003, f"`{param.name}` needs `{param.needs}` to choose from.",
                          wire=f"invalid {param.name}", field=param.name, model=model)
        param.check(body[param.name], model=model, bounds=_bounds(param, spec, body))
    if body.get("tool_choice") is not None:
        _check_choice_is_offered(body["tool_choice"], body["functions"], model)


def _bounds(param: Parameter, spec: ModelSpec, body: dict) -> tuple | None:
    """The range of a parameter whose limits depend on the model or on the rest of the request."""
    if param.name == "max_output_tokens":
        return spec.max_output_tokens
    if param.name == "min_output_tokens" and isinstance(body.get("max_output_tokens"), int):
        return param.low, body["max_output_tokens"]
    return None


def _check_choice_is_offered(tool_choice: dict, functions: list, model: str) -> None:
    names = [function["name"] for function in functions]
    chosen = tool_choice["function"]["name"]
    if chosen not in names:
        raise invalid(336003, f"`tool_choice` names {chosen!r}, which is not among the functions {names}.",
                      wire="tool_choice function not found", field="tool_choice", allowed=", ".join(names),
                      model=model)


def check_encodable(body: dict, model: str | None = None) -> None:
    """Lone surrogates cannot be encoded as UTF-8: say where one is instead of failing inside the send."""
    found = unencodable(body)
    if found:
        message, field = found
        raise invalid(336003, message, wire="Invalid JSON", field=field, allowed="valid Unicode text", model=model)


def validate_request(spec: ModelSpec, body: dict) -> None:
    """Raise InvalidRequestError, with the service's code, if ``body`` breaks a rule for ``spec``."""
    check_encodable(body, spec.name)
    if spec.kind == COMPLETION:
        _check_prompt(spec.name, body)
    else:
        _check_chat(spec.name, body)
    _check_params(spec, body)
    _check_input_size(spec, body)


def _check_prompt(model: str, body: dict) -> None:
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise invalid(336003, f"`prompt` must be a non-empty string for the text-continuation model {model}.",
                      wire="prompt can not be empty", field="prompt", allowed="a non-empty string", model=model)
    if "messages" in body:
        raise invalid(336003, f"{model} continues text: send `prompt`, not `messages`.",
                      wire="the field messages is not supported", field="messages", model=model)


def _check_chat(model: str, body: dict) -> None:
    if "prompt" in body:
        raise invalid(336003, f"{model} is a chat model: send `messages`, not `prompt`.",
                      wire="the field prompt is not supported", field="prompt", model=model)
    _check_messages(body.get("messages"), model)


def _check_input_size(spec: ModelSpec, body: dict) -> None:
    model = spec.name
    chars, tokens = input_size(body)
    if chars > spec.max_input_chars:
        raise invalid(336007, f"The input is {chars} characters; {model} accepts at most {spec.max_input_chars} "
                      "(all message contents, system and functions together). Start a new conversation or drop "
                      "old turns.",
                      wire=f"the max input characters is {spec.max_input_chars}", field="messages",
                      allowed=f"at most {spec.max_input_chars} characters", model=model)
    if spec.max_input_tokens is not None and tokens > spec.max_input_tokens:
        raise invalid(336103, f"The input is about {tokens} tokens; {model} accepts at most "
                      f"{spec.max_input_tokens}. Start a new conversation or drop old turns.",
                      wire="Prompt tokens too long", field="messages",
                      allowed=f"at most {spec.max_input_tokens} tokens", model=model)
