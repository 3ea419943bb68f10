"""%%wenxin and %wenxin: parse the line, call the session, render the answer."""

from __future__ import annotations

import sys
from typing import Callable

from IPython.core.magic import Magics, line_cell_magic, magics_class, no_var_expand
from traitlets import Bool, Enum, Float, Int, List, TraitError, Unicode, observe, validate

from .api import DEFAULT_MODEL, PARAMETERS, V2_MODELS, QianfanError
from .costs import batch_confirmer, cost_note, yuan_text
from .driver import OnScreen, add_hint, drive
from .images import ImageError, is_picture
from .model_list import FILTERS, HEADER, catalog_date, catalog_title, model_rows, plain_lines, price_text
from .parsers import EFFORTS, FORMATS, MIN_THINKING_BUDGET, SUBCOMMANDS, CellArgs, UsageError, help_text, interpolate
from .parsers import asked_pictures, cell_schema, interpolate_template, near_subcommand, parse_cell_args
from .session import NO_CREDENTIALS, Session, get_session, set_session
from .tool_lookup import ToolLookupError, find_tools

OFFLINE_NOTICE = ("wenxin-magic: no Qianfan credentials found, so answers come from the built-in offline emulator. "
                  "For the real service set QIANFAN_API_KEY (a v2 API Key) or QIANFAN_AK and QIANFAN_SK (v1 keys), "
                  "or run %wenxin login, then %wenxin online.")

FIX_PROMPT = ("This cell raised an error. Explain the cause briefly and give the corrected cell in one ```python "
              "code block.\n\n```python\n{source}\n```\n\n{error}")
_LOG_OFF = "%wenxin log off (or %config WenxinMagics.log = False) turns it off."
_LOG_FAILED = "(%wenxin log off turns it off; %config WenxinMagics.log_path = '...' moves it.)"


def load(ipython) -> "WenxinMagics":
    """Register the magics on ``ipython`` over the kernel's session (``%load_ext wenxin_magic``)."""
    session = get_session()
    magics = WenxinMagics(shell=ipython, session=session)
    ipython.register_magics(magics)
    ipython.events.register("post_run_cell", magics.note_error)  # for {Err} and %wenxin fix
    magics.picture_outputs().watch(ipython, is_picture)  # for {Out[n]} and --image last
    if magics not in ipython.configurables:
        ipython.configurables.append(magics)  # so %config WenxinMagics.x = ... reaches it
    if NO_CREDENTIALS in session.notices:
        print(OFFLINE_NOTICE)
    for notice in session.notices:
        if notice != NO_CREDENTIALS:  # a lesson loaded from WENXIN_MAGIC_LESSON, or why it was not
            print(f"wenxin-magic: {notice}")
    session.notices.clear()
    return magics


def unload(ipython) -> None:
    for callback in list(ipython.events.callbacks.get("post_run_cell", [])):
        if getattr(callback, "__name__", "") == "note_error":
            ipython.events.unregister("post_run_cell", callback)
        elif getattr(callback, "__name__", "") == "note_picture":
            callback.__self__.unwatch(ipython)  # its display hook too
    session = set_session(None)
    if session is not None:
        session.close()


def _trait_help(name: str, what: str = "Default") -> str:
    rule = PARAMETERS[name]
    return f"{what} {name}, {rule.range_text}: {rule.doc}."


# subcommand name -> the method that runs it; filled by @_handles, checked against SUBCOMMANDS by the tests
_HANDLERS: dict[str, Callable] = {}


def _handles(name: str):
    if name not in SUBCOMMANDS:
        raise KeyError(f"no subcommand {name!r} in parsers.SUBCOMMANDS")

    def register(method):
        _HANDLERS[name] = method
        return method
    return register


@magics_class
class WenxinMagics(Magics):
    """Qianfan models in notebook cells. Every trait can be set with %config WenxinMagics.NAME = VALUE."""

    model = Unicode(DEFAULT_MODEL, help="Model for conversations that have not chosen one.").tag(config=True)
    format = Enum(FORMATS, default_value="markdown", help="How answers are shown.").tag(config=True)
    stream = Bool(True, help="Stream answers as they are written.").tag(config=True)
    interpolate = Bool(True, help="Fill {variables} from the notebook into prompts.").tag(config=True)
    temperature = Float(None, allow_none=True, help=_trait_help("temperature")).tag(config=True)
    top_p = Float(None, allow_none=True, help=_trait_help("top_p")).tag(config=True)
    think = Bool(None, allow_none=True, help="Default reasoning switch (--think / --no-think): True, False, or None "
                 "for the model's own default.").tag(config=True)
    thinking_budget = Int(None, allow_none=True, help="Default --thinking-budget: tokens a reasoning model may think "
                          "for, at least 100.").tag(config=True)
    effort = Enum(EFFORTS, default_value=None, allow_none=True, help="Default --effort of reasoning models."
                  ).tag(config=True)
    timeout = Float(60.0, help="Seconds without a byte from the service before giving up.").tag(config=True)
    max_retries = Int(2, help="Retries of transient errors (rate limits, busy).").tag(config=True)
    trim_history = Bool(False, help="Drop the oldest turns when a conversation outgrows the model.").tag(config=True)
    tools = List(Unicode(), help="Names of the notebook's functions every cell may call (--tools for one cell)."
                 ).tag(config=True)
    max_tool_rounds = Int(5, help="Rounds of tool calls in one answer before it stops.").tag(config=True)
    max_tool_result_chars = Int(8000, help="A tool's result is cut at this many characters, marked.").tag(config=True)
    log = Bool(True, help="Write every turn to the conversation log (%wenxin log).").tag(config=True)
    log_images = Bool(True, help="Keep the pictures sent to models in the log, each once by its hash, so resume "
                      "restores them; off, the log notes each as [image W×H].").tag(config=True)
    log_path = Unicode("", help="The log's file (default: WENXIN_MAGIC_LOG, else the user data directory)."
                       ).tag(config=True)
    context_chars = Int(4000, help="Characters that {variables} such as DataFrames may put into one prompt in all."
                        ).tag(config=True)
    remote_images = Bool(False, help="Load the images an answer's Markdown points at; off, each is a link (an "
                         "image's URL can carry the conversation to whoever serves it).").tag(config=True)
    budget_yuan = Float(None, allow_none=True, help="A cap on this kernel's estimated spend in ¥ (None: no cap): a "
                        "question that could pass it, at the catalog's prices and the longest answer the model may "
                        "write, is not sent.").tag(config=True)
    confirm_over_yuan = Float(1.0, help="A --batch whose estimated cost is above this many ¥ shows the estimate and "
                              "asks first (--yes runs it without asking).").tag(config=True)
    lesson_speed = Float(1.0, help="How fast a lesson's answers stream: 1.0 at the recorded pace, 0.5 twice as fast, "
                         "0 at once (%wenxin lesson).").tag(config=True)
    min_update_interval = Float(0.05, help="Seconds between display updates at most (20 a second).").tag(config=True)
    max_update_interval = Float(0.2, help="Seconds between display updates at least (5 a second).").tag(config=True)

    def __init__(self, shell=None, session: Session | None = None, **kwargs):
        super().__init__(shell, **kwargs)
        self.session = session or Session()
        self._batches: dict[str, object] = {}  # output name -> the batch run stored there, for --resume
        self.errors = None  # the errors cells raised (a context.ErrorLog), made when the first one is noted
        self.pictures = None  # the pictures cells showed (a context.ImageOutputs), for {Out[n]} and --image last
        self.session.log.keep_images = self.log_images
        self._apply_settings()
        if self.budget_yuan is not None:  # from a config file; otherwise the session's own cap stays
            self.session.budget_yuan = self.budget_yuan

    @validate("temperature", "top_p")
    def _check_parameter(self, proposal):
        value, name = proposal["value"], proposal["trait"].name
        if value is not None:
            try:
                PARAMETERS[name].check(value, model="any model")
            except QianfanError as err:
                raise TraitError(f"WenxinMagics.{name} must be {err.allowed}, got {value!r}.") from None
        return value

    @validate("thinking_budget")
    def _check_budget(self, proposal):
        if proposal["value"] is not None and proposal["value"] < MIN_THINKING_BUDGET:
            raise TraitError(f"WenxinMagics.thinking_budget must be at least {MIN_THINKING_BUDGET} tokens (or None), "
                             f"got {proposal['value']!r}.")
        return proposal["value"]

    @validate("budget_yuan", "confirm_over_yuan")
    def _check_yuan(self, proposal):
        value = proposal["value"]
        if value is not None and not value >= 0:  # also refuses nan
            raise TraitError(f"WenxinMagics.{proposal['trait'].name} must be an amount in ¥ of at least 0"
                             f"{' (or None for no cap)' if proposal['trait'].name == 'budget_yuan' else ''}, "
                             f"got {value!r}.")
        return value

    @validate("max_tool_rounds", "max_tool_result_chars", "context_chars")
    def _check_positive(self, proposal):
        if proposal["value"] < 1:
            raise TraitError(f"WenxinMagics.{proposal['trait'].name} must be at least 1, got {proposal['value']!r}.")
        return proposal["value"]

    @validate("lesson_speed")
    def _check_speed(self, proposal):
        if not 0 <= proposal["value"] <= 100:  # also refuses nan
            raise TraitError(f"WenxinMagics.lesson_speed must be from 0 (at once) to 100; 1.0 is the recorded pace, "
                             f"got {proposal['value']!r}.")
        return proposal["value"]

    @observe("model", "timeout", "max_retries", "trim_history", "max_tool_rounds", "max_tool_result_chars",
             "lesson_speed")
    def _settings_changed(self, change) -> None:
        self._apply_settings()

    @observe("budget_yuan")
    def _budget_changed(self, change) -> None:
        self.session.budget_yuan = change["new"]  # the session holds the cap, for Python code and the panel too

    @observe("remote_images")
    def _images_switched(self, change) -> None:
        from .sanitize import allow_remote_images

        allow_remote_images(change["new"])

    @observe("log")
    def _log_switched(self, change) -> None:
        self.session.log.turn(change["new"])

    @observe("log_images")
    def _log_images_switched(self, change) -> None:
        self.session.log.keep_images = change["new"]

    @observe("log_path")
    def _log_moved(self, change) -> None:
        self.session.log.use(change["new"] or None)

    def _apply_settings(self) -> None:
        self.session.default_model = self.model
        self.session.trim_history = self.trim_history
        self.session.max_tool_rounds = self.max_tool_rounds
        self.session.max_tool_result_chars = self.max_tool_result_chars
        self.session.lesson_speed = self.lesson_speed
        self.session.backend.reconfigure(timeout=self.timeout, max_retries=self.max_retries)

    # -- entry point ---------------------------------------------------------------------
    @line_cell_magic
    @no_var_expand  # IPython's own expansion would fill {x} and $x before ours, and fill {{x}} too
    def wenxin(self, line: str, cell: str | None = None):
        """Ask Qianfan models. `%wenxin help` lists the options and subcommands."""
        try:
            if cell is None:
                return self._line(line)
            return self._cell(line, cell)
        except UsageError as err:
            print(str(err), file=sys.stderr)
        except QianfanError as err:  # raised before any request: validation, settings
            print(f"wenxin: {add_hint(err)}", file=sys.stderr)
        finally:
            self._say_notices()

    def _say_notices(self) -> None:
        """What the session says once: where the log is, or why it stopped (with what to do, in magics)."""
        for notice in self.session.take_notices():
            if notice.kind == "where":
                print(f"wenxin-magic: {notice} {_LOG_OFF}")
            else:
                print(f"wenxin-magic: {notice} {_LOG_FAILED}", file=sys.stderr)

    def _cell(self, line: str, cell: str):
        args = parse_cell_args(line)
        if "{" in line and self.interpolate and not args.no_interpolate:  # e.g. -m {model}
            args = parse_cell_args(line, fill=lambda token: self._prompt(args, token))
        if args.words:
            raise UsageError(f"%%wenxin: unexpected {' '.join(args.words)!r}: the prompt goes in the cell body, "
                             "below the %%wenxin line; options start with - (%wenxin help lists them).")
        self._ask(args, cell)

    def _prompt(self, args, text: str, context=None) -> str:
        """``text`` with the notebook's {names} filled; through ``context`` (a ContextRenderer) for a prompt."""
        if args.no_interpolate or not self.interpolate:
            return text
        if context is None:  # an options line: names as plain text
            return interpolate(text, self.shell.user_ns if self.shell is not None else {})
        from .context import missing_history, notebook_namespace

        for reference in missing_history(text, self._user_ns(), self._errors(), self.picture_outputs()):  # said, and kept
            print(f"wenxin: {reference} names no cell's input, output or error; it was left as written.",
                  file=sys.stderr)
        return interpolate(text, notebook_namespace(self._user_ns(), self._errors(), self.picture_outputs()), context)

    def _user_ns(self) -> dict:
        return self.shell.user_ns if self.shell is not None else {}

    def _errors(self):
        if self.errors is None:
            from .context import ErrorLog

            self.errors = ErrorLog()
        return self.errors

    def picture_outputs(self):
        if self.pictures is None:
            from .context import ImageOutputs

            self.pictures = ImageOutputs()
        return self.pictures

    def _context(self):
        from .context import ContextRenderer

        return ContextRenderer(budget=self.context_chars)

    def note_error(self, result) -> None:
        """After each cell (IPython's post_run_cell): keep the error it raised, for {Err} and %wenxin fix."""
        error = getattr(result, "error_in_exec", None)
        before = getattr(result, "error_before_exec", None)
        if error is None and isinstance(before, SyntaxError):  # a cell that did not compile is fixable too
            error = before
        if error is None:
            return
        # a cell run without history (store_history=False, as nbval does) has no number of its own
        count = getattr(result, "execution_count", None)
        if count is None and self.shell is not None:
            count = self.shell.execution_count
        self._errors().record(count or 0, error, getattr(result.info, "raw_cell", "") or "")

    def _params(self, args) -> dict:
        params = {}
        if self.temperature is not None:
            params["temperature"] = self.temperature
        for name in ("top_p", "think", "thinking_budget", "effort"):
            if getattr(self, name) is not None:
                params[name] = getattr(self, name)
        params.update(args.params())
        return params

    def _throttle(self) -> dict:
        return {"min_interval": self.min_update_interval, "max_interval": self.max_update_interval}

    def _ask(self, args, text: str):
        """The cell's request, by one of three drivers: a batch, a comparison grid or a single answer."""
        schema = cell_schema(args, self._user_ns())
        if args.batch is not None:
            return self._batch(args, text, schema)
        # A cell's surrounding blank lines are layout, not prompt; inner indentation stays.
        context = self._context()
        from .parsers import PictureCollector

        collector = PictureCollector(context)  # a {name} holding a picture becomes an image part
        try:
            prompt = self._prompt(args, text, collector).strip("\r\n").rstrip()
            pictures = collector.pictures + asked_pictures(args.image, self.picture_outputs().last())
        except ImageError as err:
            raise UsageError(f"%%wenxin: {err} Nothing was sent.") from None
        if not prompt.strip():
            raise UsageError("%%wenxin: the cell is empty; write the prompt below the %%wenxin line.")
        tools = self._tools(args)
        if args.compare:
            if pictures:
                raise UsageError("%%wenxin --compare sends text only; ask one vision model at a time about a picture.")
            return self._compare(args, prompt, tools)
        return self._answer(args, prompt, tools, context, schema, pictures)

    def _answer(self, args, prompt: str, tools: list | None, context, schema=None, pictures: list | None = None):
        """One answer (and its rounds after tool calls), streamed into a live view."""
        from . import display

        fmt = args.format or self.format
        params = self._params(args)
        if pictures:
            params["images"] = pictures
        if schema is not None:
            params["schema"] = schema
        elif fmt == "json" and not args.completion and self._accepts(args, "response_format"):
            params.setdefault("response_format", "json_object")
        on_screen = OnScreen()

        def start(reply):
            reply.context = context.footer()  # how much of the notebook went into the prompt
            # the next round after tool calls goes below the calls and what they printed
            on_screen.show(display.live_reply(reply, fmt, **self._throttle()))

        session = self.session
        if tools:  # a call's view is finished at once: what the function prints comes next
            params.update(tools=tools, approve=args.approve, on_call=lambda reply, call: on_screen.finish())
        reply = drive(
            lambda: session.ask(
                prompt, model=args.model, endpoint=args.endpoint, chat=args.chat, stream=not args.no_stream
                and self.stream, system=args.system, completion=args.completion, new=args.new,
                on_start=start, on_delta=lambda reply, text: on_screen.changed(), raise_on_error=False, **params),
            interrupted=self._interrupted_reply,
            errors=lambda reply: [reply.error] if reply is not None else [],
            finish=lambda reply: on_screen.finish())
        if reply is None:
            return None
        self._store(args.out, reply)
        if fmt == "code" and reply.text and self.shell is not None:
            self.shell.set_next_input(display.extract_code(reply.text), replace=False)
        return None

    def _interrupted_reply(self):
        """After Ctrl-C: the answer as far as it came, marked interrupted."""
        reply = self.session.last_reply
        if reply is not None:
            reply.interrupted = True
        return reply

    def _store(self, out: str | None, value) -> None:
        """``-o NAME``: the result into the notebook's namespace."""
        if out:
            self.shell.user_ns[out] = value

    def _accepts(self, args, param: str) -> bool:
        conv = self.session.conversation(args.chat)
        if args.endpoint is not None or conv.endpoint is not None:
            return False
        try:
            chosen = self.session.route(args.model or conv.model or self.session.default_model)
        except QianfanError:
            return False  # the turn itself will say what is wrong
        return chosen.spec is not None and chosen.spec.accepts(param)

    def _batch(self, args, text: str, schema=None):
        """``--batch VAR``: the cell as a template over VAR's items, one row per item and model, into a table."""
        from . import display

        namespace = self._user_ns()
        if args.batch not in namespace:
            raise UsageError(f"--batch: {args.batch!r} is not defined in this notebook; make it a list (or a pandas "
                             "Series or DataFrame) of the items, and run its cell first.")
        template = text.strip("\r\n").rstrip()
        if self.interpolate and not args.no_interpolate:
            template = interpolate_template(template, namespace)
        if not template.strip():
            raise UsageError("%%wenxin --batch: the cell is empty; write the prompt template, with {item} where each "
                             "item goes.")
        out = args.out or "_wenxin_batch"
        previous = self._previous_batch(out) if args.resume else None
        params = self._params(args)
        if args.system:
            params["system"] = args.system
        if schema is not None:
            params["schema"] = schema
        shown = []  # the bar, drawn with the first progress: items refused up front leave none behind

        def progressed(progress) -> None:
            if not shown:
                shown.append(display.batch_progress())
            shown[0].update(progress)
        note, earlier = "", self.session.last_batch

        def stopped():
            nonlocal note
            note, run = "stopped", self.session.last_batch
            if run is earlier:  # stopped while the items were read: the latest run is an earlier cell's
                print(f"The batch was stopped before it started, while {args.batch}'s items were read: nothing "
                      f"was asked, and {out} is unchanged.")
                return None
            return run

        def finish(run) -> None:
            if run is not None and shown:
                shown[0].finish(run.progress, note)

        def ask():
            return self.session.batch(template, namespace[args.batch], models=args.compare, model=args.model,
                                      concurrency=args.concurrency, resume=previous, endpoint=args.endpoint,
                                      completion=args.completion, on_progress=progressed, items_name=args.batch,
                                      confirm=batch_confirmer(self.confirm_over_yuan, args.yes, args.batch), **params)
        try:
            run = drive(ask, interrupted=stopped, finish=finish)
        except (TypeError, ValueError) as err:  # not a list of items, or --resume of a different batch
            if isinstance(err, QianfanError):
                raise
            raise UsageError(f"--batch: {err}") from None
        if run is None:
            return None
        result = display.batch_result(run)
        namespace[out] = result
        self._batches[out] = run  # for --resume: the table itself cannot carry the run
        self._report_batch(run, out, note)
        from IPython.display import display as show

        show(result)
        return None

    def _previous_batch(self, out: str):
        run = self._batches.get(out)
        if run is None:
            raise UsageError(f"--resume: this kernel has run no batch into {out!r}; run the cell without --resume "
                             "first (or name the table with -o NAME).")
        return run

    @staticmethod
    def _report_batch(run, out: str, note: str) -> None:
        progress = run.progress
        text = f"{progress.summary()} → {out}"
        if progress.not_run:
            text += f"; {progress.not_run} row(s) not run: run the cell again with --resume to run only those"
        if progress.failed:
            text += f"; {progress.failed} row(s) failed (see the error column)"
        print(text + ".")

    def _tools(self, args) -> list | None:
        """The functions named by --tools (or WenxinMagics.tools), from the notebook's namespace."""
        if args.no_tools or (args.completion and not args.tools):
            return None
        names = args.tools if args.tools is not None else list(self.tools)
        try:
            return find_tools(names, self._user_ns()) or None
        except ToolLookupError as err:
            raise UsageError(f"--tools: {err}") from None

    def _compare(self, args, prompt: str, tools: list | None = None):
        from . import display

        on_screen = OnScreen()
        extra = {"tools": tools, "approve": args.approve, "on_call": lambda r, c: on_screen.changed()} if tools else {}

        def columns() -> list:
            return on_screen.view.replies if on_screen.view is not None else []

        def interrupted() -> None:
            for reply in columns():
                if not reply.done or not reply.ok:
                    reply.interrupted = True
                    reply.done = True
        replies = drive(
            lambda: self.session.compare(
                prompt, args.compare, stream=not args.no_stream and self.stream, system=args.system,
                on_start=lambda replies: on_screen.show(display.live_grid(replies, **self._throttle())),
                on_delta=lambda i, r, d: on_screen.changed(), **extra, **self._params(args)),
            interrupted=interrupted,
            errors=lambda replies: [reply.error for reply in columns()],
            finish=lambda replies: on_screen.finish())
        if on_screen.view is not None:
            self._store(args.out, replies if replies is not None else columns())
        return None

    # -- line magic: subcommands and one-line questions ----------------------------------------
    def _line(self, line: str):
        stripped = line.strip()
        if not stripped:
            return self._subcommand("help", "")
        if stripped.startswith("--") and (stripped == "--" or stripped[2] == " "):
            return self._ask(parse_cell_args(""), stripped[2:].strip())
        first, _, rest = stripped.partition(" ")
        if first.lower() in SUBCOMMANDS:
            return self._subcommand(first.lower(), rest)
        typo = near_subcommand(first) if not rest.strip() else None
        if typo is not None:  # a mistyped subcommand must not be sent to the model, and billed
            raise UsageError(f"Unknown subcommand {first!r}; did you mean {typo!r}? "
                             f"To ask the model, write %wenxin -- {first}")
        if stripped.startswith("-"):
            args = parse_cell_args(stripped)
            if not args.words:
                raise UsageError("%wenxin: options but no question; put the question after the options.")
            return self._ask(args, " ".join(args.words))
        return self._ask(parse_cell_args(""), stripped)

    def _subcommand(self, name: str, rest: str):
        return _HANDLERS[name](self, SUBCOMMANDS[name].parse(rest))

    def _show(self, fragment: str, plain: str):
        """HTML the display module built (every untrusted piece through its one sanitising function)."""
        from IPython.display import display

        from .display import html_bundle

        display(html_bundle(fragment, plain), raw=True)

    def _show_table(self, header: list[str], rows: list[list], plain: str | None = None, title: str = ""):
        from .display import table_html
        from .sanitize import safe_html

        heading = f"<p><strong>{safe_html(title, markdown=False)}</strong></p>" if title else ""
        if plain is None:
            plain = "\n".join("  ".join(str(cell) for cell in row) for row in [header] + rows)
        self._show(heading + table_html(header, rows), plain)

    @_handles("help")
    def _help(self, args):
        if args.subcommand is not None and args.subcommand.lower() not in SUBCOMMANDS:
            raise UsageError(f"%wenxin help: no subcommand {args.subcommand!r}; "
                             f"the subcommands are: {', '.join(SUBCOMMANDS)}.")
        from .display import code_block_html

        text = help_text(args.subcommand.lower() if args.subcommand else None)
        self._show(code_block_html(text), text)

    @_handles("models")
    def _models(self, args):
        if args.remote:
            return self._remote_models()
        wanted = [name for name in FILTERS if getattr(args, name)]
        rows = [list(row) for row in model_rows(wanted)]
        title = catalog_title() + (f" Only models that have: {', '.join(wanted)}." if wanted else "")
        if not rows:
            title += " None of the models has all of them."
        self._show_table(HEADER, rows, "\n".join([title] + plain_lines(rows)), title)

    def _remote_models(self):
        """``%wenxin models --remote``: what the service says this key can call, and what the catalog knows of it."""
        try:
            ids = self.session.remote_models()
        except QianfanError as err:
            raise UsageError(f"%wenxin models --remote: {add_hint(err)}") from None
        catalog = {spec.id: spec for spec in V2_MODELS}
        rows = [[model, "yes" if model in catalog else "no: sent as it is, the service judges it",
                 price_text(catalog.get(model))] for model in ids]
        listed = set(ids)
        unlisted = [model for model in catalog if model not in listed]
        where = "the built-in emulator" if self.session.offline else "the Qianfan service"
        title = (f"{len(ids)} model(s) this key can call, as {where} lists them; "
                 f"{sum(model in catalog for model in ids)} of them in the catalog"
                 + (f" of {catalog_date()}" if catalog_date() else "") + ".")
        if unlisted:
            more = f" and {len(unlisted) - 12} more" if len(unlisted) > 12 else ""
            title += f" In the catalog but not listed for this key: {', '.join(unlisted[:12])}{more}."
        plain = "\n".join([title] + [f"{model:<40} {known:<44} {price}" for model, known, price in rows])
        self._show_table(["model", "in the catalog", "¥ in / out per M tokens"], rows, plain, title)

    @_handles("use")
    def _use(self, args):
        if args.model is None and args.endpoint is None:
            raise UsageError("%wenxin use: name a model (%wenxin models lists them) or --endpoint NAME.\n"
                             f"usage: {SUBCOMMANDS['use'].usage}")
        conv = self.session.use(args.model, endpoint=args.endpoint, chat=args.chat)
        print(f"Conversation {conv.name!r} now uses {conv.label(self.session.default_model)}.")

    @_handles("chats")
    def _chats(self, args):
        rows = []
        for conv in self.session.chats() or [self.session.conversation()]:
            totals = conv.totals
            rows.append([conv.name, conv.label(self.session.default_model), totals["turns"], totals["total_tokens"],
                         (conv.system or "")[:40]])
        self._show_table(["conversation", "model", "turns", "tokens", "system"], rows)

    def _named_chat(self, args, sub: str) -> str | None:
        if args.name and args.chat and args.name != args.chat:
            raise UsageError(f"%wenxin {sub}: two conversation names ({args.name!r} and {args.chat!r}); give one.")
        return args.name or args.chat

    @_handles("history")
    def _history(self, args):
        name = self._named_chat(args, "history")
        if name and not self.session.has_conversation(name):
            raise UsageError(f"%wenxin history: no conversation {name!r}; "
                             f"there are: {', '.join(c.name for c in self.session.chats()) or 'none yet'}.")
        from .display import transcript_html

        conv = self.session.conversation(name)
        self._show(transcript_html(conv, self.session.default_model), self.session.transcript(name))

    @_handles("reset")
    def _reset(self, args):
        name = self._named_chat(args, "reset")
        self.session.reset(name)
        print(f"Conversation {name or 'default'!r} reset.")

    @_handles("system")
    def _system(self, args):
        chat, text = args.chat, " ".join(args.text).strip()
        if args.clear and text:
            raise UsageError("%wenxin system: give a TEXT or --clear, not both.")
        if args.clear:
            self.session.set_system(None, chat)
            print(f"System prompt of {chat or 'default'!r} cleared.")
        elif not text:
            current = self.session.conversation(chat).system
            print(f"System prompt of {chat or 'default'!r}: {current!r}" if current else
                  "No system prompt. Usage: %wenxin system TEXT [-c NAME], or %wenxin system --clear")
        else:
            self.session.set_system(text, chat)
            print(f"System prompt of {chat or 'default'!r} set.")

    @_handles("config")
    def _config(self, args):
        backend = self.session.backend
        rows = [
            ("mode", f"{backend.mode} ({'built-in emulator' if backend.offline else 'Qianfan service'})"),
            ("auth", backend.auth_method),
            ("APIs reached", " and ".join(sorted(backend.apis)) or "none"),
            ("base URL", backend.base_url or "the service's own (default)"),
        ] + [(name, f"set (hidden): {reaches}" if present else "not set")
             for name, present, reaches in backend.credential_status()]
        rows += [(f"WenxinMagics.{name}", repr(getattr(self, name))) for name in sorted(self.trait_names(config=True))]
        self._show_table(["setting", "value"], [list(row) for row in rows], "\n".join(f"{k:<28} {v}" for k, v in rows))

    @_handles("usage")
    def _usage(self, args):
        from .display import safe_html, table_html

        usage = self.session.usage()
        header = ["", "turns", "prompt tokens", "completion tokens", "total tokens", "latency", "≈ ¥ (estimate)"]
        parts, plain = [], []
        for title, data in (("per model", usage["models"]), ("per conversation", usage["chats"])):
            rows = [[name, t["turns"], t["prompt_tokens"], t["completion_tokens"], t["total_tokens"],
                     f"{t['latency']:.2f} s", yuan_text(t)] for name, t in data.items()]
            parts.append(f"<p><strong>{title}</strong></p>" + table_html(header, rows))
            named = ["model" if title == "per model" else "conversation"] + header[1:]
            plain += [title, "  ".join(named)] + ["  ".join(str(cell) for cell in row) for row in rows] + [""]
        total = usage["total"]
        answers = f"{total['turns']} answer" + ("" if total["turns"] == 1 else "s")
        summary = (f"total: {answers}, {total['total_tokens']} tokens, {total['latency']:.2f} s, "
                   f"{yuan_text(total)} for the kernel")
        lines = [summary, cost_note(total, catalog_date(), self.session.budget_yuan)]
        self._show("\n".join(parts + [f"<p>{safe_html(line, markdown=False)}</p>" for line in lines]),
                   "\n".join(plain + lines))

    @_handles("export")
    def _export(self, args):
        if args.log:
            if not args.chat:
                raise UsageError("%wenxin export --log: name the conversation with -c NAME.")
            conv = self._logged(lambda log: log.conversation(args.chat, args.run_id))
            if conv is None:
                raise UsageError(f"%wenxin export --log: the log has no conversation {args.chat!r}"
                                 + (f" with run {args.run_id!r}" if args.run_id else "") + ".")
            path = self.session.export(args.path, conversations=[conv])
            print(f"Exported {args.chat!r} from the log to {path}.")
            return
        if args.run_id:
            raise UsageError("%wenxin export: --id needs --log.")
        path = self.session.export(args.path, args.chat)
        print(f"Exported {args.chat or 'all conversations'} to {path}.")

    def _logged(self, read):
        """``read(session.log)``, with a failure of the log said in words."""
        try:
            return read(self.session.log)
        except Exception as err:  # LogUnavailable, or a bad value: the message says what to do
            raise UsageError(f"%wenxin: {err}") from None

    @_handles("log")
    def _log(self, args):
        from .display import log_table, safe_html

        if args.action is not None:
            self.log = args.action == "on"  # the trait tells the session
            state = "on" if self.log else "off"
            print(f"Conversation log {state} for this kernel ({self.session.log.path}).")
            return
        try:
            rows = self._logged(lambda log: log.search(args.query, chat=args.chat, model=args.model,
                                                       since=args.since, kind=args.kind, limit=args.limit))
        except ValueError as err:
            raise UsageError(str(err)) from None
        fragment, plain = log_table(rows)
        if not rows:
            where = f" matching {args.query!r}" if args.query else ""
            plain = f"No logged turns{where} in {self.session.log.path}."
            fragment = f"<p>{safe_html(plain, markdown=False)}</p>"
        self._show(fragment, plain)

    @_handles("resume")
    def _resume(self, args):
        try:
            conv = self.session.resume(args.name, args.run_id)
        except LookupError as err:
            raise UsageError(f"%wenxin resume: {err} `%wenxin log -c {args.name}` shows what the log has.") from None
        except QianfanError as err:
            raise UsageError(f"%wenxin resume: {add_hint(err)}") from None
        except Exception as err:
            raise UsageError(f"%wenxin resume: {err}") from None
        print(f"Resumed {conv.name!r}: {len(conv.turns)} turn(s) with {conv.label(self.session.default_model)}; "
              f"the next %%wenxin -c {conv.name} continues it.")

    @_handles("lesson")
    def _lesson(self, args):
        from .lessons_view import lesson_command

        said = lesson_command(self.session, args)  # a table of what the lesson holds, or what was done
        if isinstance(said, tuple):
            self._show(*said)
        else:
            print(said)

    @_handles("login")
    def _login(self, args):
        import getpass

        v2_key = getpass.getpass("Qianfan v2 API Key (bce-v3/…, recommended; leave empty to give v1 keys): ")
        if v2_key.strip():
            print(self.session.login(v2_key=v2_key))
            return
        api_key = getpass.getpass("Qianfan application API Key (QIANFAN_AK): ")
        secret_key = getpass.getpass("Qianfan application Secret Key (QIANFAN_SK): ")
        print(self.session.login(api_key, secret_key))

    @_handles("online")
    def _online(self, args):
        print(self.session.go_online())

    @_handles("offline")
    def _offline(self, args):
        print(self.session.go_offline())

    @_handles("fix")
    def _fix(self, args):
        errors = self._errors()
        error = errors.get(args.cell) if args.cell is not None else errors.last()
        if error is None:
            where = f"cell {args.cell} raised no error" if args.cell is not None else "no cell has raised an error yet"
            print(f"%wenxin fix: nothing to fix: {where}. Run the cell that fails, then %wenxin fix "
                  "(or %wenxin fix N for cell N).")
            return None
        prompt = FIX_PROMPT.format(source=error.source.strip(), error=str(error).strip())
        # the cell's own braces are code, not {names}; the corrected code is offered as the next cell
        return self._ask(CellArgs(chat=args.chat, model=args.model, format="code", no_interpolate=True), prompt)

    @_handles("panel")
    def _panel(self, args):
        from .panel import open_panel

        if args.resume and not args.chat:
            raise UsageError("%wenxin panel --resume: name the conversation with -c NAME.")
        open_panel(chat=args.chat, model=args.model, session=self.session, resume=args.resume)
