"""%%wenxin --schema in a real kernel against its built-in emulator: a pydantic model, a short spec with --many,
--batch --schema into typed columns, the json_object fallback on a model whose row says no json_schema, a repair
round, an answer that fails it, and every usage error (nothing sent)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.kernel

SETUP = '''
%load_ext wenxin_magic
import wenxin_magic
from pydantic import BaseModel
session = wenxin_magic.get_session()
session.backend.emulator_options.update(ttft=0.0, chunk_delay=0.0)
class City(BaseModel):
    city: str
    population: int
    famous_for: list[str]
cities = ["Paris", "Rome"]
count = 3
spec = "name, year int"
def _bodies():
    emulator = session.backend.emulator
    return [r["json"] for r in (emulator.requests if emulator is not None else [])
            if "wenxinworkshop" in r["path"] or r["path"] == "/v2/chat/completions"]
def _system(body):
    first = body["messages"][0]
    return first["content"] if first["role"] == "system" else ""
'''

MODEL = "ernie-4.5-turbo-32k"


@pytest.fixture(scope="module")
def k(module_kernel_factory):
    kernel = module_kernel_factory(SETUP)
    assert "emulator" in kernel.setup_run.stdout
    return kernel


def ok(run) -> None:
    assert run.error is None, run.text
    assert "Traceback" not in run.text, run.text


def sent(k) -> int:
    return k.value("len(_bodies())")


def test_a_pydantic_schema_shows_the_value_as_a_json_block_and_keeps_the_reply(k):
    run = k.run(f"%%wenxin --schema City -m {MODEL} -o city_reply\nTell me about Paris")
    ok(run)
    html = run.final()
    assert "<pre><code>" in html and '"city": "Paris"' in html and "famous_for" in html
    assert k.value("type(city_reply.data).__name__") == "City"
    assert k.value("city_reply.data.city") == "Paris"
    assert k.value("_bodies()[-1]['response_format']") == {"type": "json_object"}
    assert k.value("'follow this JSON Schema' in _system(_bodies()[-1])") is True


def test_a_short_spec_with_many_shows_a_table(k):
    run = k.run(f'%%wenxin --schema "city, population int" --many -m {MODEL} -o several\nThree cities of Italy')
    ok(run)
    html = run.final()
    assert "<table>" in html and "<th>city</th>" in html and "<th>population</th>" in html
    assert k.value("isinstance(several.data, list) and all(set(d) == {'city', 'population'} for d in several.data)")


def test_a_spec_held_by_a_variable_is_read_as_a_short_spec(k):
    ok(k.run(f"%%wenxin --schema spec -m {MODEL} -o held\nThe Great Wall"))
    assert k.value("sorted(held.data)") == ["name", "year"]


def test_the_json_object_fallback_on_a_model_whose_row_says_no_json_schema(k):
    assert k.value("wenxin_magic.api.find_v2_model('ernie-x1-turbo-32k').json_schema") is False
    run = k.run("%%wenxin --schema City -m ernie-x1-turbo-32k -o fallback\nTell me about Rome")
    ok(run)
    body = "_bodies()[-1]"
    assert k.value(f"{body}['response_format']") == {"type": "json_object"}
    assert k.value(f"wenxin_magic.session.answer_schema(City).instructions() in _system({body})") is True
    assert k.value("fallback.data.city") == "Rome"


def test_a_repair_round_fixes_a_missed_key(k):
    ok(k.run("session.backend.emulator.inject('schema_miss')"))
    before = sent(k)
    run = k.run(f"%%wenxin --schema City -m {MODEL} -o repaired\nTell me about Oslo")
    ok(run)
    assert sent(k) == before + 2
    assert "Repaired" in run.final() and "Field required" in run.final()
    assert k.value("repaired.data.city") == "Oslo"
    assert k.value("_bodies()[-1]['messages'][-1]['role']") == "user"
    assert "Field required" in k.value("_bodies()[-1]['messages'][-1]['content']")


def test_an_answer_that_fails_the_repair_round_is_shown_raw_with_the_error(k):
    ok(k.run("session.backend.emulator.inject('schema_miss', times=2)"))
    run = k.run(f"%%wenxin --schema City -m {MODEL} -o failed\nTell me about Bern")
    ok(run)
    html = run.final()
    assert "schema_mismatch" in html and "population" in html and "raw text is kept" in html
    assert k.value("failed.data is None and failed.error.code == 'schema_mismatch'")
    assert k.value("'city' not in failed.text and 'population' in failed.text")


def test_batch_schema_gives_one_typed_column_per_field(k):
    run = k.run(f'%%wenxin --batch cities --schema "city, population int, capital bool" -m {MODEL} -o typed\n'
                "Tell me about {item}")
    ok(run)
    assert "2/2" in run.stdout
    dtypes = k.value("{c: str(typed[c].dtype) for c in ('city', 'population', 'capital')}")
    assert dtypes == {"city": "string", "population": "Int64", "capital": "boolean"}
    assert k.value("list(typed['city'])") == ["Paris", "Rome"]
    assert "<th>population</th>" in run.final() or "population" in run.final("text/plain")


USAGE_ERRORS = {
    "undefined": ("--schema Nowhere", ["--schema", "'Nowhere' is not defined"]),
    "bad-type": ('--schema "city, population integer"', ["--schema", "'integer'", "str, int, float, bool"]),
    "not-a-field": ('--schema "city, 2x"', ["--schema", "'2x' is not a field"]),
    "names-nothing": ('--schema ""', ["--schema", "names nothing"]),
    "not-a-shape": ("--schema count", ["--schema", "int is not a shape"]),
    "many-alone": ("--many", ["--many", "--schema"]),
    "many-batch": ("--schema city --many --batch cities", ["--many", "--batch"]),
    "compare": (f"--schema city --compare {MODEL},ernie-speed-8k", ["--schema", "--compare"]),
    "completion": ("--schema city --completion", ["--schema", "--completion"]),
}


@pytest.mark.parametrize("options, words", USAGE_ERRORS.values(), ids=USAGE_ERRORS.keys())
def test_usage_errors_say_what_is_wrong_and_send_nothing(k, options, words):
    before = sent(k)
    run = k.run(f"%%wenxin {options} -o never\nTell me about {{item}}")
    ok(run)
    for word in words:
        assert word in run.stderr, run.stderr
    assert k.value("'never' in globals()") is False
    assert sent(k) == before
