"""Deterministic answers for the emulator, the offline stand-in a new user meets before they have a key.

``compose(spec, endpoint, body)`` turns a v1 request body into an :class:`Answer`, ``compose_v2(model, body)`` a
v2 one (read through the same composer, plus tool calls, tool results and reasoning); the same body always gives
the same answer, byte for byte. Models differ in voice (how long, how a list is laid out, bold or plain), never
by signing an answer with a model's name: the emulator does not pretend to be the model.

What a question gets, and nothing it does not know:

- Arithmetic, computed exactly by a small parser (numbers, ``+ - * / ** ^ %``, parentheses; the text is never
  evaluated as Python, and a power too large to write out is refused at once): ``1+1等于几？`` is 2, ``80 的 15%``
  is 12, a division by zero has no value. Two numbers compared as decimals: ``9.9`` is larger than ``9.11``.
- Code for a few common tasks, correct and runnable, in one fenced block: bubble sort, Fibonacci numbers,
  reversing a string, reading a CSV with pandas, a matplotlib plot, a list comprehension (and sorting, adding,
  a SQL query, a JavaScript function), asked for in Chinese or English.
- The notebooks' topics: the example prompts of the Qianfan API pages (the Forbidden City, Beijing, its sights,
  weekends and road trips), West Lake, Hangzhou, gradient descent and quantum computing (in one, two or three
  sentences when asked so), the batch notebooks' one-sentence city questions, text to copy out, the Great Wall
  story continued, and notebook context in kind: a prompt holding a table summary (DataFrame, Series,
  ndarray) gets its row count, its columns and a suggestion; one holding a cell's error (``%wenxin fix``,
  ``{Err}``) gets the exception explained and the cell corrected, with the smallest change, in one ``python`` block.
- Greetings, names (the user's, remembered; who is answering: the offline emulator), pictures (format, size,
  colours), search results with citations.
- Anything else gets one short, honest reply in the question's language: this is the offline emulator, what it
  answers, and that a key (``QIANFAN_API_KEY``) or a lesson (``%wenxin lesson load PATH``) gives real answers.
  A question is quoted whole or not at all, and never made a heading.

A reasoning model's thinking works through the actual question: the steps of a computation, the code task and
its approach, or, for what it cannot answer, that it is the emulator and what it can do.

A long answer (``写3000字``, "in detail", or the emulator's ``answer_chars``) is the answer, then placeholder
paragraphs that say what they are, in order, then its closing line, only at the very end.

Function calling behaves like a model in a client's tool loop: arguments that meet the schema, one more call a
round while the question matches functions the turn has not called (v1 always, v2 when ``parallel_tool_calls``
is false), then one sentence per result of the turn, failed calls reported plainly. ``chunk(text)`` cuts an
answer into the sentence-sized deltas a stream sends.

One module a job: ``request`` (what a request says; :class:`Answer`), ``calculator`` (expressions parsed and
computed, comparisons) and ``arithmetic`` (their answers and reasoning), ``snippets`` (code tasks), ``prose``
(topics, voices, greetings, search), ``places`` (the cities' one-sentence facts), ``unanswered`` (the honest reply), ``reasoning`` (thinking for the other
kinds), ``lengths`` (long answers, cuts, repeats), ``arguments`` (a function's arguments from its JSON Schema),
``tools`` (tool turns), ``notebook`` (what the notebook puts in a prompt), ``tables`` (table summaries),
``fixes`` (a failed cell's repair), ``pictures``, ``chunks`` (stream deltas) and ``compose`` over them all.
"""

from .arguments import miss_a_key
from .chunks import chunk
from .compose import compose, compose_v2
from .request import DEFAULT_LONG_CHARS, FLAG_TRIGGERS, HIDE, LONG_WORDS, SAFETY_TRIGGERS, WITHDRAW, Answer, is_chinese

__all__ = ["Answer", "compose", "compose_v2", "chunk", "SAFETY_TRIGGERS", "FLAG_TRIGGERS", "HIDE", "WITHDRAW",
           "LONG_WORDS", "DEFAULT_LONG_CHARS", "miss_a_key", "is_chinese"]
