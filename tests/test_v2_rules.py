"""The v2 protocol without a server: the model table, routing, request rules, credentials, answer types."""

from __future__ import annotations

import pytest

from wenxin_magic.api import (DEFAULT_MODEL, MODELS, UNKNOWN_V2, V2_MODELS, AuthenticationError, Credentials, InvalidRequestError, Route, Usage, V2ModelSpec, find_model,
                              find_v2_model, route, validate_v2_request)

BOTH = frozenset({"v1", "v2"})
V1_ONLY = frozenset({"v1"})
V2_ONLY = frozenset({"v2"})
BEARER = "bce-v3/ALTAK-rulesTEST/0123456789abcdef"


# -- the table ---------------------------------------------------------------------------------------------

REQUIRED = ("ernie-4.5-turbo-32k", "ernie-4.5-turbo-128k", "ernie-x1-turbo-32k", "ernie-speed-8k",
            "ernie-speed-pro-128k", "ernie-lite-8k", "ernie-3.5-8k", "ernie-4.0-turbo-8k", "deepseek-v3",
            "deepseek-r1", "qwen3-235b-a22b")


def test_the_table_has_the_models_the_contract_names():
    ids = {spec.id for spec in V2_MODELS}
    assert set(REQUIRED) <= ids
    assert all(spec.id == spec.id.lower() for spec in V2_MODELS)
    assert len(ids) == len(V2_MODELS)


def test_reasoning_models_and_the_thinking_switch():
    reasoning = {spec.id for spec in V2_MODELS if spec.reasoning}
    assert {"ernie-x1-turbo-32k", "deepseek-r1", "qwen3-235b-a22b"} <= reasoning
    assert "ernie-speed-8k" not in reasoning and "deepseek-v3" not in reasoning
    switches = {spec.id for spec in V2_MODELS if spec.thinking_switch}
    assert {"qwen3-235b-a22b", "qwen3-8b", "ernie-5.0-thinking-preview", "ernie-4.5-turbo-vl"} <= switches
    assert all(find_v2_model(id).thinking_param == "enable_thinking" for id in switches)
    assert find_v2_model("qwen3-235b-a22b").accepts("enable_thinking")
    # deepseek-r1 always thinks: no switch (the service accepts the field and ignores it, so it is not refused)
    r1 = find_v2_model("deepseek-r1")
    assert r1.always_thinks and not r1.thinking_switch and r1.thinking_param is None


def test_features_follow_the_published_lists():
    function_calling = {"ernie-4.0-turbo-8k", "ernie-3.5-8k", "ernie-speed-pro-128k", "deepseek-v3"}
    web_search = {"ernie-x1-turbo-32k", "ernie-4.5-turbo-32k", "ernie-4.5-turbo-128k", "deepseek-v3", "deepseek-r1"}
    for name in function_calling:
        assert "tools" in find_v2_model(name).features, name
    for name in web_search:
        assert "web_search" in find_v2_model(name).features, name
    assert "tools" not in find_v2_model("ernie-speed-8k").features
    assert "web_search" not in find_v2_model("ernie-3.5-8k").features


def test_params_derive_from_features():
    speed = find_v2_model("ernie-speed-8k")
    assert speed.params == frozenset({"model", "messages", "stream", "stream_options", "temperature", "top_p",
                                      "max_completion_tokens", "max_tokens", "user", "seed", "metadata",
                                      "penalty_score", "frequency_penalty", "presence_penalty", "repetition_penalty",
                                      "stop", "response_format"})
    v3 = find_v2_model("deepseek-v3")
    assert {"tools", "tool_choice", "parallel_tool_calls", "web_search", "response_format"} <= v3.params
    assert not speed.accepts("tools") and v3.accepts("tools")


def test_a_spec_refuses_a_feature_that_does_not_exist():
    with pytest.raises(ValueError, match="unknown features"):
        V2ModelSpec("x", 10, 10, 10, features=frozenset({"telepathy"}))


def test_twins_name_v1_registry_models():
    twins = {spec.id: spec.v1_twin for spec in V2_MODELS if spec.v1_twin}
    assert twins["ernie-speed-8k"] == "ERNIE-Speed-8K"
    assert twins["ernie-3.5-8k"] == "ERNIE-3.5-8K"
    assert twins["ernie-4.0-turbo-8k"] == "ERNIE-4.0-Turbo-8K"
    assert twins["ernie-lite-8k"] == "ERNIE-Lite-8K"
    assert twins["ernie-speed-pro-128k"] == "ERNIE-Speed-Pro-128K"
    for twin in twins.values():
        assert find_model(twin) is not None and find_model(twin).name == twin


def test_find_v2_model_ignores_case_and_knows_nothing_else():
    assert find_v2_model("DeepSeek-R1") is find_v2_model("deepseek-r1")
    assert find_v2_model("deepseek-r2") is None
    assert find_v2_model(None) is None


def test_unknown_v2_is_generous():
    # nothing is known of an id the catalog lacks, so no limit is checked
    assert (UNKNOWN_V2.max_input_tokens, UNKNOWN_V2.max_input_chars, UNKNOWN_V2.max_output_tokens) == (None,) * 3
    assert UNKNOWN_V2.vision == {"image", "video"}
    assert {"tools", "web_search", "response_format", "enable_thinking"} <= UNKNOWN_V2.params


def test_limits_are_consistent():
    for spec in V2_MODELS:
        if spec.max_input_tokens is not None and spec.max_input_chars is not None:
            assert 0 < spec.max_input_tokens <= spec.max_input_chars, spec.id
        assert spec.max_output_tokens is None or spec.max_output_tokens > 0, spec.id


# -- routing -----------------------------------------------------------------------------------------------

def test_no_model_is_the_v1_default():
    assert route(None, BOTH) == Route("v1", DEFAULT_MODEL, find_model(DEFAULT_MODEL), None)
    assert route(None, frozenset()).api == "v1"


@pytest.mark.parametrize("name, expected", [("ernie-speed-8k", "ernie-speed-8k"), ("deepseek-r1", "deepseek-r1"),
                                            ("DeepSeek-R1", "deepseek-r1"), ("ERNIE-4.5-Turbo-32K", "ernie-4.5-turbo-32k")])
def test_a_v2_id_goes_to_v2(name, expected):
    routed = route(name, BOTH)
    assert (routed.api, routed.model, routed.twin_of) == ("v2", expected, None)
    assert routed.spec is find_v2_model(expected)


@pytest.mark.parametrize("name, expected", [("ERNIE-Speed-8K", "ERNIE-Speed-8K"), ("ernie_speed", "ERNIE-Speed-8K"),
                                            ("ERNIE 3.5", "ERNIE-3.5-8K"), ("bloomz", "BLOOMZ-7B"),
                                            ("ernie-bot-4", "ERNIE-4.0-8K"), ("ERNIE-3.5-8K", "ERNIE-3.5-8K")])
def test_v1_names_and_aliases_go_to_v1(name, expected):
    routed = route(name, BOTH)
    assert (routed.api, routed.model) == ("v1", expected)
    assert routed.spec is find_model(expected)


def test_an_unknown_v2_looking_id_is_sent_as_it_is():
    routed = route("glm-4.5-air", BOTH)
    assert (routed.api, routed.model, routed.spec) == ("v2", "glm-4.5-air", UNKNOWN_V2)


@pytest.mark.parametrize("name", ["Foo Bar", "GLM 4", "ERNIE-Nonexistent-9K"])
def test_a_name_no_api_has_is_an_unknown_model(name):
    with pytest.raises(InvalidRequestError, match="Unknown model") as caught:
        route(name, BOTH)
    assert caught.value.field == "model"


def test_a_v1_name_with_only_a_v2_key_takes_its_twin():
    routed = route("ERNIE-Speed-8K", V2_ONLY)
    assert routed == Route("v2", "ernie-speed-8k", find_v2_model("ernie-speed-8k"), "ERNIE-Speed-8K")
    assert route(None, V2_ONLY).model == "ernie-speed-8k"
    assert route("ERNIE 3.5", V2_ONLY).twin_of == "ERNIE 3.5"


def test_a_v2_id_with_only_v1_keys_takes_its_twin():
    routed = route("ernie-speed-8k", V1_ONLY)
    assert routed == Route("v1", "ERNIE-Speed-8K", find_model("ERNIE-Speed-8K"), "ernie-speed-8k")
    assert route("ernie-4.0-turbo-8k", V1_ONLY).model == "ERNIE-4.0-Turbo-8K"


def test_no_credentials_keeps_the_natural_api():
    assert route("deepseek-r1", frozenset()).api == "v2"
    assert route("BLOOMZ-7B", frozenset()).api == "v1"


def test_a_v2_only_model_with_v1_keys_names_what_to_set():
    with pytest.raises(AuthenticationError) as caught:
        route("deepseek-r1", V1_ONLY)
    assert caught.value.field == "credentials"
    assert caught.value.message == (
        "deepseek-r1 is served only by Qianfan's v2 API, and the credentials set reach v1 only. Set QIANFAN_API_KEY "
        "to a v2 API Key (bce-v3/…), or IAM keys QIANFAN_ACCESS_KEY/QIANFAN_SECRET_KEY, which reach both.")


def test_a_v1_only_model_with_a_v2_key_names_what_to_set():
    with pytest.raises(AuthenticationError) as caught:
        route("BLOOMZ-7B", V2_ONLY)
    assert caught.value.field == "credentials"
    assert caught.value.message == (
        "BLOOMZ-7B is served only by Qianfan's v1 API; a v2 API Key cannot reach it. Set QIANFAN_AK/QIANFAN_SK "
        "(an application's keys) or IAM keys QIANFAN_ACCESS_KEY/QIANFAN_SECRET_KEY, which reach both.")


def test_an_unknown_v2_id_with_v1_keys_cannot_be_reached():
    with pytest.raises(AuthenticationError, match="glm-4 is served only by Qianfan's v2 API") as caught:
        route("glm-4", V1_ONLY)
    assert caught.value.field == "credentials"


def test_a_misspelt_v1_name_with_v1_keys_offers_the_close_names():
    with pytest.raises(AuthenticationError) as caught:
        route("ernie-speeed-8k", V1_ONLY)
    assert caught.value.field == "credentials"
    assert caught.value.message.startswith("ernie-speeed-8k is not a v1 model name (did you mean ERNIE-Speed-8K")
    assert "QIANFAN_API_KEY" in caught.value.message


def test_every_v1_name_still_routes_to_itself_with_v1_keys():
    for spec in MODELS:
        assert route(spec.name, V1_ONLY).model == spec.name
        assert route(spec.name, BOTH) == Route("v1", spec.name, spec, None)


# -- validate_v2_request -----------------------------------------------------------------------------------

def _body(model="ernie-speed-8k", messages=None, **params):
    return {"model": model, "messages": messages or [{"role": "user", "content": "hi"}], **params}


def _rejected(body, spec=None) -> InvalidRequestError:
    with pytest.raises(InvalidRequestError) as caught:
        validate_v2_request(body, spec)
    assert caught.value.status == 400
    return caught.value


def test_a_plain_request_passes():
    validate_v2_request(_body(stream=True, stream_options={"include_usage": True}, temperature=0.5, top_p=1,
                              max_completion_tokens=2048, user="u", seed=7, stop=["a"], penalty_score=1.5))


def test_a_body_that_is_not_an_object_is_malformed():
    assert _rejected(["x"]).code == "malformed_json"


@pytest.mark.parametrize("model", [None, "", "  ", 3])
def test_model_must_be_named(model):
    error = _rejected(_body(model=model) if model is not None else {"messages": [{"role": "user", "content": "x"}]})
    # the live service's words (spec §3)
    assert (error.code, error.field, error.wire_message) == ("invalid_argument", "model",
                                                             "you must provide a model parameter")


@pytest.mark.parametrize("messages", [[], None, "hi", {"role": "user"}])
def test_messages_must_be_a_non_empty_list(messages):
    body = _body()
    body["messages"] = messages
    error = _rejected(body)
    assert (error.code, error.field, error.wire_message) == ("invalid_argument", "messages",
                                                             "messages cannot be empty")
    assert "ernie-speed-8k" in error.message and error.allowed


def test_a_role_outside_the_five_is_refused_in_the_services_words():
    error = _rejected(_body(messages=[{"role": "bot", "content": "x"}]))
    assert (error.code, error.field) == ("invalid_argument", "messages.role")
    assert error.wire_message == "the role must be one of the following: system,developer,user,assistant,tool"


@pytest.mark.parametrize("messages", [
    # Whether the service refuses these is not confirmed (spec §1): they are sent.
    [{"role": "user", "content": "a"}, {"role": "system", "content": "b"}, {"role": "user", "content": "c"}],
    [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}],
    [{"role": "developer", "content": "be brief"}, {"role": "user", "content": "a"}],
    [{"role": "system", "content": "s"}, {"role": "developer", "content": "d"}, {"role": "user", "content": "a"}],
])
def test_structures_the_service_is_not_known_to_refuse_pass(messages):
    validate_v2_request(_body(messages=messages))


@pytest.mark.parametrize("messages, words", [
    ([{"role": "assistant", "content": "a"}], "the first must be a user, system or developer message"),
    ([{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}], "must be a user message"),
    ([{"role": "system", "content": "s"}], "The last message is a system message"),
    ([{"role": "user", "content": "a"}, {"role": "tool", "content": "b", "tool_call_id": "x"}],
     "must follow an assistant message that has tool_calls"),
    ([{"role": "user", "content": "a"}, {"role": "assistant", "content": "", "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
      {"role": "user", "content": "b"}], "must be followed by tool results"),
    ([{"role": "user", "content": ""}], "empty"),
    ([{"role": "user", "content": 5}], "must be a string"),
])
def test_message_order_and_content_rules(messages, words):
    error = _rejected(_body(messages=messages))
    assert error.code == "invalid_messages"
    assert words in error.message and "ernie-speed-8k" in error.message


def _tool_round(*ids, answered=None):
    calls = [{"id": i, "type": "function", "function": {"name": "get_weather", "arguments": "{}"}} for i in ids]
    results = [{"role": "tool", "tool_call_id": i, "content": "sunny"} for i in (answered or ids)]
    return [{"role": "user", "content": "weather?"}, {"role": "assistant", "content": None, "tool_calls": calls},
            *results]


def test_tool_results_after_calls_pass_and_may_end_the_conversation():
    validate_v2_request(_body("deepseek-v3", _tool_round("c1")))
    validate_v2_request(_body("deepseek-v3", _tool_round("c1", "c2")))
    then = _tool_round("c1") + [{"role": "assistant", "content": "It is sunny."}, {"role": "user", "content": "ok"}]
    validate_v2_request(_body("deepseek-v3", then))
    user_after_tool = _tool_round("c1") + [{"role": "user", "content": "and tomorrow?"}]
    validate_v2_request(_body("deepseek-v3", user_after_tool))


def test_a_tool_result_needs_the_id_of_a_call():
    messages = _tool_round("c1")
    del messages[2]["tool_call_id"]
    assert _rejected(_body("deepseek-v3", messages)).field == "messages.tool_call_id"
    error = _rejected(_body("deepseek-v3", _tool_round("c1", answered=["c9"])))
    assert "c9" in error.message and error.field == "messages.tool_call_id"


def test_reasoning_content_sent_back_is_rejected():
    messages = [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b", "reasoning_content": "hm"},
                {"role": "user", "content": "c"}]
    error = _rejected(_body("deepseek-r1", messages))
    assert (error.code, error.field) == ("invalid_messages", "messages.reasoning_content")
    assert "deepseek-r1" in error.message


@pytest.mark.parametrize("name, value, allowed", [
    ("temperature", 0, "(0, 1]"), ("temperature", 1.5, "(0, 1]"), ("top_p", -0.1, "[0, 1]"),
    ("penalty_score", 2.5, "[1, 2]"), ("frequency_penalty", 3, "[-2, 2]"), ("presence_penalty", -2.5, "[-2, 2]"),
    ("temperature", True, "(0, 1]"),
])
def test_shared_ranges_come_from_the_parameter_table(name, value, allowed):
    error = _rejected(_body(**{name: value}))
    assert (error.code, error.field) == ("invalid_argument", name)
    assert allowed in error.allowed and "ernie-speed-8k" in error.message


@pytest.mark.parametrize("value", [0, 2049, 1.5, True, "9"])
def test_max_completion_tokens_is_bounded_by_the_model(value):
    error = _rejected(_body(max_completion_tokens=value))
    assert (error.code, error.field, error.allowed) == ("invalid_argument", "max_completion_tokens",
                                                        "an integer in [1, 2048]")


def test_max_completion_tokens_follows_each_models_limit():
    validate_v2_request(_body("deepseek-r1", max_completion_tokens=16384))
    assert _rejected(_body("deepseek-r1", max_completion_tokens=16385)).allowed == "an integer in [1, 16384]"


@pytest.mark.parametrize("value", [["a"] * 5, "x" * 21, ["y" * 21], [""], [3]])
def test_stop_is_a_short_list_of_strings(value):
    assert _rejected(_body(stop=value)).field == "stop"


def test_stop_takes_four_items_of_twenty_characters():
    validate_v2_request(_body(stop=["a" * 20] * 4))


def test_tools_are_refused_only_where_the_row_says_the_model_has_none():
    tools = [{"type": "function", "function": {"name": "f", "parameters": {}}}]
    error = _rejected(_body(tools=tools))
    assert (error.code, error.field) == ("invalid_argument", "tools")
    assert error.message.startswith("ernie-speed-8k does not accept `tools`")
    # not confirmed either way: sent, and the service judges (until 2026-12 these were refused)
    validate_v2_request(_body("ernie-5.0-thinking-preview", tools=tools))
    validate_v2_request(_body("a-model-the-catalog-lacks", tools=tools))


def test_unknown_top_level_fields_are_accepted():
    # Until 2026-12 an unknown field was refused; no source shows the service refusing one (spec §1).
    validate_v2_request(_body(system="be brief", max_output_tokens=5, foo={"bar": 1}))


TOOL = {"type": "function", "function": {"name": "get_weather", "description": "weather",
                                         "parameters": {"type": "object", "properties": {}}}}


@pytest.mark.parametrize("tools, field", [
    ([], "tools"), ("x", "tools"), ([{"type": "retrieval"}], "tools"),
    ([{"type": "function", "function": {"parameters": {}}}], "tools.function.name"),
    ([{"type": "function", "function": {"name": "f", "parameters": "none"}}], "tools.function.parameters"),
    ([{"type": "function", "function": {"name": "f", "description": 3, "parameters": {}}}],
     "tools.function.description"),
])
def test_tools_shape(tools, field):
    assert _rejected(_body("deepseek-v3", tools=tools)).field == field


def test_tools_and_tool_choice_pass():
    validate_v2_request(_body("deepseek-v3", tools=[TOOL], tool_choice="auto", parallel_tool_calls=True))
    validate_v2_request(_body("deepseek-v3", tools=[TOOL],
                              tool_choice={"type": "function", "function": {"name": "get_weather"}}))
    validate_v2_request(_body("deepseek-v3", tools=[{"type": "function", "function": {"name": "f", "parameters": {}}}]))


@pytest.mark.parametrize("choice", ["sometimes", {"type": "function"}, {"type": "function", "function": {"name": "x"}}])
def test_tool_choice_must_name_an_offered_tool(choice):
    error = _rejected(_body("deepseek-v3", tools=[TOOL], tool_choice=choice))
    assert error.field == "tool_choice"


@pytest.mark.parametrize("search, field", [
    ("on", "web_search"), ({"enable": "yes"}, "web_search.enable"), ({"enable_trace": 1}, "web_search.enable_trace"),
    ({"search_mode": "never"}, "web_search.search_mode"), ({"search_number": 0}, "web_search.search_number"),
    ({"reference_number": 29}, "web_search.reference_number"),
])
def test_web_search_is_an_object_of_switches(search, field):
    assert _rejected(_body("deepseek-v3", web_search=search)).field == field


def test_web_search_passes():
    validate_v2_request(_body("ernie-4.5-turbo-32k", web_search={"enable": True, "enable_citation": True,
                                                                "enable_trace": True, "search_mode": "auto"}))


@pytest.mark.parametrize("value", ["json_object", {"type": "yaml"}, {"type": "json_schema", "json_schema": "x"}])
def test_response_format_is_a_typed_object(value):
    assert _rejected(_body("ernie-3.5-8k", response_format=value)).field == "response_format"


def test_response_format_and_thinking_pass():
    validate_v2_request(_body("ernie-3.5-8k", response_format={"type": "json_object"}))
    validate_v2_request(_body("qwen3-235b-a22b", enable_thinking=False))
    assert _rejected(_body("qwen3-235b-a22b", enable_thinking="no")).field == "enable_thinking"
    # accepted: deepseek-r1 has no switch, and the service is not known to refuse the field
    validate_v2_request(_body("deepseek-r1", enable_thinking=True))


@pytest.mark.parametrize("name, value", [("stream", "yes"), ("stream_options", {"include_usage": 1}),
                                         ("stream_options", {"chunk_include_usage": "on"}), ("user", 5),
                                         ("seed", 1.5), ("seed", 0), ("seed", 2147483647)])
def test_transport_fields_have_types(name, value):
    assert _rejected(_body(**{name: value})).field == name


def test_input_too_many_characters():
    error = _rejected(_body(messages=[{"role": "user", "content": "x" * 24001}]))
    assert (error.code, error.wire_message) == ("characters_too_long", "the max input characters is 24000")
    assert "ernie-speed-8k" in error.message and error.allowed == "at most 24000 characters"


def test_input_too_many_tokens():
    words = " ".join(["w"] * 6200)  # 12399 characters, about 6200 tokens
    error = _rejected(_body(messages=[{"role": "user", "content": words}]))
    assert (error.code, error.wire_message) == ("tokens_too_long", "Prompt tokens too long")


def test_an_unknown_id_gets_the_general_rules():
    validate_v2_request(_body("glm-4.5", tools=[TOOL], enable_thinking=True, max_completion_tokens=30000))
    # no range is confirmed for a model the catalog does not know: only the type is checked
    validate_v2_request(_body("glm-4.5", temperature=5))
    assert _rejected(_body("glm-4.5", temperature="hot")).code == "invalid_argument"


def test_a_given_spec_wins_over_the_table():
    small = V2ModelSpec("tiny", 10, 20, 5)
    assert _rejected(_body(max_completion_tokens=6), small).allowed == "an integer in [1, 5]"


def test_a_lone_surrogate_is_malformed():
    assert _rejected(_body(messages=[{"role": "user", "content": "bad \udc80"}])).code == "malformed_json"


# -- credentials ---------------------------------------------------------------------------------------------

def test_credentials_read_the_v2_environment():
    creds = Credentials.from_env({"QIANFAN_API_KEY": BEARER, "QIANFAN_APP_ID": "app-123"})
    assert (creds.method, creds.apis) == ("bearer", V2_ONLY)
    assert creds.bearer_token == BEARER and creds.app_id == "app-123"
    assert Credentials.from_env({"QIANFAN_BEARER_TOKEN": BEARER}).bearer_token == BEARER
    # QIANFAN_API_KEY wins when both are set
    assert Credentials.from_env({"QIANFAN_API_KEY": BEARER, "QIANFAN_BEARER_TOKEN": "bce-v3/other/x"}).bearer_token \
        == BEARER


def test_a_bce_v3_api_key_is_a_bearer_token():
    assert Credentials(BEARER).method == "bearer"
    creds = Credentials.from_env({"QIANFAN_AK": BEARER})
    assert creds.api_key is None and creds.bearer_token == BEARER and creds.apis == V2_ONLY


@pytest.mark.parametrize("kwargs, method, apis", [
    ({"api_key": "ak", "secret_key": "sk"}, "oauth", V1_ONLY),
    ({"access_token": "tok"}, "token", V1_ONLY),
    ({"access_key": "iak", "secret_access_key": "isk"}, "iam", BOTH),
    ({"bearer_token": BEARER}, "bearer", V2_ONLY),
    ({"api_key": "ak", "secret_key": "sk", "bearer_token": BEARER}, "oauth", BOTH),
    ({"access_key": "iak", "secret_access_key": "isk", "access_token": "t"}, "token", BOTH),
    ({"api_key": "ak"}, "none", frozenset()),
    ({}, "none", frozenset()),
])
def test_method_priority_and_apis(kwargs, method, apis):
    creds = Credentials(**kwargs)
    assert (creds.method, creds.apis) == (method, apis)


def test_new_secrets_are_hidden():
    creds = Credentials(bearer_token=BEARER, app_id="app-secret-id")
    assert BEARER in creds.secrets and "app-secret-id" in creds.secrets
    assert repr(creds.bearer_token) == "'***'" and repr(creds.app_id) == "'***'"
    assert BEARER not in repr(creds) and "app-secret-id" not in repr(creds)


# -- answers -----------------------------------------------------------------------------------------------

def test_v1_answers_gain_the_shared_attributes_with_defaults():
    from wenxin_magic.api._v1._wire import read_answer, read_chunk

    answer = read_answer({"result": "hi", "flag": 0, "search_info": {"search_results": [{"index": 1, "url": "u",
                                                                                          "title": "t"}]}},
                          model="ERNIE-Speed-8K")
    assert (answer.api, answer.model, answer.reasoning, answer.tool_calls) == ("v1", "ERNIE-Speed-8K", "", [])
    assert answer.search_results == [{"index": 1, "url": "u", "title": "t"}] and answer.flag == 0
    chunk = read_chunk({"result": "x", "is_end": True})
    assert (chunk.api, chunk.reasoning, chunk.tool_calls, chunk.search_results, chunk.flag) == ("v1", "", [], [], 0)


def test_usage_reads_reasoning_tokens():
    assert Usage({"prompt_tokens": 1, "completion_tokens": 5}).reasoning_tokens == 0
    usage = Usage({"prompt_tokens": 1, "completion_tokens": 5, "completion_tokens_details": {"reasoning_tokens": 3}})
    assert usage.reasoning_tokens == 3


# -- the four seed models accept exactly what their pages' HTTP body tables list -----------------------------

SEED_PAGES = {
    # its model page's body table (messages is the request itself, not a parameter)
    "BLOOMZ-7B": {"stream", "temperature", "top_k", "top_p", "penalty_score", "stop", "user_id"},
    # its model page's body table
    "ERNIE-3.5-8K-Preemptible": {"functions", "temperature", "top_p", "penalty_score", "stream", "system", "stop",
                                 "disable_search", "enable_citation", "enable_trace", "max_output_tokens",
                                 "response_format", "user_id", "tool_choice"},
    # its model page's body table (prompt is the request itself)
    "Yi-34B": {"stream", "temperature", "top_k", "top_p", "penalty_score", "stop", "user_id"},
    # its model page's body table
    "ERNIE-Speed-8K": {"stream", "temperature", "top_p", "penalty_score", "system", "stop", "max_output_tokens",
                       "user_id"},
}


@pytest.mark.parametrize("name", sorted(SEED_PAGES))
def test_seed_models_accept_exactly_their_pages_parameters(name):
    assert set(find_model(name).params) == SEED_PAGES[name]


def test_the_parameters_the_seed_pages_do_not_list_are_refused():
    from wenxin_magic.api import validate_request

    hello = [{"role": "user", "content": "hi"}]
    refused = {"BLOOMZ-7B": {"tool_choice": {"type": "function", "function": {"name": "f"}}},
               "ERNIE-3.5-8K-Preemptible": {"enable_system_memory": True, "system_memory_id": "m",
                                            "user_setting": {}},
               "ERNIE-Speed-8K": {"frequency_penalty": 0.1, "presence_penalty": 0.1, "min_output_tokens": 2,
                                  "tool_choice": {"type": "function", "function": {"name": "f"}}}}
    for name, params in refused.items():
        for param, value in params.items():
            with pytest.raises(InvalidRequestError) as caught:
                validate_request(find_model(name), {"messages": hello, param: value})
            assert caught.value.field == param and f"{name} does not accept `{param}`" in caught.value.message


# -- forward compatibility: what the service takes is sent (spec qianfan-2026.md §1) ------------------------

SCHEMA_FORMAT = {"type": "json_schema", "json_schema": {"name": "city", "schema": {"type": "object"}, "strict": True}}


@pytest.mark.parametrize("model, params", [
    ("ernie-4.5-turbo-128k", {"max_tokens": 4096}),
    ("deepseek-v3", {"temperature": 0, "top_p": 1}), ("deepseek-v3", {"temperature": 1.5}),
    ("qwen3-8b", {"temperature": 1.9, "presence_penalty": 1.5}),
    ("ernie-4.5-turbo-32k", {"response_format": SCHEMA_FORMAT}),
    ("qwen3-8b", {"thinking_budget": 100, "thinking_strategy": "chain_of_draft", "reasoning_effort": "low"}),
    ("ernie-5.1", {"thinking": {"type": "enabled"}}),
    ("ernie-speed-8k", {"stream": True, "stream_options": {"include_usage": True, "chunk_include_usage": True}}),
    ("ernie-speed-8k", {"metadata": {str(i): "x" for i in range(16)}, "repetition_penalty": 1.1}),
    ("ernie-x1-turbo-32k", {"tools": [TOOL], "tool_choice": "required", "parallel_tool_calls": False}),
    ("deepseek-r1", {"tools": [TOOL], "temperature": 0.2}),
    ("ernie-4.5-turbo-32k", {"web_search": {"enable": True, "enable_status": True, "search_number": 28,
                                            "reference_number": 1, "search_mode": "required"}}),
    ("ernie-speed-8k", {"seed": 2147483646, "user": "u", "extra_parameters": {"x": 1}}),
])
def test_documented_fields_pass(model, params):
    validate_v2_request(_body(model, **params))


def test_json_schema_is_refused_only_where_the_row_says_so():
    error = _rejected(_body("ernie-x1-turbo-32k", response_format=SCHEMA_FORMAT))
    assert (error.code, error.field) == ("invalid_argument", "response_format")
    assert "ernie-x1-turbo-32k does not accept a `json_schema`" in error.message
    validate_v2_request(_body("some-new-model", response_format=SCHEMA_FORMAT))


@pytest.mark.parametrize("name, value", [("metadata", {str(i): "x" for i in range(17)}), ("thinking_budget", 99),
                                         ("thinking_strategy", "long_think"), ("thinking", {"type": "on"}),
                                         ("reasoning_effort", 3), ("max_tokens", 0)])
def test_documented_fields_keep_their_types_and_ranges(name, value):
    assert _rejected(_body("qwen3-8b", **{name: value})).field == name


def test_ernies_sampling_range_holds_where_the_row_confirms_it():
    assert _rejected(_body("ernie-5.1", temperature=0)).allowed == "a number in (0, 1]"
    validate_v2_request(_body("kimi-k2-instruct", temperature=0))


IMAGE = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
VIDEO = {"type": "video_url", "video_url": {"url": "https://example.com/v.mp4", "fps": 2}}


def test_image_and_video_parts_follow_the_rows_vision():
    ask = [{"role": "user", "content": [{"type": "text", "text": "what is this?"}, IMAGE, VIDEO]}]
    validate_v2_request(_body("ernie-4.5-turbo-vl", ask))
    validate_v2_request(_body("a-model-the-catalog-lacks", ask))
    error = _rejected(_body("qwen3-vl-235b-a22b-instruct", ask))  # images, but no video
    assert (error.code, error.field, error.allowed) == ("invalid_argument", "messages.content", "image")
    error = _rejected(_body("ernie-4.5-turbo-32k", [{"role": "user", "content": [IMAGE]}]))
    assert "reads no images" in error.message and error.allowed == "text only"
    bad = [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]
    assert _rejected(_body("ernie-4.5-turbo-vl", bad)).field == "messages.content"
