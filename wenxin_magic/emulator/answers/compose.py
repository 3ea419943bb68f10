"""The composer: ``compose`` for a v1 body, ``compose_v2`` for a v2 one; safety, function calls,
the answer's text and its shape (length, JSON, search, stop and token limits), and a reasoning model's thinking.

What a chat question gets, first match first: the notebook's context (a table, a failed cell), names, a
follow-up, a greeting, text to copy out, a city's one-sentence facts, a comparison of two numbers, arithmetic, code for a known task, who is answering, a
built-in topic, and otherwise the emulator's honest reply.
"""

from __future__ import annotations

import json

from ...api import COMPLETION, estimate_tokens
from .arguments import REPAIR_ASKED, json_answer, stated_schema
from .arithmetic import calculation_answer, calculation_reasoning, comparison_answer, comparison_reasoning
from .calculator import calculation_in, comparison_in
from .fixes import error_answer, failure_of
from .lengths import dedupe, fit_length
from .notebook import asked_in_chinese
from .pictures import image_parts, picture_answer
from .places import city_answer
from .prose import (CLOSINGS, TOPIC_TITLES, add_citations, asks_my_name, asks_your_name, continue_text, copied_text,
                    greeting, is_follow_up, is_greeting, match_topic, remembered_name, search_info_for, self_intro,
                    sentences_asked, topic_answer, topic_sentences)
from .reasoning import (chat_reasoning, context_reasoning, picture_reasoning, results_reasoning, tool_reasoning,
                        topic_reasoning)
from .request import FLAG_TRIGGERS, SAFETY_TRIGGERS, Answer, Context, content_of, is_chinese, topic_of, wanted_length
from .snippets import CODE_CLOSINGS, code_answer, code_reasoning, code_task
from .tables import table_answer, table_of
from .unanswered import unanswered, unanswered_reasoning
from .tools import first_tool_calls, function_results_answer, next_tool_calls, tool_results_answer, v1_function_call


def compose(spec, endpoint: str, body: dict, *, answer_chars: int | None = None) -> Answer:
    """The answer for ``body`` sent to ``endpoint`` (``spec`` is the registry model or None)."""
    kind = getattr(spec, "kind", None) or (COMPLETION if "prompt" in body else "chat")
    ctx = Context(_model_name(spec, endpoint), kind, body, answer_chars)
    refusal = _safety_refusal(ctx)
    if refusal is not None:
        return refusal
    last_role = ctx.messages[-1].get("role") if ctx.messages else "user"
    call = v1_function_call(ctx, last_role) if kind != COMPLETION else None
    if call is not None:
        return call
    text, topic = _text_and_topic(ctx, last_role)
    results = last_role == "function"
    return _shaped(ctx, text, topic, body, search=kind != COMPLETION and not results, results=results)


def _shaped(ctx: Context, text: str, topic: str, body: dict, *, search: bool, results: bool = False) -> Answer:
    """The answer around ``text``: the length asked for, deduplicated, as JSON if asked, with search results
    and citations, then cut by ``stop`` and ``max_output_tokens``. An answer from ``results`` is not
    lengthened by words in them: a result saying "detailed" is data, not a request."""
    target = ctx.answer_chars or (None if results or ctx.context else wanted_length(ctx.question))
    if target:
        text = fit_length(ctx, text, target, CLOSINGS + CODE_CLOSINGS)
    if ctx.penalty >= 1.5 and not ctx.context:  # a code block keeps its repeated lines
        text = dedupe(text)
    answer = Answer(text=text)
    as_json = body.get("response_format") in ("json_object", "json_schema")
    schema = body.get("json_schema") if body.get("response_format") == "json_schema" else None
    if schema is None and not results:  # a schema stated in the system message is followed, as a model would
        schema = stated_schema(body.get("system"))
    if isinstance(schema, dict):
        answer.text = json.dumps(json_answer(schema, _asked(ctx), text), ensure_ascii=False, indent=2)
    elif as_json:
        answer.text = json.dumps({"model": ctx.model, "topic": topic, "answer": text}, ensure_ascii=False, indent=2)
    if search and _wants_search(body):
        answer.search_info = search_info_for(ctx, topic)
        if body.get("enable_citation") and not as_json:
            answer.text = add_citations(answer.text)
    _apply_limits(answer, body)
    return answer


# ------------------------------------------------------------------- v2

def compose_v2(model: str, body: dict, *, reasoning: bool = False, answer_chars: int | None = None) -> Answer:
    """The answer to a v2 (OpenAI-style) request for ``model``: the v1 composer's, plus several tool calls
    in one round, answers that use every tool result, ``reasoning`` text when the model thinks aloud, JSON that
    follows a ``json_schema`` response format, and ``flag`` 3 or 4 when the question has a flag trigger word."""
    view = _v1_view(body)
    ctx = Context(model, "chat", view, answer_chars)
    answer = _safety_refusal(ctx)
    if answer is not None:
        answer.flag = 2
        return answer
    last_role = ctx.messages[-1].get("role") if ctx.messages else "user"
    asked = ctx.user_turns[-1] if ctx.user_turns else ctx.question
    topic = topic_of(asked)
    calls = first_tool_calls(ctx, body) if last_role == "user" else next_tool_calls(ctx, body) if last_role == "tool" else []
    if calls:
        answer = Answer(text="", finish_reason="tool_calls", tool_calls=calls)
        ctx.thought = tool_reasoning(ctx, asked, calls)
    elif last_role == "tool":
        answer = _shaped(ctx, tool_results_answer(ctx), topic, view, search=False, results=True)
        ctx.thought = results_reasoning(ctx, asked)
    elif last_role == "user" and image_parts(ctx.messages[-1]):
        answer = _shaped(ctx, picture_answer(ctx, image_parts(ctx.messages[-1])), topic, view, search=False,
                         results=True)
        ctx.thought = picture_reasoning(ctx, asked)
    else:
        text, topic = _text_and_topic(ctx, last_role)
        answer = _shaped(ctx, text, topic, view, search=True)
    if reasoning:
        answer.reasoning = ctx.thought or unanswered_reasoning(ctx, asked)
    question = ctx.user_turns[-1] if ctx.user_turns and last_role == "user" else ""
    flag = next((flag for word, flag in FLAG_TRIGGERS.items() if word in question), None)
    if flag is not None:
        answer.flag, answer.ban_round = flag, -1
    return answer


def _v1_view(body: dict) -> dict:
    """A v2 body as the v1 composer reads it: the system message as ``system``, v1 parameter names."""
    messages = [m for m in body.get("messages") or () if isinstance(m, dict)]
    view = {k: body[k] for k in ("temperature", "top_p", "penalty_score", "stop") if k in body}
    if messages and messages[0].get("role") == "system":
        view["system"] = content_of(messages[0])
        messages = messages[1:]
    view["messages"] = messages
    if "max_completion_tokens" in body:
        view["max_output_tokens"] = body["max_completion_tokens"]
    fmt = body.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_object":
        view["response_format"] = "json_object"
    elif isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        # answered as the schema says; without a usable schema, as a JSON object
        view["response_format"] = "json_schema"
        described = fmt.get("json_schema") if isinstance(fmt.get("json_schema"), dict) else {}
        view["json_schema"] = described.get("schema")
    search = body.get("web_search")
    if isinstance(search, dict) and search.get("enable") is True:
        view["enable_trace"] = True
        view["enable_citation"] = search.get("enable_citation") is not False
    return view


def _asked(ctx: Context) -> str:
    """What a JSON answer is about: the question, or the one before a request to correct the last answer."""
    if REPAIR_ASKED in ctx.question and len(ctx.user_turns) >= 2:
        return ctx.user_turns[-2]
    return ctx.question


def _model_name(spec, endpoint: str) -> str:
    """The name answers are styled after: the model's, or a deployment's endpoint."""
    name = getattr(spec, "name", None) or endpoint
    return endpoint if name.startswith("custom ") else name


def _safety_refusal(ctx: Context) -> Answer | None:
    """The refusal when any user turn has a trigger word; ``ban_round`` names the turn unless it is the last."""
    turns = [ctx.question] if ctx.kind == COMPLETION else ctx.user_turns
    for index, turn in enumerate(turns, 1):
        if any(t in turn for t in SAFETY_TRIGGERS):
            last = index == len(turns) and (ctx.kind == COMPLETION or ctx.messages[-1].get("role") == "user")
            zh = is_chinese(turn) or ctx.zh
            text = ("抱歉，这个话题我无法回答。我们换个话题聊聊吧。" if zh
                    else "Sorry, I can't help with that. Let's talk about something else.")
            return Answer(text=text, finish_reason="content_filter", need_clear_history=True,
                          ban_round=-1 if last else index, flag=1)
    return None


def _text_and_topic(ctx: Context, last_role: str) -> tuple[str, str]:
    """The answer's text, and the topic that lengthening and search results are about."""
    q = ctx.question
    if ctx.kind == COMPLETION:
        return continue_text(ctx), topic_of(q)
    if last_role == "function":
        return function_results_answer(ctx), topic_of(q)
    text = _chat_text(ctx, q)
    if is_follow_up(q) and len(ctx.user_turns) >= 2:
        return text, topic_of(ctx.user_turns[-2])
    return text, topic_of(q)


def _wants_search(body: dict) -> bool:
    return body.get("disable_search") is not True and bool(body.get("enable_citation") or body.get("enable_trace"))


def _chat_text(ctx: Context, q: str) -> str:
    """The answer to a chat question; ``ctx.thought`` is left holding what a reasoning model thinks first."""
    context = _context_answer(ctx, q)
    if context is not None:
        ctx.context = True
        return context
    if asks_my_name(q):
        ctx.thought = chat_reasoning(ctx, q, "my_name")
        name = remembered_name(ctx.user_turns[:-1])
        if name:
            return (f"你叫{name}。你在之前的对话里告诉过我。" if ctx.zh else
                    f"Your name is {name}; you told me earlier in our conversation.")
        return ("你还没有告诉我你的名字呢。" if ctx.zh else "You haven't told me your name yet.")
    if is_follow_up(q) and len(ctx.user_turns) >= 2:
        return _follow_up(ctx, ctx.user_turns[-2])
    if is_greeting(q):
        ctx.thought = chat_reasoning(ctx, q, "greeting")
        return greeting(ctx)
    copied = copied_text(q)
    if copied is not None:
        ctx.thought = chat_reasoning(ctx, q, "copy")
        return copied
    about_city = city_answer(q)
    if about_city is not None:
        ctx.thought = chat_reasoning(ctx, q, "place")
        return about_city
    comparison = comparison_in(q)
    if comparison is not None:
        ctx.thought = comparison_reasoning(ctx, comparison)
        return comparison_answer(ctx, comparison)
    calculation = calculation_in(q)
    if calculation is not None:
        ctx.thought = calculation_reasoning(ctx, calculation)
        return calculation_answer(ctx, calculation)
    key = match_topic(q)
    task = None if key else code_task(q)
    if task is not None:
        ctx.thought = code_reasoning(ctx, task)
        return code_answer(ctx, task)
    if asks_your_name(q):
        ctx.thought = chat_reasoning(ctx, q, "your_name")
        return self_intro(ctx)
    if key:
        short = topic_sentences(ctx, key) is not None
        ctx.thought = topic_reasoning(ctx, q, TOPIC_TITLES[key]["zh" if ctx.zh else "en"],
                                      sentences_asked(q) if short else None)
        text = topic_answer(ctx, key)
        if ctx.persona:
            return (f"我是{ctx.persona}。\n\n" if ctx.zh else f"I'm {ctx.persona}.\n\n") + text
        if ctx.system and ctx.style != "terse":
            return ("（按照你的设定回答）\n\n" if ctx.zh else "(Following your instructions)\n\n") + text
        return text
    ctx.thought = unanswered_reasoning(ctx, q)
    return unanswered(ctx, q)


def _follow_up(ctx: Context, previous: str) -> str:
    """"Tell me more" after a question: that question's answer again, introduced as more; honest if unknown."""
    ctx.thought = chat_reasoning(ctx, previous, "follow_up")
    prev_ctx = Context(ctx.model, ctx.kind, dict(ctx.body, messages=[{"role": "user", "content": previous}]),
                       ctx.answer_chars)
    prev_ctx.zh = ctx.zh
    key = match_topic(previous)
    if key is None:
        return unanswered(prev_ctx, previous)
    title = TOPIC_TITLES[key]["zh" if ctx.zh else "en"]
    head = f"好的，接着说{title}。\n\n" if ctx.zh else f"Sure, more on {title}.\n\n"
    return head + topic_answer(prev_ctx, key)


def _apply_limits(answer: Answer, body: dict) -> None:
    stop = body.get("stop")
    if isinstance(stop, list):
        hits = [answer.text.find(s) for s in stop if isinstance(s, str) and s and s in answer.text]
        if hits:
            answer.text = answer.text[:min(hits)]
            answer.finish_reason = "stop"
    limit = body.get("max_output_tokens")
    if isinstance(limit, int) and not isinstance(limit, bool) and estimate_tokens(answer.text) > limit:
        lo, hi = 0, len(answer.text)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if estimate_tokens(answer.text[:mid]) <= limit:
                lo = mid
            else:
                hi = mid - 1
        answer.text = answer.text[:lo]
        answer.finish_reason = "length"
        answer.is_truncated = True


def _context_answer(ctx: Context, q: str) -> str | None:
    """The answer to a prompt holding a Python error or a table summary; None for any other prompt."""
    if not q or ctx.kind == COMPLETION:
        return None
    failure = failure_of(q)
    if failure is not None:
        ctx.thought = context_reasoning(asked_in_chinese(ctx, q), "error")
        return error_answer(ctx, q, failure)
    table = table_of(q)
    if table is not None:
        ctx.thought = context_reasoning(asked_in_chinese(ctx, q), "table")
        return table_answer(ctx, q, table)
    return None
