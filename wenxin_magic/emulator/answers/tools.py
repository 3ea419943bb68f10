"""Tool turns: which function a question calls (v1 one a round, v2 several), the calls a turn has made,
and one sentence per result.
"""

from __future__ import annotations

import json
import re

from .arguments import fill_arguments, place_in, places_in
from .request import Answer, Context, content_of, is_chinese, quoted, stable_hash

# ------------------------------------------------------------- functions

_FN_STOP = {"获得", "获取", "指定", "查询", "一个", "用于", "返回", "信息", "the", "get", "for", "and", "with", "given",
            "specified", "current", "information", "of", "a", "an", "to", "in", "on", "by", "is", "what", "like"}
_SYNONYMS = {"天气": ["weather", "气温", "温度", "下雨"], "weather": ["天气", "temperature", "rain"],
             "股价": ["stock", "price", "股票"], "price": ["价格", "股价", "多少钱"]}


def _fn_terms(fn: dict) -> set[str]:
    text = f"{fn.get('name', '')} {fn.get('description', '')}"
    terms = set()
    for w in re.findall(r"[A-Za-z]{3,}", text.replace("_", " ")):
        w = w.lower()
        if w not in _FN_STOP:
            terms.add(w)
    for run in re.findall(r"[\u4e00-\u9fff]+", text):
        for i in range(len(run) - 1):
            bg = run[i:i + 2]
            if bg not in _FN_STOP and not any(c in bg for c in "的是了在和与"):
                terms.add(bg)
    for t in list(terms):
        terms.update(_SYNONYMS.get(t, ()))
    return terms


def _score(fn: dict, low: str) -> int:
    """How many of the function's terms the (lower-cased) question uses."""
    return sum(1 for t in _fn_terms(fn) if t in low)


def _matched_functions(question: str, functions: list) -> list[dict]:
    """Every function the question matches, the best match first (v1 calls them one a round)."""
    candidates = [fn for fn in functions if isinstance(fn, dict)]
    low = question.lower()
    scores = [_score(fn, low) for fn in candidates]
    best = max(scores, default=0)
    if not best:
        return []
    first = scores.index(best)
    others = [fn for index, (fn, score) in enumerate(zip(candidates, scores, strict=True))
              if index != first and score * 2 >= best]
    return [candidates[first], *others]


def _choose_function(question: str, functions: list, tool_choice) -> dict | None:
    if isinstance(tool_choice, dict):
        name = (tool_choice.get("function") or {}).get("name")
        for fn in functions:
            if isinstance(fn, dict) and fn.get("name") == name:
                return fn
    low = question.lower()
    best, best_score = None, 0
    for fn in functions:
        if not isinstance(fn, dict):
            continue
        score = _score(fn, low)
        if score > best_score:
            best, best_score = fn, score
    return best


def _function_call_answer(ctx: Context, fn: dict, question: str, zh: bool) -> Answer:
    args = fill_arguments(fn, question)
    name = fn.get("name", "")
    quote = quoted(question, zh)
    if zh:
        thoughts = (f"用户问{quote}，" if quote else "") + f"需要调用{name}来获取相关信息。"
    else:
        thoughts = (f"The user asks {quote}, so " if quote else "") + f"I should call {name} to get the information."
    call = {"name": name, "thoughts": thoughts, "arguments": json.dumps(args, ensure_ascii=False)}
    return Answer(text="", finish_reason="function_call", function_call=call)


def function_results_answer(ctx: Context) -> str:
    """One sentence per function result since the question, in order, each read with the call before it."""
    turn = _since_question(ctx.messages)
    sentences = []
    for index, message in enumerate(turn):
        if message.get("role") != "function":
            continue
        before = turn[index - 1] if index else {}
        call = before.get("function_call") if isinstance(before.get("function_call"), dict) else {}
        sentences.append(_result_sentence(ctx, message.get("name") or "", content_of(message), call.get("arguments")))
    return _joined(ctx, sentences)


def _joined(ctx: Context, sentences: list[str]) -> str:
    return ("" if _question_zh(ctx) else " ").join(sentences)


# ------------------------------------------------------------- the turn
# A turn is the latest user question and what followed it: calls, results, more calls. Chains and
# answers look only at it, so an earlier question's calls neither block nor feed this one.

def _since_question(messages: list[dict]) -> list[dict]:
    for index in range(len(messages) - 1, -1, -1):
        if messages[index].get("role") == "user":
            return messages[index + 1:]
    return messages


def _latest_question(ctx: Context) -> str:
    return ctx.user_turns[-1] if ctx.user_turns else ctx.question


def _question_zh(ctx: Context) -> bool:
    question = ctx.user_turns[-1] if ctx.user_turns else ""
    return is_chinese(question) if question else ctx.zh


def _calls_made(turn: list[dict]) -> list[tuple[str, object]]:
    """(name, arguments) of every call asked for in the turn, v1 ``function_call`` and v2 ``tool_calls`` alike."""
    made = []
    for message in turn:
        if message.get("role") != "assistant":
            continue
        calls = message.get("tool_calls") if isinstance(message.get("tool_calls"), list) else []
        functions = [c["function"] for c in calls if isinstance(c, dict) and isinstance(c.get("function"), dict)]
        if isinstance(message.get("function_call"), dict):
            functions.insert(0, message["function_call"])
        made += [(str(f.get("name") or ""), f.get("arguments")) for f in functions]
    return made


def _decoded(arguments):
    try:
        return json.loads(arguments)
    except (TypeError, ValueError):
        return arguments


def _same_call(planned: str, made) -> bool:
    """Whether a call made already is the planned one: arguments that agree on every field both give (a client
    may drop an optional field or re-serialise the JSON), else the same text."""
    want, got = _decoded(planned), _decoded(made)
    if isinstance(want, dict) and isinstance(got, dict):
        return all(want[key] == got[key] for key in want.keys() & got.keys())
    return want == got


def _not_yet_made(planned: list[tuple[str, str]], made: list[tuple[str, object]]) -> list[int]:
    """Indexes of the planned calls still to ask for: never the same function with the same arguments twice,
    and a function planned once is done once called at all (whatever arguments the client really used)."""
    called = {name for name, _ in made}
    once = {name for name, _ in planned if sum(1 for other, _ in planned if other == name) == 1}
    return [index for index, (name, arguments) in enumerate(planned)
            if not (name in once and name in called)
            and not any(other == name and _same_call(arguments, sent) for other, sent in made)]


def _names_a_tool(choice) -> bool:
    return isinstance(choice, dict) and bool((choice.get("function") or {}).get("name"))


def _result_sentence(ctx: Context, name: str, raw: str, called_arguments) -> str:
    """One sentence that reports what function ``name`` returned (``raw``), called with ``called_arguments``."""
    try:
        data = json.loads(raw) if raw else {}
    except ValueError:
        data = raw
    question = ctx.user_turns[-1] if ctx.user_turns else ""
    zh = is_chinese(question) if question else ctx.zh
    place = None
    if isinstance(called_arguments, str):
        try:
            called = json.loads(called_arguments or "{}")
            if isinstance(called, dict):
                place = called.get("location") or called.get("city")
        except ValueError:
            pass
    place = place or place_in(question)
    error = _error_of(data)
    if error is not None:
        return _failure_sentence(name, error, zh)
    if isinstance(data, dict) and ("temperature" in data or "weather" in name.lower()):
        temp = data.get("temperature", "")
        unit = data.get("unit", "摄氏度" if zh else "°C")
        desc = data.get("description", "")
        if zh:
            return f"{place or ''}今天天气：气温{temp}{unit}，{desc}。".replace("，。", "。")
        return f"Today in {place or 'that place'}: {temp} {unit}, {desc}.".replace(", .", ".")
    if isinstance(data, dict) and data:
        if zh:
            return f"根据{name}返回的结果：" + "，".join(f"{k}为{v}" for k, v in data.items()) + "。"
        return f"According to {name}: " + ", ".join(f"{k} is {v}" for k, v in data.items()) + "."
    text = _brief(str(data)) if data not in (None, "", {}) else ("（没有返回内容）" if zh else "(no content)")
    return (f"{name}的结果是：{text}" if zh else f"{name} returned: {text}")


def _error_of(data) -> str | None:
    """Why a call failed, when its result is the ``{"error": "..."}`` the client sends for a failed, declined
    or ill-argued call."""
    if isinstance(data, dict) and set(data) == {"error"} and isinstance(data["error"], str) and data["error"].strip():
        return data["error"].strip()
    return None


def _failure_sentence(name: str, reason: str, zh: bool) -> str:
    reason = _brief(reason, 160)
    name = name or ("该函数" if zh else "that function")
    if zh:
        return f"我无法使用{name}：{reason.rstrip('。.')}。"
    return f"I could not use {name}: {reason}" + ("" if reason.endswith((".", "!", "?", "…")) else ".")


_CUT_MARKER = re.compile(r"\s*…\s*\[cut:[^\]]*\]")


def _brief(text: str, limit: int = 80) -> str:
    """A long or cut result quoted by its start: the answer reports it, it does not repeat it."""
    cut = _CUT_MARKER.search(text)
    if cut is None and len(text) <= limit:
        return text
    head = " ".join((text[:cut.start()] if cut else text).split())
    return head[:limit].rstrip() + "…"



def _has_place_field(fn: dict) -> bool:
    params = fn.get("parameters") if isinstance(fn.get("parameters"), dict) else {}
    props = params.get("properties") if isinstance(params.get("properties"), dict) else {}
    return any(any(k in name.lower() for k in ("location", "city", "place", "地点", "城市")) for name in props)


def _tool_functions(body: dict) -> list[dict]:
    tools = body.get("tools") if isinstance(body.get("tools"), list) else []
    return [t["function"] for t in tools if isinstance(t, dict) and isinstance(t.get("function"), dict)]


def first_tool_calls(ctx: Context, body: dict) -> list[dict]:
    """The calls the question asks for: the tool ``tool_choice`` names, else every tool the question matches
    (one call per city named when a tool takes a location); one call only if ``parallel_tool_calls`` is false."""
    functions = _tool_functions(body)
    if not functions or body.get("tool_choice") == "none":
        return []
    calls = _planned_tool_calls(body, ctx.question, functions)
    return calls[:1] if body.get("parallel_tool_calls") is False else calls


def next_tool_calls(ctx: Context, body: dict) -> list[dict]:
    """After results: the planned calls the turn has not made yet (those left when ``parallel_tool_calls`` is
    false); none when ``tool_choice`` named a tool, which is called in the first round only."""
    functions = _tool_functions(body)
    choice = body.get("tool_choice")
    if not functions or choice == "none" or _names_a_tool(choice):
        return []
    # the round's salt keeps a later round's ids apart from the first round's
    planned = _planned_tool_calls(body, _latest_question(ctx), functions, salt=len(ctx.messages))
    made = _calls_made(_since_question(ctx.messages))
    pending = [planned[i] for i in _not_yet_made([(c["function"]["name"], c["function"]["arguments"])
                                                  for c in planned], made)]
    return pending[:1] if body.get("parallel_tool_calls") is False else pending


def _planned_tool_calls(body: dict, question: str, functions: list[dict], salt: int | None = None) -> list[dict]:
    """Every call the question asks for, whatever the turn has done already."""
    choice = body.get("tool_choice")
    named = (choice.get("function") or {}).get("name") if isinstance(choice, dict) else None
    if named:
        chosen = [fn for fn in functions if fn.get("name") == named][:1]
    else:
        low = question.lower()
        scores = [_score(fn, low) for fn in functions]
        best = max(scores)
        chosen = [fn for fn, score in zip(functions, scores, strict=True) if best and score * 2 >= best]
        if not chosen and choice == "required":
            chosen = functions[:1]
    calls = []
    for fn in chosen:
        places = places_in(question) if _has_place_field(fn) else []
        for place in places if len(places) >= 2 else [None]:
            name = fn.get("name", "")
            arguments = json.dumps(fill_arguments(fn, question, place, optional_places=True), ensure_ascii=False)
            key = (question, name, place, len(calls)) + (() if salt is None else (salt,))
            calls.append({"id": f"call_{stable_hash(*key):08x}", "type": "function",
                          "function": {"name": name, "arguments": arguments}})
    return calls


def tool_results_answer(ctx: Context) -> str:
    """One sentence per ``tool`` message since the question, in order, each using the call it answers."""
    turn = _since_question(ctx.messages)
    calls = {}
    for message in turn:
        for call in message.get("tool_calls") if isinstance(message.get("tool_calls"), list) else ():
            if isinstance(call, dict) and isinstance(call.get("function"), dict):
                calls[call.get("id")] = call["function"]
    sentences = []
    for message in turn:
        if message.get("role") != "tool":
            continue
        call = calls.get(message.get("tool_call_id"), {})
        name = call.get("name") or message.get("name") or ""
        sentences.append(_result_sentence(ctx, name, content_of(message), call.get("arguments")))
    return _joined(ctx, sentences)


def v1_function_call(ctx: Context, last_role: str) -> Answer | None:
    """The v1 call to ask for: after the question, the function ``tool_choice`` names or the best match;
    after a result, the next function the question matches (see ``_next_function``)."""
    functions = ctx.body.get("functions") if isinstance(ctx.body.get("functions"), list) else None
    if not functions or ctx.body.get("tool_choice") == "none":
        return None
    if last_role != "function":
        fn = _choose_function(ctx.question, functions, ctx.body.get("tool_choice"))
        return _function_call_answer(ctx, fn, ctx.question, ctx.zh) if fn is not None else None
    question = _latest_question(ctx)
    fn = _next_function(ctx, functions, question)
    return _function_call_answer(ctx, fn, question, _question_zh(ctx)) if fn is not None else None


def _next_function(ctx: Context, functions: list, question: str) -> dict | None:
    """A function the question matches that the turn has not called yet; none when ``tool_choice`` named
    one, which is called in the first round only."""
    if _names_a_tool(ctx.body.get("tool_choice")):
        return None
    matched = _matched_functions(question, functions)
    planned = [(fn.get("name", ""), json.dumps(fill_arguments(fn, question), ensure_ascii=False)) for fn in matched]
    pending = _not_yet_made(planned, _calls_made(_since_question(ctx.messages)))
    return matched[pending[0]] if pending else None
