"""Magic lines into typed arguments: the %%wenxin options, the %wenxin subcommands, {variables}.

One table of subcommands drives parsing, dispatch (the magics look handlers up by
name) and help, as jupyter-ai's ``parsers.py`` does; the sampling options are made
from the api's parameter table, so a range is written down once. Kept free of
IPython so every rule here has a fast unit test.
"""

from __future__ import annotations

import argparse
import re
import shlex
from dataclasses import dataclass, field
from typing import Callable

from .api import PARAMETERS, Parameter, QianfanError
from .images import Picture, is_picture, picture_of
from .tool_lookup import ParamError, ToolLookupError, read_param, split_tool_names

FORMATS = ("markdown", "text", "code", "json")


class UsageError(ValueError):
    """A magic line that cannot be understood; the message says what is wrong and what is allowed."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse would print and exit the kernel's process
        raise UsageError(f"{self.prog}: {message}.\n{self.format_usage().strip()}")

    def exit(self, status=0, message=None):
        raise UsageError(message or self.format_help())


def _converter(rule: Parameter) -> Callable[[str], object]:
    """An argparse type from a parameter rule: its range errors become argparse's."""
    def convert(text: str):
        try:
            return rule.parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    convert.__name__ = rule.name  # argparse names the type in some messages
    return convert


def _name(what: str):
    def convert(text: str) -> str:
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", text):
            raise argparse.ArgumentTypeError(f"{what} must be a Python identifier, got {text!r}")
        return text
    return convert


def _models(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise argparse.ArgumentTypeError("--compare takes model names separated by commas, e.g. "
                                         "BLOOMZ-7B,ERNIE-Speed-8K")
    return names


def _tool_names(text: str) -> list[str]:
    try:
        names = split_tool_names(text)  # the rule the panel's tools box follows too
    except ToolLookupError as err:
        raise argparse.ArgumentTypeError(str(err).rstrip(".")) from None  # the parser ends the sentence
    if not names:
        raise argparse.ArgumentTypeError(f"--tools takes names of the notebook's functions separated by commas, "
                                         f"e.g. get_weather,convert; got {text!r}")
    return names


def _positive(option: str, most: int | None = None):
    allowed = "of at least 1" if most is None else f"from 1 to {most:,}"

    def convert(text: str) -> int:
        try:
            value = int(text)
        except ValueError:  # not a number, or more digits than int() will read
            value = 0
        if value < 1 or (most is not None and value > most):
            got = repr(text) if len(text) <= 40 else f"{text[:20]!r}... ({len(text):,} characters)"
            raise argparse.ArgumentTypeError(f"{option} takes a whole number {allowed}, got {got}")
        return value
    return convert


MIN_THINKING_BUDGET = 100
EFFORTS = ("low", "medium", "high")


def _param(text: str) -> tuple[str, object]:
    try:
        return read_param(text)
    except ParamError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _thinking_budget(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or value < MIN_THINKING_BUDGET:
        got = repr(text) if len(text) <= 40 else f"{text[:20]!r}... ({len(text):,} characters)"
        raise argparse.ArgumentTypeError(f"--thinking-budget takes a whole number of tokens of at least "
                                         f"{MIN_THINKING_BUDGET}, got {got}")
    return value


def _schema_spec(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("--schema names nothing: name a pydantic model, a dataclass or a TypedDict "
                                         "defined in the notebook, or write fields such as \"city, population int\"")
    return text


def option_parameters() -> list[Parameter]:
    """The request parameters a %%wenxin option sets, in the table's order."""
    return [rule for rule in PARAMETERS.values() if rule.option]


def _dest(rule: Parameter) -> str:
    return rule.option.lstrip("-").replace("-", "_")


def _add_parameter_options(p: _Parser) -> None:
    for rule in option_parameters():
        flags = [rule.short, rule.option] if rule.short else [rule.option]
        text = f"{rule.doc} {rule.range_text}".strip()
        if rule.kind == "stop":
            p.add_argument(*flags, dest=_dest(rule), action="append", help=f"{rule.doc} (repeatable)")
        else:
            p.add_argument(*flags, dest=_dest(rule), type=_converter(rule), help=text)


def _build_cell_parser() -> _Parser:
    p = _Parser(prog="%%wenxin", add_help=False, allow_abbrev=False,
                description="Ask a Qianfan model; the prompt is the cell body.")
    p.add_argument("-m", "--model", help="registry model name (%%wenxin models lists them)")
    p.add_argument("--endpoint", help="API address of a service you deployed")
    p.add_argument("--completion", action="store_true", help="continue the text (prompt, no history)")
    p.add_argument("-c", "--chat", help="conversation name (default: 'default')")
    p.add_argument("--new", action="store_true", help="start the conversation afresh")
    p.add_argument("-s", "--system", help="system prompt (kept by the conversation)")
    _add_parameter_options(p)
    think = p.add_mutually_exclusive_group()
    think.add_argument("--think", dest="think", action="store_const", const=True,
                       help="ask a reasoning model to think first (mapped per model; a note says when it cannot)")
    think.add_argument("--no-think", dest="think", action="store_const", const=False,
                       help="ask a reasoning model not to think, where it has such a switch")
    p.add_argument("--thinking-budget", type=_thinking_budget, metavar="N",
                   help=f"tokens the model may think for, at least {MIN_THINKING_BUDGET}")
    p.add_argument("--effort", choices=EFFORTS, help="how hard a reasoning model should think")
    p.add_argument("--param", dest="extra", type=_param, action="append", metavar="NAME=VALUE",
                   help="any request field, repeatable; VALUE is JSON when it parses as JSON (42, true, "
                        "{\"a\": 1}), else text. The service is the judge of it")
    p.add_argument("--web-search", action="store_true",
                   help="search the web and cite the sources (v2 models that take web_search)")
    p.add_argument("--tools", type=_tool_names, metavar="F1,F2,...",
                   help="the notebook's functions the model may call (default: WenxinMagics.tools)")
    p.add_argument("--no-tools", action="store_true", help="offer no tools, whatever WenxinMagics.tools says")
    p.add_argument("--approve", action="store_true", help="ask before each tool call")
    p.add_argument("--batch", type=_name("--batch"), metavar="VAR",
                   help="run the cell as a template over the items of VAR ({item}, {item.field}, {i}) into a table")
    p.add_argument("--concurrency", type=_positive("--concurrency"), metavar="N",
                   help="with --batch: requests in flight at most (default 8; the quota may allow fewer)")
    p.add_argument("--resume", action="store_true", help="with --batch: run only the rows the last run (-o) lacks")
    p.add_argument("--yes", action="store_true",
                   help="with --batch: run without asking, even when the estimated cost is above "
                        "WenxinMagics.confirm_over_yuan")
    p.add_argument("--no-stream", action="store_true", help="wait for the whole answer")
    p.add_argument("-o", "--out", type=_name("--out"),
                   help="store the Reply in this variable (with --batch: the table; default _wenxin_batch)")
    p.add_argument("--compare", type=_models, help="M1,M2,... side by side")
    p.add_argument("-f", "--format", choices=FORMATS, help="how to show the answer")
    p.add_argument("--image", dest="image", action="append", metavar="PATH_OR_URL",
                   help="send a PNG or JPEG file, an http(s) URL, or 'last' (the notebook's last image output) to a "
                        "vision model; repeatable")
    p.add_argument("--no-interpolate", action="store_true", help="leave {braces} as written")
    p.add_argument("--schema", type=_schema_spec, metavar="SPEC",
                   help="answer as JSON of this shape: a pydantic model, dataclass or TypedDict in the notebook, or "
                        "fields such as \"city, population int, famous_for list[str]\" (the answer's .data)")
    p.add_argument("--many", action="store_true", help="with --schema: a list of such objects, shown as a table")
    p.add_argument("words", nargs="*", help=argparse.SUPPRESS)
    return p


_CELL_PARSER: _Parser | None = None


def cell_parser() -> _Parser:
    global _CELL_PARSER
    if _CELL_PARSER is None:
        _CELL_PARSER = _build_cell_parser()
    return _CELL_PARSER


@dataclass
class CellArgs:
    model: str | None = None
    endpoint: str | None = None
    completion: bool = False
    chat: str | None = None
    new: bool = False
    system: str | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    penalty: float | None = None
    stop: list[str] | None = None
    max_tokens: int | None = None
    web_search: bool = False
    think: bool | None = None
    thinking_budget: int | None = None
    effort: str | None = None
    extra: list[tuple[str, object]] | None = None
    tools: list[str] | None = None
    batch: str | None = None
    concurrency: int | None = None
    resume: bool = False
    yes: bool = False
    no_tools: bool = False
    approve: bool = False
    no_stream: bool = False
    out: str | None = None
    compare: list[str] | None = None
    format: str | None = None
    no_interpolate: bool = False
    schema: str | None = None
    many: bool = False
    image: list[str] | None = None
    words: list[str] = field(default_factory=list)

    def params(self) -> dict:
        """The API parameters these options set, by their wire names."""
        values = {rule.name: getattr(self, _dest(rule)) for rule in option_parameters()}
        if self.web_search:
            values["web_search"] = True
        values.update(think=self.think, thinking_budget=self.thinking_budget, effort=self.effort)
        values = {name: value for name, value in values.items() if value is not None}
        values.update(self.extra or ())
        return values


# shlex takes quadratic time in a value's length (a 1 MB -s took 30 s); long text belongs in a {variable}
MAX_OPTIONS_LINE = 10_000


def split_line(line: str) -> list[str]:
    if len(line) > MAX_OPTIONS_LINE:
        raise UsageError(f"%%wenxin: the options line is {len(line):,} characters long; it may have at most "
                         f"{MAX_OPTIONS_LINE:,}. Put long text in a variable and name it (-s {{persona}}), or put "
                         "the question in the cell body.")
    try:
        return shlex.split(line)
    except ValueError as exc:
        raise UsageError(f"%%wenxin: cannot read the options ({exc}); check the quotes.") from None


def _filled(tokens: list[str], fill: Callable[[str], str]) -> list[str]:
    """Each token with its {names} filled: a value is always one argument, never an option.

    The line was split before filling, so a value's spaces and quotes cannot make new options. A value that
    itself begins with '-' is joined to the option before it (``-s=--x``), or refused where none takes it.
    """
    out: list[str] = []
    for token in tokens:
        value = fill(token)
        if value != token and value.startswith("-") and not token.startswith("-"):
            if out and out[-1].startswith("-") and "=" not in out[-1]:
                out[-1] = f"{out[-1]}={value}"
                continue
            raise UsageError(f"%%wenxin: {token} holds {value[:40]!r}, which would read as an option; a {{name}} "
                             "on the options line can only be an option's value (e.g. -m {model}).")
        out.append(value)
    return out


def _check_stop(stop: list[str]) -> None:
    try:
        PARAMETERS["stop"].check(stop, model="any model")
    except QianfanError as err:
        raise UsageError(f"%%wenxin: --stop takes {err.allowed}; got {len(stop)}: {stop!r}.") from None


def parse_cell_args(line: str, fill: Callable[[str], str] | None = None) -> CellArgs:
    """Options of a %%wenxin line. Words that are not options are an error (the prompt is the cell).

    ``fill`` fills the notebook's {names} into each argument after the line is split (``_filled``).
    """
    tokens = split_line(line)
    namespace = cell_parser().parse_args(_filled(tokens, fill) if fill is not None else tokens)
    args = CellArgs(**vars(namespace))
    if args.stop:
        _check_stop(args.stop)
    if args.compare and (args.completion or args.endpoint):
        raise UsageError("%%wenxin: --compare works with registry chat models; it cannot be combined with "
                         "--completion or --endpoint.")
    if args.tools and args.no_tools:
        raise UsageError("%%wenxin: --tools and --no-tools contradict each other; give one.")
    if args.tools and args.completion:
        raise UsageError("%%wenxin: a completion (continuation) cannot call tools; drop --tools or --completion.")
    _check_batch(args)
    _check_extra(args)
    _check_images(args)
    if args.compare and len(args.compare) > 8:
        raise UsageError("%%wenxin: --compare takes at most 8 models.")
    return args


def _check_extra(args: CellArgs) -> None:
    """--param may not name a field twice, nor one that an option of the line already sets."""
    seen: set[str] = set()
    for name, _ in args.extra or ():
        if name in seen:
            raise UsageError(f"%%wenxin: --param {name} is given twice; give it once.")
        seen.add(name)
    set_by_options = CellArgs(**{**vars(args), "extra": None}).params()
    for name in seen & set(set_by_options):
        option = next((rule.option for rule in option_parameters() if rule.name == name), None) or \
            "--" + name.replace("_", "-")
        raise UsageError(f"%%wenxin: --param {name} and {option} both set {name}; give one.")


def _check_images(args: CellArgs) -> None:
    if not args.image:
        return
    for option, given in (("--batch", args.batch), ("--compare", args.compare), ("--completion", args.completion)):
        if given:
            raise UsageError(f"%%wenxin: --image goes with one question to a vision model; {option} sends text only.")


def _check_batch(args: CellArgs) -> None:
    if args.batch is None:
        for option, given in (("--concurrency", args.concurrency is not None), ("--resume", args.resume),
                              ("--yes", args.yes)):
            if given:
                raise UsageError(f"%%wenxin: {option} goes with --batch VAR.")
        return
    for option, given in (("-c/--chat", args.chat), ("--new", args.new), ("--tools", args.tools)):
        if given:
            raise UsageError(f"%%wenxin --batch: {option} does not apply; each row is a fresh single question that "
                             "joins no conversation.")


def parse_line_prompt(line: str) -> CellArgs:
    """``%wenxin [options] PROMPT``: options first, the rest of the line is the prompt."""
    args = parse_cell_args(line) if line.lstrip().startswith("-") else CellArgs(words=[])
    if not line.lstrip().startswith("-"):
        args.words = [line.strip()]
    return args


# -- subcommands ---------------------------------------------------------------------
@dataclass(frozen=True)
class Argument:
    """One argument of a subcommand, as argparse takes it."""

    flags: tuple[str, ...]
    options: dict = field(default_factory=dict)


def _chat_option(what: str = "conversation name (default: 'default')") -> Argument:
    return Argument(("-c", "--chat"), {"metavar": "NAME", "help": what})


@dataclass(frozen=True)
class Subcommand:
    """A %wenxin subcommand: its name, what it does, and its typed arguments."""

    name: str
    summary: str
    arguments: tuple[Argument, ...] = ()

    def parser(self) -> _Parser:
        p = _Parser(prog=f"%wenxin {self.name}", add_help=False, allow_abbrev=False, description=self.summary)
        for argument in self.arguments:
            p.add_argument(*argument.flags, **argument.options)
        return p

    def parse(self, rest: str) -> argparse.Namespace:
        return self.parser().parse_args(split_line(rest))

    @property
    def usage(self) -> str:
        return self.parser().format_usage().strip().removeprefix("usage: ")

    def help(self) -> str:
        return self.parser().format_help().strip().replace("usage: ", "", 1)


SUBCOMMANDS: dict[str, Subcommand] = {s.name: s for s in (
    Subcommand("help", "options and subcommands, or one subcommand in detail",
               (Argument(("subcommand",), {"nargs": "?", "metavar": "SUBCOMMAND", "help": "a subcommand to explain"}),)),
    Subcommand("models", "the model tables of both APIs: name, API, endpoint, kind, input limit, what it takes, "
                         "v2 prices and the catalog's date", (
        Argument(("--remote",), {"action": "store_true",
                                 "help": "ask the service which models this key can call (GET /v2/models), beside "
                                         "the catalog"}),
        Argument(("--vision",), {"action": "store_true", "help": "only models that see images"}),
        Argument(("--reasoning",), {"action": "store_true", "help": "only models that think before answering"}),
        Argument(("--tools",), {"action": "store_true", "help": "only models that call functions"}),
        Argument(("--free",), {"action": "store_true", "help": "only models that are free to call"}),)),
    Subcommand("use", "make MODEL (or a deployed endpoint) the conversation's model", (
        Argument(("model",), {"nargs": "?", "metavar": "MODEL", "help": "registry model name (%%wenxin models lists them)"}),
        _chat_option(),
        Argument(("--endpoint",), {"metavar": "NAME", "help": "API address of a service you deployed"}))),
    Subcommand("chats", "the conversations of this kernel"),
    Subcommand("history", "the turns of a conversation", (
        Argument(("name",), {"nargs": "?", "metavar": "NAME", "help": "conversation name (default: 'default')"}),
        _chat_option("the same, as an option"))),
    Subcommand("reset", "forget a conversation's turns", (
        Argument(("name",), {"nargs": "?", "metavar": "NAME", "help": "conversation name (default: 'default')"}),
        _chat_option("the same, as an option"))),
    Subcommand("system", "set, show or drop the conversation's system prompt", (
        Argument(("text",), {"nargs": "*", "metavar": "TEXT",
                             "help": "the system prompt; without it, the current one is shown"}),
        _chat_option(),
        Argument(("--clear",), {"action": "store_true", "help": "drop the system prompt"}))),
    Subcommand("config", "current settings (secrets masked)"),
    Subcommand("usage", "tokens and latency per model and per conversation"),
    Subcommand("export", "write conversations to a Markdown (.md) or JSON (.json) file", (
        Argument(("path",), {"metavar": "PATH", "help": "PATH.md or PATH.json"}),
        _chat_option("only this conversation (default: all)"),
        Argument(("--log",), {"action": "store_true",
                              "help": "export the conversation -c NAME from the log (its latest run, or --id)"}),
        Argument(("--id",), {"dest": "run_id", "metavar": "RUN", "help": "with --log: which run"}))),
    Subcommand("log", "the conversation log: recent turns, full-text search, filters; on or off", (
        Argument(("action",), {"nargs": "?", "choices": ("on", "off"), "metavar": "on|off",
                               "help": "turn logging on or off for this kernel"}),
        # bounded: SQLite's LIMIT takes at most a 64-bit integer, and no table of a million turns is read
        Argument(("-n", "--limit"), {"type": _positive("-n", most=1_000_000), "default": 20, "metavar": "N",
                                     "help": "how many turns (default 20)"}),
        Argument(("-q", "--query"), {"metavar": "TEXT", "help": "words to find in questions and answers"}),
        Argument(("-m", "--model"), {"metavar": "MODEL", "help": "only this model's turns"}),
        _chat_option("only this conversation's turns"),
        Argument(("--since",), {"metavar": "DATE", "help": "from a date (2026-11-01), a time, or an age (7d, 12h)"}),
        Argument(("--kind",), {"choices": ("chat", "completion", "compare", "batch"),
                               "help": "only turns of this kind"}))),
    Subcommand("resume", "restore a logged conversation into this kernel; the next -c NAME cell continues it", (
        Argument(("name",), {"metavar": "NAME", "help": "the conversation's name"}),
        Argument(("--id",), {"dest": "run_id", "metavar": "RUN",
                             "help": "which run (default: the latest; %%wenxin log -c NAME shows them)"}))),
    Subcommand("lesson", "what the loaded lesson holds; save conversations into a lesson file, or answer from one "
                         "offline (the recorded answers, at the recorded pace)", (
        Argument(("action",), {"nargs": "?", "choices": ("save", "load", "off"), "metavar": "save|load|off",
                               "help": "save: write conversations into PATH; load: answer from PATH offline; off: "
                                       "stop answering from it (without one: show the loaded lesson)"}),
        Argument(("path",), {"nargs": "?", "metavar": "PATH", "help": "the lesson file (.json)"}),
        Argument(("-c", "--chat"), {"action": "append", "dest": "chats", "metavar": "NAME",
                                    "help": "with save: this conversation (repeat for several; default: every "
                                            "conversation of this kernel; a name not in it comes from the log)"}),
        Argument(("--name",), {"metavar": "TITLE", "help": "with save: the lesson's title (default: the file's "
                                                           "name)"}))),
    Subcommand("login", "ask for a v2 API Key, or else an application's v1 API Key and Secret Key (not echoed, "
                        "kept in memory only), and go online"),
    Subcommand("online", "use the real Qianfan service"),
    Subcommand("offline", "use the built-in emulator"),
    Subcommand("fix", "explain the error a cell raised (the last, or cell N) and offer the corrected cell next", (
        Argument(("cell",), {"nargs": "?", "type": _positive("N"), "metavar": "N",
                             "help": "the cell's number, In[N] (default: the last that raised)"}),
        _chat_option(),
        Argument(("-m", "--model"), {"metavar": "MODEL", "help": "the model to ask"}))),
    Subcommand("panel", "open the chat panel", (
        _chat_option(),
        Argument(("-m", "--model"), {"metavar": "MODEL", "help": "model for the conversation"}),
        Argument(("--resume",), {"action": "store_true",
                                 "help": "first restore the conversation -c NAME from the log"}))),
)}


_LONGEST_SUBCOMMAND = max(map(len, SUBCOMMANDS))


def _edit_distance(a: str, b: str) -> int:
    """Levenshtein distance with adjacent transpositions counted as one edit ('hisotry' is 1 from 'history')."""
    rows = [list(range(len(b) + 1))]
    for i, ca in enumerate(a, start=1):
        row = [i]
        for j, cb in enumerate(b, start=1):
            cost = 0 if ca == cb else 1
            row.append(min(rows[-1][j] + 1, row[j - 1] + 1, rows[-1][j - 1] + cost))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                row[j] = min(row[j], rows[-2][j - 2] + 1)
        rows.append(row)
    return rows[-1][-1]


def near_subcommand(word: str) -> str | None:
    """The subcommand ``word`` is probably a typo of, or None.

    At most two edits, and at most a third of the subcommand's length: 'hisotry'
    is caught, while a greeting such as 'hello' (two edits from 'help') still
    reaches the model.
    """
    word = word.lower()
    if len(word) > _LONGEST_SUBCOMMAND + 2 or not re.fullmatch(r"[a-z]+", word) or word in SUBCOMMANDS:
        return None
    from difflib import SequenceMatcher

    # ties ('usge' is one edit from both 'use' and 'usage') go to the more similar name
    best = min(SUBCOMMANDS, key=lambda name: (_edit_distance(word, name), -SequenceMatcher(None, word, name).ratio()))
    distance = _edit_distance(word, best)
    return best if distance <= min(2, len(best) // 3) else None


def help_text(subcommand: str | None = None) -> str:
    """The whole help, or one subcommand's."""
    if subcommand is not None:
        return SUBCOMMANDS[subcommand].help()
    lines = ["%%wenxin [options]  — the cell body is the prompt", ""]
    lines += [f"  {line}" for line in cell_parser().format_help().splitlines()]
    lines += ["", "%wenxin SUBCOMMAND (%wenxin help SUBCOMMAND for one in detail):"]
    for sub in SUBCOMMANDS.values():
        lines += [f"  {sub.usage}", f"      {sub.summary}"]
    lines += ["  %wenxin PROMPT", "      ask a one-line question (%wenxin -- TEXT when TEXT starts like a subcommand)"]
    return "\n".join(lines)


# -- interpolation -------------------------------------------------------------------
_PATH = r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*|\[[^\[\]{}]+\])*"
_FIELD = re.compile(r"\{\{(" + _PATH + r")\}\}|\{([A-Za-z_][A-Za-z0-9_]*)((?:\.[A-Za-z_][A-Za-z0-9_]*|\[[^\[\]{}]+\])*)\}")
_STEP = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[([^\[\]]+)\]")
_MISSING = object()


def _key(text: str):
    text = text.strip()
    if re.fullmatch(r"-?\d+", text):
        return int(text)
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


def _lookup(namespace: dict, name: str, path: str):
    if name not in namespace:
        return _MISSING
    value = namespace[name]
    for attr, key in _STEP.findall(path):
        try:
            value = getattr(value, attr) if attr else value[_key(key)]
        except Exception:  # a path that does not resolve is left as written
            return _MISSING
    return value


def interpolate(text: str, namespace, render: Callable[[object], str] = str) -> str:
    """Fill {name}, {name.attr} and {name[key]} from ``namespace``, each value through ``render``.

    Braces that do not name an existing variable (code, JSON, LaTeX) stay as
    written; {{name}} stands for a literal {name}. Other doubled braces, such
    as the end of nested JSON, stay as written too.
    """
    def replace(match: re.Match) -> str:
        if match.group(1) is not None:  # {{name}} is the escape for a literal {name}
            return "{" + match.group(1) + "}"
        value = _lookup(namespace, match.group(2), match.group(3) or "")
        return match.group(0) if value is _MISSING else render(value)

    return _FIELD.sub(replace, text)


class PictureCollector:
    """The ``render`` of a prompt that may name pictures: a Figure, a PIL Image, an IPython Image (or the picture a
    cell showed, for ``{Out[n]}``) becomes an image part, kept in ``pictures``, and ``[image N]`` in the text;
    every other value goes through ``render``. ``images.ImageError`` says what is wrong with a picture."""

    def __init__(self, render: Callable[[object], str] = str):
        self.render = render
        self.pictures: list[Picture] = []

    def __call__(self, value) -> str:
        if not is_picture(value):
            return self.render(value)
        self.pictures.append(picture_of(value))
        return f"[image {len(self.pictures)}]"


def asked_pictures(values: list[str] | None, last_shown=None) -> list[Picture]:
    """``--image`` values as Pictures: ``last`` is ``last_shown`` (the newest picture a cell showed), anything else
    a file's path or an http(s) URL. ``images.ImageError`` says what is wrong with one."""
    pictures = []
    for value in values or ():
        if value == "last":
            if last_shown is None:
                raise UsageError("%%wenxin --image last: no cell has shown an image in this kernel yet; show a plot "
                                 "first, or give the path or http(s) URL of a PNG or JPEG file.")
            value = last_shown
        pictures.append(picture_of(value))
    return pictures


_DOUBLED = ("\x00wenxin-open\x00", "\x00wenxin-close\x00")


def interpolate_template(template: str, namespace: dict) -> str:
    """A batch template with the notebook's {names} filled; {item}, {i} and doubled braces are left for each row."""
    guarded = template.replace("{{", _DOUBLED[0]).replace("}}", _DOUBLED[1])
    filled = interpolate(guarded, {k: v for k, v in namespace.items() if k not in ("item", "i")})
    return filled.replace(_DOUBLED[0], "{{").replace(_DOUBLED[1], "}}")


def cell_schema(args: "CellArgs", namespace):
    """``--schema SPEC [--many]`` as an AnswerSchema (None without it); a usage error for what cannot be one."""
    if args.schema is None:
        if args.many:
            raise UsageError("%%wenxin: --many asks for a list of objects of the --schema's shape; add "
                             "--schema SPEC (a pydantic model, dataclass or TypedDict, or fields such as "
                             "\"city, population int\").")
        return None
    for option, given in (("--compare", args.compare), ("--completion", args.completion)):
        if given:
            raise UsageError(f"%%wenxin: --schema cannot go with {option}: it asks one chat model (or each row "
                             "of a --batch) for JSON.")
    if args.many and args.batch is not None:
        raise UsageError("%%wenxin: --many cannot go with --batch: each row's answer is one object of the "
                         "--schema's shape, one column per field.")
    from .session import AnswerSchemaError, answer_schema

    try:
        return answer_schema(args.schema, namespace, many=args.many)
    except AnswerSchemaError as err:
        raise UsageError(f"--schema: {err}") from None
