"""Deterministic answers for the emulator.

``compose(spec, endpoint, body)`` turns a v1 request body into an :class:`Answer`,
``compose_v2(model, body)`` a v2 one (read through the same composer, plus tool calls,
tool results and reasoning); the same body always gives the same answer, byte for byte,
and different models answer in visibly different voices.

Function calling behaves like a model in a client's tool loop: arguments that meet the
schema, one more call a round while the question matches functions the turn has not
called (v1 always, v2 when ``parallel_tool_calls`` is false), then one sentence per result
of the turn, failed calls reported plainly. ``chunk(text)`` cuts an answer
into the sentence-sized deltas a stream sends.

Notebook context is answered in kind: a prompt holding a table summary (DataFrame, Series, ndarray) gets its
row count, its columns and a suggestion; one holding a cell's error (``%wenxin fix``, ``{Err}``) gets the
exception explained and the cell corrected, with the smallest change, in one ``python`` block.

One module a job: ``request`` (what a request says; :class:`Answer`), ``prose`` (topics, voices, lengths,
search), ``arguments`` (a function's arguments from its JSON Schema), ``tools`` (tool turns), ``snippets`` (code
answers), ``notebook`` (what the notebook puts in a prompt), ``tables`` (table summaries), ``fixes`` (a failed
cell's repair), ``chunks`` (stream deltas) and ``compose`` over them all.

Nothing here knows anything real beyond a handful of topics (the example
prompts of the Qianfan API pages); every other prompt gets a coherent answer
that quotes its topic.
"""

from .arguments import miss_a_key
from .chunks import chunk
from .compose import compose, compose_v2
from .request import DEFAULT_LONG_CHARS, FLAG_TRIGGERS, HIDE, LONG_WORDS, SAFETY_TRIGGERS, WITHDRAW, Answer

__all__ = ["Answer", "compose", "compose_v2", "chunk", "SAFETY_TRIGGERS", "FLAG_TRIGGERS", "HIDE", "WITHDRAW",
           "LONG_WORDS", "DEFAULT_LONG_CHARS", "miss_a_key"]
