"""%%wenxin and %wenxin: parse the line, call the session, render the answer."""

from __future__ import annotations

import sys

from IPython.core.magic import Magics, line_cell_magic, magics_class
from traitlets import Bool, Enum, Float, Int, Unicode, observe

from .api import DEFAULT_MODEL, MODELS, QianfanError
from .parsers import FORMATS, SUBCOMMANDS, UsageError, help_text, interpolate, parse_cell_args, split_line
from .session import Session, model_label


def _pop_chat(tokens: list[str]) -> tuple[str | None, list[str]]:
    """Take ``-c NAME`` / ``--chat NAME`` from anywhere in a subcommand's words."""
    rest, chat = [], None
    it = iter(tokens)
    for token in it:
        if token in ("-c", "--chat"):
            chat = next(it, None)
            if not chat:
                raise UsageError(f"%wenxin: {token} needs a conversation name.")
        else:
            rest.append(token)
    return chat, rest


@magics_class
class WenxinMagics(Magics):
    """Qianfan models in notebook cells. Every trait can be set with %config WenxinMagics.NAME = VALUE."""

    model = Unicode(DEFAULT_MODEL, help="Model for conversations that have not chosen one.").tag(config=True)
    format = Enum(FORMATS, default_value="markdown", help="How answers are shown.").tag(config=True)
    stream = Bool(True, help="Stream answers as they are written.").tag(config=True)
    interpolate = Bool(True, help="Fill {variables} from the notebook into prompts.").tag(config=True)
    temperature = Float(None, allow_none=True, help="Default temperature, (0, 1].").tag(config=True)
    top_p = Float(None, allow_none=True, help="Default top_p, [0, 1].").tag(config=True)
    timeout = Float(60.0, help="Seconds without a byte from the service before giving up.").tag(config=True)
    max_retries = Int(2, help="Retries of transient errors (rate limits, busy).").tag(config=True)
    trim_history = Bool(False, help="Drop the oldest turns when a conversation outgrows the model.").tag(config=True)
    min_update_interval = Float(0.05, help="Seconds between display updates at most (20 a second).").tag(config=True)
    max_update_interval = Float(0.2, help="Seconds between display updates at least (5 a second).").tag(config=True)

    def __init__(self, shell=None, session: Session | None = None, **kwargs):
        super().__init__(shell, **kwargs)
        self.session = session or Session()
        self._apply_settings()

    @observe("model", "timeout", "max_retries", "trim_history")
    def _settings_changed(self, change) -> None:
        self._apply_settings()

    def _apply_settings(self) -> None:
        self.session.default_model = self.model
        self.session.trim_history = self.trim_history
        options = {"timeout": self.timeout, "max_retries": self.max_retries}
        if options != {k: self.session.client_options.get(k) for k in options}:
            self.session.client_options.update(options)
            if self.session._client is not None:
                self.session._drop_client()

    # -- entry point ---------------------------------------------------------------------
    @line_cell_magic
    def wenxin(self, line: str, cell: str | None = None):
        """Ask Qianfan models. `%wenxin help` lists the options and subcommands."""
        try:
            if cell is None:
                return self._line(line)
            return self._cell(line, cell)
        except UsageError as err:
            print(str(err), file=sys.stderr)
        except QianfanError as err:  # raised before any request: validation, settings
            print(f"wenxin: {err}", file=sys.stderr)

    def _cell(self, line: str, cell: str):
        args = parse_cell_args(line)
        if args.words:
            raise UsageError(f"%%wenxin: unexpected {' '.join(args.words)!r}: the prompt goes in the cell body, "
                             "below the %%wenxin line; options start with - (%wenxin help lists them).")
        self._ask(args, cell)

    def _prompt(self, args, text: str) -> str:
        if args.no_interpolate or not self.interpolate:
            return text
        return interpolate(text, self.shell.user_ns if self.shell is not None else {})

    def _params(self, args) -> dict:
        params = {}
        if self.temperature is not None:
            params["temperature"] = self.temperature
        if self.top_p is not None:
            params["top_p"] = self.top_p
        params.update(args.params())
        return params

    def _throttle(self) -> dict:
        return {"min_interval": self.min_update_interval, "max_interval": self.max_update_interval}

    def _ask(self, args, text: str):
        from . import display

        # A cell's surrounding blank lines are layout, not prompt; inner indentation stays.
        prompt = self._prompt(args, text).strip("\r\n").rstrip()
        if not prompt.strip():
            raise UsageError("%%wenxin: the cell is empty; write the prompt below the %%wenxin line.")
        if args.compare:
            return self._compare(args, prompt)
        fmt = args.format or self.format
        params = self._params(args)
        if fmt == "json" and not args.completion and self._accepts(args, "response_format"):
            params.setdefault("response_format", "json_object")
        views = []

        def start(reply):
            view = display.live_reply(reply, fmt, **self._throttle())
            view.start()
            views.append(view)

        def delta(reply, text):
            views[-1].changed()

        session = self.session
        reply = None
        try:
            reply = session.ask(
                prompt, model=args.model, endpoint=args.endpoint, chat=args.chat, stream=not args.no_stream
                and self.stream, system=args.system, completion=args.completion, new=args.new,
                on_start=start, on_delta=delta, raise_on_error=False, **params)
        except KeyboardInterrupt:
            reply = session.last_reply
            if reply is not None:
                reply.interrupted = True
        finally:
            if views:
                views[-1].finish()
        if reply is None:
            return None
        if args.out:
            self.shell.user_ns[args.out] = reply
        if fmt == "code" and reply.text and self.shell is not None:
            self.shell.set_next_input(display.extract_code(reply.text), replace=False)
        return None

    def _accepts(self, args, param: str) -> bool:
        from .api import find_model

        conv = self.session.conversation(args.chat)
        spec = find_model(args.model or conv.model or self.session.default_model)
        return spec is not None and spec.accepts(param) and args.endpoint is None and conv.endpoint is None

    def _compare(self, args, prompt: str):
        from . import display

        views = []

        def start(replies):
            view = display.live_grid(replies, **self._throttle())
            view.start()
            views.append(view)

        session = self.session
        replies = None
        try:
            replies = session.compare(
                prompt, args.compare, stream=not args.no_stream and self.stream, system=args.system,
                on_start=start, on_delta=lambda i, r, d: views[-1].changed(), **self._params(args))
        except KeyboardInterrupt:
            for reply in (views[-1].replies if views else []):
                if not reply.done or not reply.ok:
                    reply.interrupted = True
                    reply.done = True
        finally:
            if views:
                views[-1].finish()
        if args.out and views:
            self.shell.user_ns[args.out] = replies if replies is not None else views[-1].replies
        return None

    # -- line magic: subcommands and one-line questions ----------------------------------------
    def _line(self, line: str):
        stripped = line.strip()
        if not stripped:
            return self._help()
        if stripped.startswith("--") and (stripped == "--" or stripped[2] == " "):
            return self._ask(parse_cell_args(""), stripped[2:].strip())
        first, _, rest = stripped.partition(" ")
        if first.lower() in SUBCOMMANDS:
            return getattr(self, f"_sub_{first.lower()}")(rest.strip())
        if stripped.startswith("-"):
            args = parse_cell_args(stripped)
            if not args.words:
                raise UsageError("%wenxin: options but no question; put the question after the options.")
            return self._ask(args, " ".join(args.words))
        return self._ask(parse_cell_args(""), stripped)

    def _show(self, markdown: str, plain: str | None = None):
        from IPython.display import display

        display({"text/markdown": markdown, "text/plain": plain if plain is not None else markdown}, raw=True)

    def _help(self, rest: str = ""):
        text = help_text()
        self._show(f"```\n{text}\n```", text)

    _sub_help = _help

    def _sub_models(self, rest: str):
        from .display import _md_escape

        rows = ["| model | endpoint | kind | input limit | parameters |", "|---|---|---|---|---|"]
        plain = []
        for spec in MODELS:
            limit = f"{spec.max_input_chars} chars" + (f" / {spec.max_input_tokens} tokens"
                                                        if spec.max_input_tokens else "")
            path = spec.path or "(your deployed endpoint)"
            params = ", ".join(sorted(spec.params - {"stream", "user_id"}))
            rows.append(f"| {_md_escape(spec.name)} | `{path}` | {spec.kind} | {limit} | {params} |")
            plain.append(f"{spec.name:<32} {path:<40} {spec.kind:<10} {limit:<26} {params}")
        self._show("\n".join(rows), "\n".join(plain))

    def _sub_use(self, rest: str):
        chat, tokens = _pop_chat(split_line(rest))
        endpoint = model = None
        while tokens:
            token = tokens.pop(0)
            if token == "--endpoint" and tokens:
                endpoint = tokens.pop(0)
            elif model is None and not token.startswith("-"):
                model = token
            else:
                raise UsageError(f"%wenxin use: unexpected {token!r}. Usage: %wenxin use MODEL [-c NAME] "
                                 "[--endpoint NAME]")
        if model is None and endpoint is None:
            raise UsageError("%wenxin use: name a model (%wenxin models lists them) or --endpoint NAME.")
        conv = self.session.use(model, endpoint=endpoint, chat=chat)
        what = conv.model + (f" at endpoint {conv.endpoint}" if conv.endpoint else "") if conv.model else (
            f"endpoint {conv.endpoint}")
        print(f"Conversation {conv.name!r} now uses {what}.")

    def _sub_chats(self, rest: str):
        rows = ["| conversation | model | turns | tokens | system |", "|---|---|---|---|---|"]
        for conv in self.session.chats() or [self.session.conversation()]:
            totals = conv.totals
            model = model_label(conv, self.session.default_model)
            system = (conv.system or "")[:40]
            rows.append(f"| {conv.name} | {model} | {totals['turns']} | {totals['total_tokens']} | {system} |")
        self._show("\n".join(rows))

    def _sub_history(self, rest: str):
        from .session import _markdown_transcript

        name = rest.strip() or None
        if name and name not in {c.name for c in self.session.chats()}:
            raise UsageError(f"%wenxin history: no conversation {name!r}; "
                             f"there are: {', '.join(c.name for c in self.session.chats()) or 'none yet'}.")
        text = _markdown_transcript(self.session.conversation(name), self.session.default_model)
        self._show(text)

    def _sub_reset(self, rest: str):
        name = rest.strip() or None
        self.session.reset(name)
        print(f"Conversation {name or 'default'!r} reset.")

    def _sub_system(self, rest: str):
        chat, tokens = _pop_chat(split_line(rest))
        if tokens == ["--clear"]:
            self.session.set_system(None, chat)
            print(f"System prompt of {chat or 'default'!r} cleared.")
            return
        text = " ".join(tokens).strip()
        if not text:
            current = self.session.conversation(chat).system
            print(f"System prompt of {chat or 'default'!r}: {current!r}" if current else
                  "No system prompt. Usage: %wenxin system TEXT [-c NAME], or %wenxin system --clear")
            return
        self.session.set_system(text, chat)
        print(f"System prompt of {chat or 'default'!r} set.")

    def _sub_config(self, rest: str):
        s = self.session
        c = s._credentials
        def state(value):
            return "set (hidden)" if value else "not set"
        rows = [
            ("mode", f"{s.mode} ({'built-in emulator' if s.offline else 'Qianfan service'})"),
            ("auth", s.auth_method),
            ("base URL", s._base_url or "https://aip.baidubce.com (default)"),
            ("QIANFAN_AK / API Key", state(c.api_key)), ("QIANFAN_SK / Secret Key", state(c.secret_key)),
            ("QIANFAN_ACCESS_KEY", state(c.access_key)), ("QIANFAN_SECRET_KEY", state(c.secret_access_key)),
            ("QIANFAN_ACCESS_TOKEN", state(c.access_token)),
        ] + [(f"WenxinMagics.{name}", repr(getattr(self, name))) for name in sorted(self.trait_names(config=True))]
        self._show("\n".join(["| setting | value |", "|---|---|"] + [f"| {k} | {v} |" for k, v in rows]),
                   "\n".join(f"{k:<28} {v}" for k, v in rows))

    def _sub_usage(self, rest: str):
        usage = self.session.usage()
        def table(title, data):
            lines = [f"**{title}**", "", "| | turns | prompt tokens | completion tokens | total tokens | latency |",
                     "|---|---|---|---|---|---|"]
            for name, t in data.items():
                lines.append(f"| {name} | {t['turns']} | {t['prompt_tokens']} | {t['completion_tokens']} | "
                             f"{t['total_tokens']} | {t['latency']:.2f} s |")
            return lines
        lines = table("per model", usage["models"]) + [""] + table("per conversation", usage["chats"])
        total = usage["total"]
        lines += ["", f"total: {total['turns']} answers, {total['total_tokens']} tokens, {total['latency']:.2f} s"]
        self._show("\n".join(lines))

    def _sub_export(self, rest: str):
        chat, tokens = _pop_chat(split_line(rest))
        if len(tokens) != 1:
            raise UsageError("%wenxin export: usage: %wenxin export PATH.md|PATH.json [-c NAME]")
        path = self.session.export(tokens[0], chat)
        print(f"Exported {chat or 'all conversations'} to {path}.")

    def _sub_login(self, rest: str):
        import getpass

        api_key = getpass.getpass("Qianfan API Key (QIANFAN_AK): ")
        secret_key = getpass.getpass("Qianfan Secret Key (QIANFAN_SK): ")
        print(self.session.login(api_key, secret_key))

    def _sub_online(self, rest: str):
        print(self.session.go_online())

    def _sub_offline(self, rest: str):
        print(self.session.go_offline())

    def _sub_panel(self, rest: str):
        from .panel import open_panel

        chat, tokens = _pop_chat(split_line(rest))
        model = None
        if tokens[:1] in (["-m"], ["--model"]) and len(tokens) == 2:
            model = tokens[1]
        elif tokens:
            raise UsageError("%wenxin panel: usage: %wenxin panel [-c NAME] [-m MODEL]")
        open_panel(chat=chat, model=model, session=self.session)
