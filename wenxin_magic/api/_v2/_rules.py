"""The v2 service's request rules (``POST /v2/chat/completions``), checked before sending.

Each failure is an InvalidRequestError with the v2 string ``code``, HTTP ``status`` 400,
``wire_message`` the service's text and ``message`` a text for people naming the field,
what is allowed and the model. The emulator runs the same checks.
"""

from __future__ import annotations

from .._errors import InvalidRequestError
from .._parameters import PARAMETERS, preview
from .._text import input_size, text_of, unencodable
from ._models import UNKNOWN_V2, V2_PARAMETERS, V2ModelSpec, find_v2_model

INVALID_ARGUMENT = "invalid_argument"
INVALID_MESSAGES = "invalid_messages"
INVALID_MODEL = "invalid_model"
MALFORMED_JSON = "malformed_json"
CHARACTERS_TOO_LONG = "characters_too_long"
TOKENS_TOO_LONG = "tokens_too_long"

ROLES = ("system", "user", "assistant", "tool")
_SHAPE = ("an optional system message first, then user and assistant messages taking turns, starting with user "
          "and ending with user (tool results follow an assistant message that has tool_calls)")
_SHARED_RANGES = ("temperature", "top_p", "penalty_score", "frequency_penalty", "presence_penalty")
_WEB_SEARCH_FLAGS = ("enable", "enable_citation", "enable_trace", "enable_status")
_WEB_SEARCH_COUNTS = ("search_number", "reference_number")
_TOOL_CHOICE_WORDS = ("auto", "none", "required")
_FORMATS = ("text", "json_object")
MAX_STOP = 4


def v2_invalid(code: str, message: str, *, wire: str, field: str | None = None, allowed: str | None = None,
               model: str | None = None) -> InvalidRequestError:
    """A v2 rule broken: ``message`` for people, ``wire`` the service's own text; HTTP 400."""
    return InvalidRequestError(message, code=code, status=400, field=field, allowed=allowed, model=model,
                               wire_message=wire)


def _recode(error: InvalidRequestError, code: str) -> InvalidRequestError:
    """A v1 rule's error (a shared parameter range) with v2's code and status."""
    return v2_invalid(code, error.message, wire=error.wire_message, field=error.field, allowed=error.allowed,
                      model=error.model)


def validate_v2_request(body, spec: V2ModelSpec | None = None) -> None:
    """Raise InvalidRequestError (v2 ``code``, ``status`` 400) if ``body`` breaks a v2 rule.

    ``spec`` defaults to the table's model named in the body, or ``UNKNOWN_V2``.
    """
    if not isinstance(body, dict):
        raise v2_invalid(MALFORMED_JSON, f"The request body must be a JSON object, got {preview(body)}.",
                         wire="Invalid Argument", allowed="a JSON object")
    model = _check_model(body.get("model"))
    spec = spec or find_v2_model(model) or UNKNOWN_V2
    check_encodable(body, model)
    _check_messages(body.get("messages"), model)
    _check_accepted(spec, body, model)
    _check_values(spec, body, model)
    _check_input_size(spec, body, model)


def check_encodable(body: dict, model: str | None = None) -> None:
    """Lone surrogates cannot be encoded as UTF-8: say where one is instead of failing inside the send."""
    found = unencodable(body)
    if found:
        message, field = found
        raise v2_invalid(MALFORMED_JSON, message, wire="Invalid JSON", field=field, allowed="valid Unicode text",
                         model=model)


def _check_model(model) -> str:
    if not isinstance(model, str) or not model.strip():
        raise v2_invalid(INVALID_MODEL, f"`model` must name a model (e.g. ernie-speed-8k), got {preview(model)}.",
                         wire="model is empty", field="model", allowed="a model id such as ernie-speed-8k")
    return model


# -- messages ----------------------------------------------------------------------------------------------

def _bad_messages(message: str, wire: str, model: str, field: str = "messages") -> InvalidRequestError:
    return v2_invalid(INVALID_MESSAGES, message, wire=wire, field=field, allowed=_SHAPE, model=model)


def _check_messages(messages, model: str) -> None:
    if not isinstance(messages, list) or not messages:
        raise _bad_messages(f"`messages` must be a non-empty list: {_SHAPE} (model {model}).",
                            "messages is empty", model)
    for index, message in enumerate(messages, start=1):
        _check_message(index, message, model)
    _check_order(messages, model)


def _check_message(index: int, message, model: str) -> None:
    if not isinstance(message, dict) or message.get("role") not in ROLES:
        role = message.get("role") if isinstance(message, dict) else None
        raise _bad_messages(f"Message {index} must be a dict whose `role` is one of {', '.join(ROLES)}, got "
                            f"{preview(role if isinstance(message, dict) else message)} (model {model}).",
                            f"invalid role of message {index}", model, "messages.role")
    if "reasoning_content" in message:
        raise _bad_messages(f"Message {index} carries `reasoning_content`; the service rejects reasoning sent back "
                            f"in the history. Send only `content` (model {model}).",
                            "reasoning_content is not allowed in messages", model, "messages.reasoning_content")
    _check_content(index, message, model)
    if message["role"] == "tool":
        _check_tool_result(index, message, model)
    elif message["role"] == "assistant" and "tool_calls" in message:
        _check_tool_calls(index, message["tool_calls"], model)


def _check_content(index: int, message: dict, model: str) -> None:
    role, content = message["role"], message.get("content")
    if role == "assistant" and message.get("tool_calls") and content in (None, ""):
        return  # an assistant turn that only called tools
    text = text_of(content)
    if text is None:
        raise _bad_messages(f"Message {index} ({role}): `content` must be a string, got {preview(content)} "
                            f"(model {model}).", "message content must be a string", model, "messages.content")
    if role != "tool" and not text.strip() and not isinstance(content, list):
        raise _bad_messages(f"Message {index} ({role}) is empty; message content cannot be blank (model {model}).",
                            "message content can not be empty", model, "messages.content")


def _check_tool_result(index: int, message: dict, model: str) -> None:
    call_id = message.get("tool_call_id")
    if not isinstance(call_id, str) or not call_id:
        raise _bad_messages(f"Message {index} is a tool result and needs `tool_call_id`, the id of the call it "
                            f"answers (model {model}).", "tool_call_id is required", model, "messages.tool_call_id")


def _check_tool_calls(index: int, calls, model: str) -> None:
    shape = '[{"id", "type": "function", "function": {"name", "arguments"}}]'
    fits = isinstance(calls, list) and calls and all(
        isinstance(call, dict) and isinstance(call.get("function"), dict)
        and isinstance(call["function"].get("name"), str) for call in calls)
    if not fits:
        raise _bad_messages(f"Message {index}: `tool_calls` must be {shape} (model {model}).",
                            "invalid tool_calls", model, "messages.tool_calls")


def _check_order(messages: list, model: str) -> None:
    """system first only; then user/assistant taking turns; tool results after an assistant's tool_calls."""
    previous = None  # the role before, with "calls" for an assistant message that called tools
    open_calls: set[str] = set()
    for index, message in enumerate(messages, start=1):
        role = message["role"]
        if role == "system" and index != 1:
            raise _bad_messages(f"Message {index} is a system message; only the first message may be one "
                                f"(model {model}).", "the system message must be the first", model)
        if role == "system":
            continue
        _check_follows(index, role, previous, model)
        if role == "tool":
            _check_answers_call(index, message, open_calls, model)
        elif role == "assistant" and message.get("tool_calls"):
            open_calls = {call.get("id") for call in message["tool_calls"] if call.get("id")}
        previous = "calls" if role == "assistant" and message.get("tool_calls") else role
    if previous not in ("user", "tool"):
        raise _bad_messages(f"The last message is {previous or 'the system message'}; it must be a user message "
                            f"(or a tool result). Expected {_SHAPE} (model {model}).",
                            "the last message must be from user", model)


# the roles each role may follow; None is the start (after an optional system message)
_MAY_FOLLOW = {"user": (None, "assistant", "tool"), "assistant": ("user", "tool"), "tool": ("calls", "tool")}


def _check_follows(index: int, role: str, previous, model: str) -> None:
    if previous in _MAY_FOLLOW[role]:
        return
    if previous == "calls":
        what = "an assistant message with tool_calls must be followed by tool results"
    elif role == "tool":
        what = "a tool result must follow an assistant message that has tool_calls"
    elif previous is None:
        what = "the conversation must start with a user message"
    else:
        what = f"a {role} message cannot follow a {previous} message"
    raise _bad_messages(f"Message {index} ({role}): {what}. Expected {_SHAPE} (model {model}).",
                        f"invalid role order at message {index}", model)


def _check_answers_call(index: int, message: dict, open_calls: set, model: str) -> None:
    if open_calls and message["tool_call_id"] not in open_calls:
        raise _bad_messages(f"Message {index}: `tool_call_id` {message['tool_call_id']!r} answers none of the calls "
                            f"{sorted(open_calls)} (model {model}).", "tool_call_id not found", model,
                            "messages.tool_call_id")


# -- parameters --------------------------------------------------------------------------------------------

# Fields the service takes beside the OpenAI ones: Baidu's own SDK sends extra_parameters with every request.
SERVICE_FIELDS = frozenset({"extra_parameters"})


def _check_accepted(spec: V2ModelSpec, body: dict, model: str) -> None:
    accepted = ", ".join(sorted(spec.params - {"model", "messages"}))
    for name in body:
        if name in spec.params or name in SERVICE_FIELDS:
            continue
        if name in V2_PARAMETERS:
            message = f"{model} does not accept `{name}`. It accepts: {accepted}."
        else:
            message = f"Unknown parameter `{name}`. {model} accepts: {accepted}."
        raise v2_invalid(INVALID_ARGUMENT, message, wire=f"the field {name} is not supported", field=name,
                         allowed=accepted, model=model)


def _check_values(spec: V2ModelSpec, body: dict, model: str) -> None:
    for name in _SHARED_RANGES:
        if name in body:
            try:
                PARAMETERS[name].check(body[name], model=model)
            except InvalidRequestError as error:
                raise _recode(error, INVALID_ARGUMENT) from None
    for name, check in _CHECKS.items():
        if name in body:
            check(body[name], spec, model)
    if body.get("tool_choice") is not None:
        _check_tool_choice(body["tool_choice"], body.get("tools"), model)


def _bad_value(name: str, allowed: str, value, model: str) -> InvalidRequestError:
    return v2_invalid(INVALID_ARGUMENT, f"`{name}` must be {allowed}, got {preview(value)} (model {model}).",
                      wire=f"invalid {name}", field=name, allowed=allowed, model=model)


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_max_tokens(value, spec: V2ModelSpec, model: str) -> None:
    allowed = f"an integer in [1, {spec.max_output_tokens}]"
    if not _is_int(value) or not 1 <= value <= spec.max_output_tokens:
        raise _bad_value("max_completion_tokens", allowed, value, model)


def _check_stop(value, spec, model: str) -> None:
    if not (isinstance(value, list) and len(value) <= MAX_STOP
            and all(isinstance(text, str) and text for text in value)):
        raise _bad_value("stop", f"a list of at most {MAX_STOP} non-empty strings", value, model)


def _check_bool(name: str):
    def check(value, spec, model: str) -> None:
        if not isinstance(value, bool):
            raise _bad_value(name, "true or false", value, model)
    return check


def _check_stream_options(value, spec, model: str) -> None:
    allowed = '{"include_usage": true or false}'
    if not isinstance(value, dict) or set(value) - {"include_usage"} or not isinstance(
            value.get("include_usage", False), bool):
        raise _bad_value("stream_options", allowed, value, model)


def _check_user(value, spec, model: str) -> None:
    if not isinstance(value, str):
        raise _bad_value("user", "a string", value, model)


def _check_seed(value, spec, model: str) -> None:
    if not _is_int(value):
        raise _bad_value("seed", "an integer", value, model)


def _check_tools(value, spec, model: str) -> None:
    allowed = '[{"type": "function", "function": {"name", "description", "parameters"}}]'
    if not isinstance(value, list) or not value:
        raise _bad_value("tools", "a non-empty list " + allowed, value, model)
    for index, tool in enumerate(value, start=1):
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(tool, dict) or tool.get("type") != "function" or not isinstance(function, dict):
            raise v2_invalid(INVALID_ARGUMENT, f"Tool {index} must be {allowed[1:-1]} (model {model}).",
                             wire="invalid tools", field="tools", allowed=allowed, model=model)
        _check_tool_function(index, function, model)


def _check_tool_function(index: int, function: dict, model: str) -> None:
    name = function.get("name")
    if not isinstance(name, str) or not name.strip():
        raise v2_invalid(INVALID_ARGUMENT, f"Tool {index} needs a function `name` (model {model}).",
                         wire="invalid tools", field="tools.function.name", allowed="a non-empty string", model=model)
    if "description" in function and not isinstance(function["description"], str):
        raise v2_invalid(INVALID_ARGUMENT, f"Tool {name!r}: `description` must be a string (model {model}).",
                         wire="invalid tools", field="tools.function.description", allowed="a string", model=model)
    if not isinstance(function.get("parameters"), dict):
        raise v2_invalid(INVALID_ARGUMENT, f"Tool {name!r} needs `parameters` as a JSON Schema object (use "
                         "{\"type\": \"object\", \"properties\": {}} for none) "
                         f"(model {model}).", wire="invalid tools", field="tools.function.parameters",
                         allowed="a JSON Schema object", model=model)


def _check_tool_choice(value, tools, model: str) -> None:
    allowed = 'auto, none, required, or {"type": "function", "function": {"name": ...}}'
    if isinstance(value, str):
        if value not in _TOOL_CHOICE_WORDS:
            raise _bad_value("tool_choice", allowed, value, model)
        return
    function = value.get("function") if isinstance(value, dict) else None
    if not isinstance(function, dict) or value.get("type") != "function" or not isinstance(function.get("name"),
                                                                                             str):
        raise _bad_value("tool_choice", allowed, value, model)
    names = [tool["function"]["name"] for tool in tools or ()]
    if function["name"] not in names:
        raise v2_invalid(INVALID_ARGUMENT, f"`tool_choice` names {function['name']!r}, which is not among the "
                         f"tools {names} (model {model}).", wire="tool_choice function not found",
                         field="tool_choice", allowed=", ".join(names), model=model)


def _check_web_search(value, spec, model: str) -> None:
    allowed = ('{"enable": bool, "enable_citation": bool, "enable_trace": bool} (also enable_status, '
               'search_mode auto|required, search_number, reference_number)')
    if not isinstance(value, dict):
        raise _bad_value("web_search", allowed, value, model)
    for key, item in value.items():
        fits = (isinstance(item, bool) if key in _WEB_SEARCH_FLAGS
                else item in ("auto", "required") if key == "search_mode"
                else _is_int(item) and item >= 0 if key in _WEB_SEARCH_COUNTS else False)
        if not fits:
            raise v2_invalid(INVALID_ARGUMENT, f"`web_search.{key}` is not valid ({preview(item)}); web_search takes "
                             f"{allowed} (model {model}).", wire="invalid web_search", field=f"web_search.{key}",
                             allowed=allowed, model=model)


def _check_response_format(value, spec, model: str) -> None:
    allowed = '{"type": "text"} or {"type": "json_object"}'
    if not isinstance(value, dict) or value.get("type") not in _FORMATS or set(value) - {"type"}:
        raise _bad_value("response_format", allowed, value, model)


_CHECKS = {
    "max_completion_tokens": _check_max_tokens,
    "stop": _check_stop,
    "stream": _check_bool("stream"),
    "stream_options": _check_stream_options,
    "user": _check_user,
    "seed": _check_seed,
    "tools": _check_tools,
    "parallel_tool_calls": _check_bool("parallel_tool_calls"),
    "web_search": _check_web_search,
    "response_format": _check_response_format,
    "enable_thinking": _check_bool("enable_thinking"),
}


# -- input size --------------------------------------------------------------------------------------------

def _check_input_size(spec: V2ModelSpec, body: dict, model: str) -> None:
    chars, tokens = input_size(body)
    if chars > spec.max_input_chars:
        raise v2_invalid(CHARACTERS_TOO_LONG, f"The input is {chars} characters; {model} accepts at most "
                         f"{spec.max_input_chars} (all message contents and tools together). Start a new "
                         "conversation or drop old turns.", wire=f"the max input characters is {spec.max_input_chars}",
                         field="messages", allowed=f"at most {spec.max_input_chars} characters", model=model)
    if tokens > spec.max_input_tokens:
        raise v2_invalid(TOKENS_TOO_LONG, f"The input is about {tokens} tokens; {model} accepts at most "
                         f"{spec.max_input_tokens}. Start a new conversation or drop old turns.",
                         wire="Prompt tokens too long", field="messages",
                         allowed=f"at most {spec.max_input_tokens} tokens", model=model)
