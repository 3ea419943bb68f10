"""Parsing magic lines into typed arguments, and filling {variables} into prompts.

Kept free of IPython so every rule here has a fast unit test.
"""

from __future__ import annotations

import argparse
import re
import shlex
from dataclasses import dataclass, field

FORMATS = ("markdown", "text", "code", "json")

SUBCOMMANDS = {
    "help": "this help",
    "models": "the model table: name, endpoint, kind, input limit, accepted parameters",
    "use": "use MODEL [-c NAME] — make MODEL the conversation's model (--endpoint NAME for a deployed service)",
    "chats": "the conversations of this kernel",
    "history": "history [NAME] — the messages of a conversation",
    "reset": "reset [NAME] — forget a conversation's turns",
    "system": "system TEXT [-c NAME] — set the conversation's system prompt (system --clear to drop it)",
    "config": "current settings (secrets masked)",
    "usage": "tokens and latency per model and per conversation",
    "export": "export PATH [-c NAME] — write conversations to .md or .json",
    "login": "ask for an API Key and Secret Key (not echoed, kept in memory only) and go online",
    "online": "use the real Qianfan service",
    "offline": "use the built-in emulator",
    "panel": "panel [-c NAME] [-m MODEL] — open the chat panel",
}


class UsageError(ValueError):
    """A magic line that cannot be understood; the message says what is wrong and what is allowed."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse would print and exit the kernel's process
        raise UsageError(f"%%wenxin: {message}.\n{self.format_usage().strip()}")

    def exit(self, status=0, message=None):
        raise UsageError(message or self.format_help())


def _float(name: str, lo: float | None, hi: float | None, lo_open=False):
    def convert(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} takes a number, got {text!r}") from None
        low_bad = lo is not None and (value <= lo if lo_open else value < lo)
        if low_bad or (hi is not None and value > hi) or value != value:
            low = "(" if lo_open else "["
            raise argparse.ArgumentTypeError(f"{name} must be in {low}{lo}, {hi}], got {text}")
        return value
    return convert


def _int(name: str, lo: int, hi: int | None):
    def convert(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} takes a whole number, got {text!r}") from None
        if value < lo or (hi is not None and value > hi):
            raise argparse.ArgumentTypeError(f"{name} must be in [{lo}, {hi if hi is not None else '∞'}], got {text}")
        return value
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


def _build_cell_parser() -> _Parser:
    p = _Parser(prog="%%wenxin", add_help=False, allow_abbrev=False,
                description="Ask a Qianfan model; the prompt is the cell body.")
    p.add_argument("-m", "--model", help="registry model name (%%wenxin models lists them)")
    p.add_argument("--endpoint", help="API address of a service you deployed")
    p.add_argument("--completion", action="store_true", help="continue the text (prompt, no history)")
    p.add_argument("-c", "--chat", help="conversation name (default: 'default')")
    p.add_argument("--new", action="store_true", help="start the conversation afresh")
    p.add_argument("-s", "--system", help="system prompt (kept by the conversation)")
    p.add_argument("-t", "--temperature", type=_float("--temperature", 0, 1, lo_open=True), help="(0, 1]")
    p.add_argument("--top-p", type=_float("--top-p", 0, 1), help="[0, 1]")
    p.add_argument("--top-k", type=_int("--top-k", 1, None), help="positive integer")
    p.add_argument("--penalty", type=_float("--penalty", 1, 2), help="penalty_score, [1, 2]")
    p.add_argument("--stop", action="append", help="stop text (repeatable, at most 4, each at most 20 chars)")
    p.add_argument("--max-tokens", type=_int("--max-tokens", 2, 2048), help="max_output_tokens, [2, 2048]")
    p.add_argument("--no-stream", action="store_true", help="wait for the whole answer")
    p.add_argument("-o", "--out", type=_name("--out"), help="store the Reply in this variable")
    p.add_argument("--compare", type=_models, help="M1,M2,... side by side")
    p.add_argument("-f", "--format", choices=FORMATS, help="how to show the answer")
    p.add_argument("--no-interpolate", action="store_true", help="leave {braces} as written")
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
    no_stream: bool = False
    out: str | None = None
    compare: list[str] | None = None
    format: str | None = None
    no_interpolate: bool = False
    words: list[str] = field(default_factory=list)

    def params(self) -> dict:
        """The API parameters these options set."""
        mapping = {"temperature": self.temperature, "top_p": self.top_p, "top_k": self.top_k,
                   "penalty_score": self.penalty, "stop": self.stop, "max_output_tokens": self.max_tokens}
        return {k: v for k, v in mapping.items() if v is not None}


def split_line(line: str) -> list[str]:
    try:
        return shlex.split(line)
    except ValueError as exc:
        raise UsageError(f"%%wenxin: cannot read the options ({exc}); check the quotes.") from None


def parse_cell_args(line: str) -> CellArgs:
    """Options of a %%wenxin line. Words that are not options are an error (the prompt is the cell)."""
    tokens = split_line(line)
    namespace = cell_parser().parse_args(tokens)
    args = CellArgs(**vars(namespace))
    if args.stop:
        if len(args.stop) > 4 or any(len(s) > 20 or not s for s in args.stop):
            raise UsageError("%%wenxin: --stop takes at most 4 texts, each 1 to 20 characters.")
    if args.compare and (args.completion or args.endpoint):
        raise UsageError("%%wenxin: --compare works with registry chat models; it cannot be combined with "
                         "--completion or --endpoint.")
    if args.compare and len(args.compare) > 8:
        raise UsageError("%%wenxin: --compare takes at most 8 models.")
    return args


def parse_line_prompt(line: str) -> CellArgs:
    """``%wenxin [options] PROMPT``: options first, the rest of the line is the prompt."""
    args = parse_cell_args(line) if line.lstrip().startswith("-") else CellArgs(words=[])
    if not line.lstrip().startswith("-"):
        args.words = [line.strip()]
    return args


def help_text() -> str:
    lines = ["%%wenxin [options]  — the cell body is the prompt", ""]
    lines += [f"  {line}" for line in cell_parser().format_help().splitlines()[2:]]
    lines += ["", "%wenxin SUBCOMMAND:"]
    lines += [f"  {name:<8} {text}" for name, text in SUBCOMMANDS.items()]
    lines += ["  PROMPT   ask a one-line question (%wenxin -- TEXT when TEXT starts like a subcommand)"]
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


def interpolate(text: str, namespace: dict) -> str:
    """Fill {name}, {name.attr} and {name[key]} from ``namespace``.

    Braces that do not name an existing variable (code, JSON, LaTeX) stay as
    written; {{name}} stands for a literal {name}. Other doubled braces, such
    as the end of nested JSON, stay as written too.
    """
    def replace(match: re.Match) -> str:
        if match.group(1) is not None:  # {{name}} is the escape for a literal {name}
            return "{" + match.group(1) + "}"
        value = _lookup(namespace, match.group(2), match.group(3) or "")
        return match.group(0) if value is _MISSING else str(value)

    return _FIELD.sub(replace, text)
