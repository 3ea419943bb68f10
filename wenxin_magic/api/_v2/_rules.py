"""The v2 service's request rules (``POST /v2/chat/completions``), checked before sending.

Forward-compatible: only what is certain to be refused is refused (the message structure, types, ranges the
model's catalog row confirms, limits the catalog knows); everything else is sent, and the service's answer is
the authority. A field this package does not know is accepted (the client notes it on the reply).

Each failure is an InvalidRequestError with the v2 string ``code``, HTTP ``status`` 400, ``wire_message`` the
service's text and ``message`` a text for people naming the field, what is allowed and the model. The emulator
runs the same checks.
"""

from __future__ import annotations

from .._errors import InvalidRequestError
from .._parameters import PARAMETERS, preview
from .._text import input_size, unencodable
from ._models import UNKNOWN_V2, V2ModelSpec, find_v2_model

INVALID_ARGUMENT = "invalid_argument"
INVALID_MESSAGES = "invalid_messages"
INVALID_MODEL = "invalid_model"
MALFORMED_JSON = "malformed_json"
CHARACTERS_TOO_LONG = "characters_too_long"
TOKENS_TOO_LONG = "tokens_too_long"

ROLES = ("system", "developer", "user", "assistant", "tool")
FIRST_ROLES = ("system", "developer", "user")
LAST_ROLES = ("user", "tool")
# the service's own texts (spec §3)
NO_MODEL_TEXT = "you must provide a model parameter"
NO_MESSAGES_TEXT = "messages cannot be empty"
ROLE_TEXT = "the role must be one of the following: system,developer,user,assistant,tool"
_SHAPE = ("messages whose roles are system, developer, user, assistant or tool, the first a user, system or "
          "developer message and the last a user message or a tool result (tool results follow an assistant "
          "message that has tool_calls)")
SAMPLING = ("temperature", "top_p", "penalty_score", "frequency_penalty", "presence_penalty", "repetition_penalty")
_WEB_SEARCH_FLAGS = ("enable", "enable_citation", "enable_trace", "enable_status")
_WEB_SEARCH_COUNTS = ("search_number", "reference_number")
WEB_SEARCH_COUNT_RANGE = (1, 28)
_TOOL_CHOICE_WORDS = ("auto", "none", "required")
FORMATS = ("text", "json_object", "json_schema")
THINKING_TYPES = ("enabled", "disabled")
THINKING_STRATEGIES = ("short_think", "chain_of_draft")
MIN_THINKING_BUDGET = 100
MAX_STOP = 4
MAX_STOP_CHARS = 20
MAX_METADATA = 16
SEED_RANGE = (0, 2147483647)  # both ends open
MEDIA_PARTS = {"image_url": "image", "video_url": "video"}


def v2_invalid(code: str, message: str, *, wire: str, field: str | None = None, allowed: str | None = None,
               model: str | None = None) -> InvalidRequestError:
    """A v2 rule broken: ``message`` for people, ``wire`` the service's own text; HTTP 400."""
    return InvalidRequestError(message, code=code, status=400, field=field, allowed=allowed, model=model,
                               wire_message=wire)


def validate_v2_request(body, spec: V2ModelSpec | None = None) -> None:
    """Raise InvalidRequestError (v2 ``code``, ``status`` 400) if ``body`` breaks a rule the service certainly
    enforces. ``spec`` defaults to the catalog's row for the model named in the body, or ``UNKNOWN_V2``."""
    if not isinstance(body, dict):
        raise v2_invalid(MALFORMED_JSON, f"The request body must be a JSON object, got {preview(body)}.",
                         wire="Invalid Argument", allowed="a JSON object")
    model = _check_model(body.get("model"))
    spec = spec or find_v2_model(model) or UNKNOWN_V2
    check_encodable(body, model)
    _check_messages(body.get("messages"), spec, model)
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
        raise v2_invalid(INVALID_ARGUMENT, f"`model` must name a model (e.g. ernie-speed-8k), got {preview(model)}.",
                         wire=NO_MODEL_TEXT, field="model", allowed="a model id such as ernie-speed-8k")
    return model


# -- messages ----------------------------------------------------------------------------------------------

def _bad_messages(message: str, wire: str, model: str, field: str = "messages",
                  code: str = INVALID_MESSAGES) -> InvalidRequestError:
    return v2_invalid(code, message, wire=wire, field=field, allowed=_SHAPE, model=model)


def _check_messages(messages, spec: V2ModelSpec, model: str) -> None:
    if not isinstance(messages, list) or not messages:
        raise _bad_messages(f"`messages` must be a non-empty list: {_SHAPE} (model {model}).", NO_MESSAGES_TEXT,
                            model, code=INVALID_ARGUMENT)
    for index, message in enumerate(messages, start=1):
        _check_message(index, message, spec, model)
    _check_order(messages, model)


def _check_message(index: int, message, spec: V2ModelSpec, model: str) -> None:
    if not isinstance(message, dict) or message.get("role") not in ROLES:
        role = message.get("role") if isinstance(message, dict) else None
        raise _bad_messages(f"Message {index} must be a dict whose `role` is one of {', '.join(ROLES)}, got "
                            f"{preview(role if isinstance(message, dict) else message)} (model {model}).",
                            ROLE_TEXT, model, "messages.role", code=INVALID_ARGUMENT)
    if "reasoning_content" in message:
        raise _bad_messages(f"Message {index} carries `reasoning_content`; the service rejects reasoning sent back "
                            f"in the history. Send only `content` (model {model}).",
                            "reasoning_content is not allowed in messages", model, "messages.reasoning_content")
    _check_content(index, message, spec, model)
    if message["role"] == "tool":
        _check_tool_result(index, message, model)
    elif message["role"] == "assistant" and "tool_calls" in message:
        _check_tool_calls(index, message["tool_calls"], model)


def _check_content(index: int, message: dict, spec: V2ModelSpec, model: str) -> None:
    role, content = message["role"], message.get("content")
    if role == "assistant" and message.get("tool_calls") and content in (None, ""):
        return  # an assistant turn that only called tools
    if isinstance(content, list) and content:
        _check_parts(index, content, spec, model)
        return
    if not isinstance(content, str):
        raise _bad_messages(f"Message {index} ({role}): `content` must be a string or a list of parts "
                            f"(text, image_url, video_url), got {preview(content)} (model {model}).",
                            "message content must be a string", model, "messages.content")
    if role != "tool" and not content.strip():
        raise _bad_messages(f"Message {index} ({role}) is empty; message content cannot be blank (model {model}).",
                            "message content can not be empty", model, "messages.content")


def _check_parts(index: int, parts: list, spec: V2ModelSpec, model: str) -> None:
    """Parts of a content array: text, image_url and video_url have their shapes; media need a model with vision.
    A part of another type is the service's to judge."""
    for part in parts:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind is None:
            raise _bad_messages(f"Message {index}: each part of `content` must be a dict with a `type` (text, "
                                f"image_url, video_url), got {preview(part)} (model {model}).",
                                "invalid content part", model, "messages.content")
        if kind == "text" and not isinstance(part.get("text"), str):
            raise _bad_messages(f"Message {index}: a text part needs `text` as a string, got "
                                f"{preview(part.get('text'))} (model {model}).", "invalid text part", model,
                                "messages.content")
        if kind in MEDIA_PARTS:
            _check_media(index, kind, part, spec, model)


def _check_media(index: int, kind: str, part: dict, spec: V2ModelSpec, model: str) -> None:
    medium = MEDIA_PARTS[kind]
    if medium not in spec.vision:
        takes = ", ".join(sorted(spec.vision)) or "text only"
        raise v2_invalid(INVALID_ARGUMENT, f"Message {index} has a{'n' if medium == 'image' else ''} {medium} part, "
                         f"but {model} reads no {medium}s (its catalog row: {takes}). Use a model with vision, "
                         "e.g. ernie-4.5-turbo-vl or ernie-5.0.", wire=f"the model does not support {medium} input",
                         field="messages.content", allowed=takes, model=model)
    source = part.get(kind)
    url = source.get("url") if isinstance(source, dict) else source
    if not isinstance(url, str) or not url:
        raise v2_invalid(INVALID_ARGUMENT, f"Message {index}: an {kind} part needs `{kind}: {{\"url\": ...}}` (a URL "
                         f"or a data: URL), got {preview(source)} (model {model}).", wire=f"invalid {kind}",
                         field="messages.content", allowed='{"url": "https://…" or "data:…;base64,…"}', model=model)


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
    """The first message user, system or developer; the last user or a tool result; tool results answer the
    calls of the assistant message before them. Two user messages in a row are not known to be refused."""
    first, last = messages[0]["role"], messages[-1]["role"]
    if first not in FIRST_ROLES:
        raise _bad_messages(f"Message 1 is {'an' if first == 'assistant' else 'a'} {first} message; the first must "
                            f"be a user, system or developer message (model {model}).",
                            "the first message must be from user or system", model)
    previous = None  # the role before, with "calls" for an assistant message that called tools
    open_calls: set[str] = set()
    for index, message in enumerate(messages, start=1):
        role = message["role"]
        if role == "tool":
            if previous not in ("calls", "tool"):
                raise _bad_messages(f"Message {index} (tool): a tool result must follow an assistant message that "
                                    f"has tool_calls (model {model}).", f"invalid role order at message {index}",
                                    model)
            _check_answers_call(index, message, open_calls, model)
        elif previous == "calls":
            raise _bad_messages(f"Message {index} ({role}): an assistant message with tool_calls must be followed "
                                f"by tool results (model {model}).", f"invalid role order at message {index}", model)
        if role == "assistant" and message.get("tool_calls"):
            open_calls = {call.get("id") for call in message["tool_calls"] if call.get("id")}
        previous = "calls" if role == "assistant" and message.get("tool_calls") else role
    if last not in LAST_ROLES:
        raise _bad_messages(f"The last message is {'an' if last == 'assistant' else 'a'} {last} message; it must be "
                            f"a user message (or a tool result) (model {model}).",
                            "the last message must be from user", model)


def _check_answers_call(index: int, message: dict, open_calls: set, model: str) -> None:
    if open_calls and message["tool_call_id"] not in open_calls:
        raise _bad_messages(f"Message {index}: `tool_call_id` {message['tool_call_id']!r} answers none of the calls "
                            f"{sorted(open_calls)} (model {model}).", "tool_call_id not found", model,
                            "messages.tool_call_id")


# -- parameters --------------------------------------------------------------------------------------------

def _check_values(spec: V2ModelSpec, body: dict, model: str) -> None:
    for name in SAMPLING:
        if name in body and body[name] is not None:
            _check_sampling(name, body[name], spec, model)
    for name, check in _CHECKS.items():
        if name in body and body[name] is not None:
            check(body[name], spec, model)
    if body.get("tool_choice") is not None:
        _check_tool_choice(body["tool_choice"], body.get("tools"), model)


def _check_sampling(name: str, value, spec: V2ModelSpec, model: str) -> None:
    """A number always; within the documented range only where the model's row confirms that range."""
    rule = PARAMETERS.get(name)
    if name in spec.ranges and rule is not None:
        try:
            rule.check(value, model=model)
        except InvalidRequestError as error:
            raise v2_invalid(INVALID_ARGUMENT, error.message, wire=error.wire_message, field=name,
                             allowed=error.allowed, model=model) from None
    elif not _is_number(value):
        raise _bad_value(name, "a number", value, model)


def _bad_value(name: str, allowed: str, value, model: str, wire: str | None = None) -> InvalidRequestError:
    return v2_invalid(INVALID_ARGUMENT, f"`{name}` must be {allowed}, got {preview(value)} (model {model}).",
                      wire=wire or f"invalid {name}", field=name, allowed=allowed, model=model)


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value \
        and value not in (float("inf"), float("-inf"))


def _check_max_tokens(name: str):
    """``max_completion_tokens`` and its alias ``max_tokens``: a positive integer, at most what the catalog knows
    the model writes (the service's own text names max_completion_tokens for both)."""
    def check(value, spec: V2ModelSpec, model: str) -> None:
        high = spec.max_output_tokens
        allowed = f"an integer in [1, {high}]" if high else "a positive integer"
        if not _is_int(value) or value < 1 or (high and value > high):
            wire = f"parameter check failed, max_completion_tokens range is [1, {high or 'N'}]"
            raise _bad_value(name, allowed, value, model, wire)
    return check


def _check_stop(value, spec, model: str) -> None:
    allowed = f"a list of at most {MAX_STOP} strings of 1 to {MAX_STOP_CHARS} characters"
    items = [value] if isinstance(value, str) else value
    if not (isinstance(items, list) and len(items) <= MAX_STOP
            and all(isinstance(text, str) and 0 < len(text) <= MAX_STOP_CHARS for text in items)):
        raise _bad_value("stop", allowed, value, model)


def _check_bool(name: str):
    def check(value, spec, model: str) -> None:
        if not isinstance(value, bool):
            raise _bad_value(name, "true or false", value, model)
    return check


def _check_object(name: str, allowed: str = "an object"):
    def check(value, spec, model: str) -> None:
        if not isinstance(value, dict):
            raise _bad_value(name, allowed, value, model)
    return check


def _check_stream_options(value, spec, model: str) -> None:
    allowed = '{"include_usage": true or false, "chunk_include_usage": true or false}'
    if not isinstance(value, dict) or any(not isinstance(value[key], bool) for key in
                                          ("include_usage", "chunk_include_usage") if key in value):
        raise _bad_value("stream_options", allowed, value, model)


def _check_string(name: str):
    def check(value, spec, model: str) -> None:
        if not isinstance(value, str):
            raise _bad_value(name, "a string", value, model)
    return check


def _check_seed(value, spec, model: str) -> None:
    low, high = SEED_RANGE
    if not _is_int(value) or not low < value < high:
        raise _bad_value("seed", f"an integer in ({low}, {high})", value, model)


def _check_metadata(value, spec, model: str) -> None:
    if not isinstance(value, dict) or len(value) > MAX_METADATA:
        raise _bad_value("metadata", f"an object of at most {MAX_METADATA} tags", value, model)


def _check_tools(value, spec: V2ModelSpec, model: str) -> None:
    allowed = '[{"type": "function", "function": {"name", "description", "parameters"}}]'
    if spec.tools is False:
        raise v2_invalid(INVALID_ARGUMENT, f"{model} does not accept `tools`: it has no function calling (its catalog "
                         "row says so). Use a model that has, e.g. ernie-speed-pro-128k, ernie-4.5-turbo-32k or "
                         "deepseek-v3.", wire="the model does not support tools", field="tools",
                         allowed="a model with function calling", model=model)
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
    if "parameters" in function and not isinstance(function["parameters"], dict):
        raise v2_invalid(INVALID_ARGUMENT, f"Tool {name!r}: `parameters` must be a JSON Schema object (use "
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
    names = [tool["function"]["name"] for tool in tools or () if isinstance(tool, dict)
             and isinstance(tool.get("function"), dict)]
    if function["name"] not in names:
        raise v2_invalid(INVALID_ARGUMENT, f"`tool_choice` names {function['name']!r}, which is not among the "
                         f"tools {names} (model {model}).", wire="tool_choice function not found",
                         field="tool_choice", allowed=", ".join(names) or "a function named in `tools`", model=model)


def _check_web_search(value, spec, model: str) -> None:
    low, high = WEB_SEARCH_COUNT_RANGE
    allowed = ('{"enable": bool, "enable_citation": bool, "enable_trace": bool, "enable_status": bool, '
               f'"search_mode": "auto" | "required", "search_number" and "reference_number": {low} to {high}}}')
    if not isinstance(value, dict):
        raise _bad_value("web_search", allowed, value, model)
    for key, item in value.items():
        fits = (isinstance(item, bool) if key in _WEB_SEARCH_FLAGS
                else item in ("auto", "required") if key == "search_mode"
                else _is_int(item) and low <= item <= high if key in _WEB_SEARCH_COUNTS
                else True)  # a key we do not know: the service's to judge
        if not fits:
            raise v2_invalid(INVALID_ARGUMENT, f"`web_search.{key}` is not valid ({preview(item)}); web_search takes "
                             f"{allowed} (model {model}).", wire="invalid web_search", field=f"web_search.{key}",
                             allowed=allowed, model=model)


def _check_response_format(value, spec: V2ModelSpec, model: str) -> None:
    allowed = '{"type": "text"}, {"type": "json_object"} or {"type": "json_schema", "json_schema": {name, schema}}'
    kind = value.get("type") if isinstance(value, dict) else None
    if kind not in FORMATS:
        raise _bad_value("response_format", allowed, value, model)
    if kind != "json_schema":
        return
    if spec.json_schema is False:
        raise v2_invalid(INVALID_ARGUMENT, f"{model} does not accept a `json_schema` response format (its catalog row "
                         "says so); use {\"type\": \"json_object\"} and describe the shape in the prompt.",
                         wire="response_format json_schema is not supported", field="response_format",
                         allowed='{"type": "text"} or {"type": "json_object"}', model=model)
    schema = value.get("json_schema")
    if not isinstance(schema, dict) or ("schema" in schema and not isinstance(schema["schema"], dict)):
        raise _bad_value("response_format", allowed, value, model)


def _check_thinking(value, spec, model: str) -> None:
    if not isinstance(value, dict) or value.get("type") not in THINKING_TYPES:
        raise _bad_value("thinking", '{"type": "enabled"} or {"type": "disabled"}', value, model)


def _check_thinking_budget(value, spec, model: str) -> None:
    if not _is_int(value) or value < MIN_THINKING_BUDGET:
        raise _bad_value("thinking_budget", f"an integer of at least {MIN_THINKING_BUDGET}", value, model)


def _check_thinking_strategy(value, spec, model: str) -> None:
    if value not in THINKING_STRATEGIES:
        raise _bad_value("thinking_strategy", " or ".join(THINKING_STRATEGIES), value, model)


_CHECKS = {
    "max_completion_tokens": _check_max_tokens("max_completion_tokens"),
    "max_tokens": _check_max_tokens("max_tokens"),
    "stop": _check_stop,
    "stream": _check_bool("stream"),
    "stream_options": _check_stream_options,
    "user": _check_string("user"),
    "seed": _check_seed,
    "metadata": _check_metadata,
    "tools": _check_tools,
    "parallel_tool_calls": _check_bool("parallel_tool_calls"),
    "web_search": _check_web_search,
    "response_format": _check_response_format,
    "enable_thinking": _check_bool("enable_thinking"),
    "thinking": _check_thinking,
    "thinking_budget": _check_thinking_budget,
    "thinking_strategy": _check_thinking_strategy,
    "reasoning_effort": _check_string("reasoning_effort"),
}


# -- input size --------------------------------------------------------------------------------------------

def _check_input_size(spec: V2ModelSpec, body: dict, model: str) -> None:
    if spec.max_input_chars is None and spec.max_input_tokens is None:
        return  # no limit known: the service judges
    chars, tokens = input_size(body)
    if spec.max_input_chars is not None and chars > spec.max_input_chars:
        raise v2_invalid(CHARACTERS_TOO_LONG, f"The input is {chars} characters; {model} accepts at most "
                         f"{spec.max_input_chars} (all message contents and tools together). Start a new "
                         "conversation or drop old turns.", wire=f"the max input characters is {spec.max_input_chars}",
                         field="messages", allowed=f"at most {spec.max_input_chars} characters", model=model)
    if spec.max_input_tokens is not None and tokens > spec.max_input_tokens:
        raise v2_invalid(TOKENS_TOO_LONG, f"The input is about {tokens} tokens; {model} accepts at most "
                         f"{spec.max_input_tokens}. Start a new conversation or drop old turns.",
                         wire="Prompt tokens too long", field="messages",
                         allowed=f"at most {spec.max_input_tokens} tokens", model=model)
