"""The emulator answering from a lesson: the recorded reply for a request that matches, at the recorded pace, or
its own answer with a line saying the question is not in the lesson.

Tool calls are replayed as the model made them: the recorded step asks for the same calls, the client runs its
functions, and the next request carries their results. When a result is not the one recorded, the answer that
follows says so: the recorded answer was written from the recorded result.
"""

from __future__ import annotations

from ._lesson import LESSON_ID_PREFIX, Lesson, LessonStep, LessonTurn, normalise_question, question_text
from .answers import Answer, chunk, is_chinese

__all__ = ["LESSON_ID_PREFIX", "from_lesson", "mark_not_in_lesson"]
_SHOWN_RESULT = 80  # characters of a differing tool result quoted in the note


def from_lesson(lesson: Lesson | None, speed: float, model: str, messages, api: str):
    """(the recorded Answer, (time to first chunk, delay between chunks)) when the lesson holds this request, else
    None."""
    if lesson is None:
        return None
    questions, rounds, results = _conversation(messages)
    if not questions:
        return None
    turn = lesson.find(model, questions)
    if turn is None:
        return None
    if rounds == 0:
        lesson.hit(turn)
    step = turn.steps[min(rounds, len(turn.steps) - 1)]
    last = rounds >= len(turn.steps) - 1
    answer = _answer(step, api, rounds, last)
    if last and results:
        note = _differing_results(turn, results, chinese=is_chinese(turn.question))
        if note:
            answer.text = note + "\n\n" + answer.text
    return answer, _pace(step, answer, speed)


def mark_not_in_lesson(lesson: Lesson | None, model: str, messages, answer: Answer) -> None:
    """Put the one-line notice before the emulator's own answer to a question the lesson does not hold."""
    if lesson is None:
        return
    questions, rounds, _ = _conversation(messages)
    if not questions or rounds:  # a tool round's follow-up: its question already had the notice
        return
    chinese = is_chinese(questions[-1])
    others = lesson.holds(questions)
    if others and chinese:
        why = f"课程「{lesson.name}」里这个问题是问 {'、'.join(others)} 的，不是 {model}"
    elif others:
        why = f"the lesson “{lesson.name}” holds this question for {', '.join(others)}, not {model}"
    elif chinese:
        why = f"这个问题不在课程「{lesson.name}」里"
    else:
        why = f"this question is not in the lesson “{lesson.name}”"
    notice = f"（{why}：下面是离线模拟器的回答。）" if chinese else \
        f"({why[0].upper()}{why[1:]}: the offline emulator answers it.)"
    if not answer.function_call:  # v1's function call carries no text to put it in
        answer.text = notice + ("\n\n" + answer.text if answer.text else "")


def _conversation(messages) -> tuple[list[str], int, list[str]]:
    """The user's questions in order, the tool-call rounds since the last one, and the results those carried."""
    questions: list[str] = []
    rounds, results = 0, []
    for message in messages if isinstance(messages, list) else ():
        if not isinstance(message, dict):
            continue
        role = message.get("role")
        if role == "user":
            questions.append(question_text(message.get("content")))
            rounds, results = 0, []
        elif role == "assistant" and questions and (message.get("tool_calls") or message.get("function_call")):
            rounds += 1
        elif role in ("tool", "function") and questions:
            results.append(question_text(message.get("content")))
    return questions, rounds, results


def _answer(step: LessonStep, api: str, round_number: int, last: bool) -> Answer:
    references = {"search_results": step.references} if step.references else None
    if last or not step.calls:
        return Answer(text=step.text, reasoning=step.reasoning if api == "v2" else "", search_info=references,
                      finish_reason="normal")
    if api == "v1":  # v1 asks for one function a round
        call = step.calls[0]
        function_call = {"name": call["name"], "arguments": _arguments(call)}
        if call.get("thoughts"):
            function_call["thoughts"] = str(call["thoughts"])
        return Answer(text="", finish_reason="function_call", function_call=function_call)
    tool_calls = [{"id": str(call.get("id") or f"call_{round_number + 1}_{i}"), "type": "function",
                   "function": {"name": call["name"], "arguments": _arguments(call)}}
                  for i, call in enumerate(step.calls)]
    return Answer(text=step.text, reasoning=step.reasoning, finish_reason="tool_calls", tool_calls=tool_calls)


def _arguments(call: dict) -> str:
    arguments = call.get("arguments")
    return arguments if isinstance(arguments, str) else "{}"


def _pace(step: LessonStep, answer: Answer, speed: float) -> tuple[float, float]:
    """The recorded time to the first chunk, and the rest of the recorded stream spread over the chunks sent."""
    pieces = len(chunk(answer.reasoning)) + len(chunk(answer.text)) + len(answer.tool_calls or ())
    ttft = step.ttft * speed
    return ttft, max(0.0, step.seconds - step.ttft) / max(1, pieces - 1) * speed


def _differing_results(turn: LessonTurn, results: list[str], *, chinese: bool) -> str:
    """A note naming each tool result that is not the one recorded, or ""."""
    recorded = [call for step in turn.steps[:-1] for call in step.calls]
    differing = []
    for call, now in zip(recorded, results, strict=False):  # a count that differs is named below
        then = str(call.get("result") or "")
        if normalise_question(then) != normalise_question(now):
            differing.append((call["name"], _short(then), _short(now)))
    if len(results) != len(recorded):
        differing.append(("…", f"{len(recorded)} results", f"{len(results)} results"))
    if not differing:
        return ""
    if chinese:
        parts = "；".join(f"`{name}` 录制时返回 {then}，这次返回 {now}" for name, then, now in differing)
        return f"> 注意：工具结果与录制课程时不同（{parts}）。下面是录制时的回答，它依据的是当时的结果。"
    parts = "; ".join(f"`{name}` returned {then} when recorded, {now} now" for name, then, now in differing)
    return f"> Note: a tool result differs from the recorded lesson ({parts}). The answer below is the recorded " \
           "one, written from the recorded result."


def _short(text: str) -> str:
    text = " ".join(str(text).split())
    return repr(text if len(text) <= _SHOWN_RESULT else text[:_SHOWN_RESULT - 1] + "…")
