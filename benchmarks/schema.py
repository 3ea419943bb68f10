"""Answers as data: what a schema adds to each row of a batch, beside the same row without one.

    python benchmarks/schema.py

1. A batch of 300 items against the emulator in its own process (no quota), 20 at a time, once with
   ``schema="city, population int, capital bool, famous_for list[str]"`` and once without, where the emulator
   answers prose of the JSON answers' length: the client's CPU time per row (a fresh interpreter each, so the
   figure is the client's alone) and the wall time per row.
2. The parts of that overhead on their own: ``AnswerSchema.validate`` of one answer, and the typed table
   (``Batch.frame()``) per row, beside the table without a schema.

A benchmark, not a test: it prints figures and never fails on time.
"""

from __future__ import annotations

import json
from pathlib import Path

from common import emulator_process, json_from_child, median_ms, row

ITEMS = 300
CONCURRENCY = 20
SPEC = "city, population int, capital bool, famous_for list[str]"

_RUN = """
import json, time
from wenxin_magic.session import Session

session = Session(environ={{"QIANFAN_API_KEY": "bce-v3/ALTAK-bench/0000", "QIANFAN_BASE_URL": {url!r}}})
session.ask("你好", model="ernie-4.5-turbo-32k", chat="warm", schema={schema!r})  # connection, pydantic, caches
items = [f"city {{n}}" for n in range({items})]
cpu, wall = time.process_time(), time.perf_counter()
run = session.batch("Tell me about {{item}}.", items, model="ernie-4.5-turbo-32k", concurrency={concurrency},
                    schema={schema!r})
wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
table_cpu = time.process_time()
table = run.frame()
table_cpu = time.process_time() - table_cpu
rows = run.records()
print(json.dumps({{"wall": wall, "cpu": cpu, "table_cpu": table_cpu, "columns": len(table.columns),
                  "done": sum(r["status"] == "done" for r in rows), "failed": sum(r["status"] == "failed" for r in rows),
                  "answer_chars": sum(len(r["answer"] or "") for r in rows) / max(1, len(rows))}}))
session.close()
"""


def _batch_in_child(url: str, schema: str | None) -> dict:
    code = _RUN.format(url=url, items=ITEMS, concurrency=CONCURRENCY, schema=schema)
    return json_from_child(code, timeout=900,
                           env={"PATH": "/usr/bin:/bin", "WENXIN_MAGIC_LOG": "off", "HOME": str(Path.home())})


def bench_schema() -> None:
    print(f"a batch of {ITEMS} rows, {CONCURRENCY} at a time, emulator in its own process")
    unlimited = ("--ttft", "0", "--chunk-delay", "0", "--rpm", "1000000", "--tpm", "1000000000")
    with emulator_process(*unlimited) as url:
        shaped = _batch_in_child(url, SPEC)
    # the row without a schema gets a prose answer of the JSON answer's length, so the rows differ by the schema
    with emulator_process(*unlimited, "--answer-chars", str(round(shaped["answer_chars"]))) as url:
        plain = _batch_in_child(url, None)
    for name, result in (("without a schema", plain), ("with a schema", shaped)):
        print(f"  {name}: {result['done']} done, {result['failed']} failed, answers of "
              f"{result['answer_chars']:.0f} characters on average, a table of {result['columns']} columns")
    per_row = 1000 / ITEMS
    row("client CPU per row, with a schema", shaped["cpu"] * per_row, plain["cpu"] * per_row, "ms", "",
        "without")
    row("wall time per row, with a schema", shaped["wall"] * per_row, plain["wall"] * per_row, "ms", "",
        "without")
    row("the table per row (frame()), typed columns", shaped["table_cpu"] * per_row, plain["table_cpu"] * per_row,
        "ms", "", "without")
    _parts()


def _parts() -> None:
    from wenxin_magic.session import answer_schema

    schema = answer_schema(SPEC)
    answer = json.dumps({"city": "Paris", "population": 2100000, "capital": True,
                         "famous_for": ["the Eiffel Tower", "the Louvre", "cafés"]}, indent=2)
    schema.validate(answer)  # pydantic's adapter, built once per schema

    def validate_many():
        for _ in range(1000):
            schema.validate(answer)

    def parse_only():
        for _ in range(1000):
            json.loads(answer)
    print("one answer checked (median of 7 runs of 1,000)")
    row("AnswerSchema.validate, per answer", median_ms(validate_many, 7), median_ms(parse_only, 7), "µs", "",
        "json.loads alone")


if __name__ == "__main__":
    bench_schema()
