"""``%wenxin lesson``: save conversations into a lesson, load one, or show what the loaded one holds (each question
with how often it answered)."""

from __future__ import annotations

from IPython.core.error import UsageError

from .display import one_line, safe_html, table_html

_QUESTION_CHARS = 80


def lesson_command(session, args) -> str | tuple[str, str]:
    """Run ``%wenxin lesson [save|load|off] [PATH]``: what was done, or the loaded lesson as (HTML, plain text)."""
    from .emulator import LessonError

    if args.action is None:
        if args.path or args.chats or args.name:
            raise UsageError("%wenxin lesson: say what to do: save PATH, load PATH or off.")
        return lesson_status(session)
    if args.action != "save" and (args.chats or args.name):
        raise UsageError("%wenxin lesson: -c and --name go with save.")
    if (args.action == "off") == bool(args.path):
        raise UsageError(f"%wenxin lesson {args.action}: " + ("takes no PATH." if args.path else
                                                               "give the lesson file's PATH (a .json file)."))
    try:
        if args.action == "save":
            return (session.save_lesson(args.path, args.chats, name=args.name) + f" Replay it offline with "
                    f"%wenxin lesson load {args.path}, or WENXIN_MAGIC_LESSON={args.path} before %load_ext.")
        if args.action == "off":
            return session.unload_lesson()
        said = session.load_lesson(args.path)
        return said if session.backend.offline else said + " %wenxin offline switches to it."
    except (LessonError, OSError) as err:
        raise UsageError(f"%wenxin lesson {args.action}: {getattr(err, 'strerror', None) or err}") from None


def lesson_status(session) -> tuple[str, str]:
    """The loaded lesson as HTML and plain text: where it came from, whether it answers now, its questions."""
    lesson = session.lesson
    if lesson is None:
        plain = ("No lesson loaded. %wenxin lesson load PATH (or WENXIN_MAGIC_LESSON=PATH before %load_ext) answers "
                 "from one offline; %wenxin lesson save PATH writes this kernel's conversations into one.")
        return f"<p>{safe_html(plain, markdown=False)}</p>", plain
    answering = ("answering now (offline)" if session.backend.offline
                 else "not answering now: online, answers come from Qianfan (%wenxin offline to use it)")
    speed = session.lesson_speed
    pace = "at once" if speed == 0 else "at the recorded pace" if speed == 1 else f"at {speed:g}× the recorded delays"
    head = (f"Lesson {lesson.name!r}" + (f" from {lesson.path}" if lesson.path else "") + f": {answering}; "
            f"{len(lesson.conversations)} conversation(s), {len(lesson)} question(s), {lesson.hits} answered from "
            f"it so far, streamed {pace} (lesson_speed {speed:g}).")
    header = ["conversation", "#", "model", "question", "tool calls", "answered"]
    rows = [[conversation, str(turn.number), turn.model, one_line(turn.question, _QUESTION_CHARS),
             str(sum(len(step.calls) for step in turn.steps)), str(turn.hits)]
            for conversation, turns in lesson.conversations for turn in turns]
    plain = "\n".join([head, "  ".join(header)] + ["  ".join(row) for row in rows])
    return f"<p>{safe_html(head, markdown=False)}</p>" + table_html(header, rows), plain
