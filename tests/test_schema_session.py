"""Answers as data through the session's one turn path, against the emulator: how each model is asked for the
schema's JSON, ``reply.data``, the repair round, the raw answer kept when it fails, batches into typed columns,
and what is refused before anything is sent."""

from __future__ import annotations

import dataclasses
import json
from types import SimpleNamespace
from typing import TypedDict

import pytest
from pydantic import BaseModel

from wenxin_magic.api import InvalidRequestError, find_v2_model
from wenxin_magic.display import ReplyView
from wenxin_magic.session import AnswerSchemaError, SchemaMismatchError, answer_schema
from wenxin_magic.session._answer_schema import REPAIR_REQUEST, schema_request

pytestmark = pytest.mark.usefixtures("no_credentials_in_env")

V2_UNCONFIRMED = "ernie-4.5-turbo-32k"  # its row's json_schema is None: not confirmed
V2_WITHOUT_SCHEMA = "ernie-x1-turbo-32k"  # its row's json_schema is False
V1 = "ERNIE-Speed-8K"  # a v1 model without response_format


class City(BaseModel):
    city: str
    population: int
    famous_for: list[str]


@dataclasses.dataclass
class Point:
    x: float
    y: float


class Pair(TypedDict):
    left: str
    right: int


def chat_bodies(session) -> list[dict]:
    return [r["json"] for r in session.backend.emulator.requests
            if r["path"] == "/v2/chat/completions" or "wenxinworkshop" in r["path"]]


def system_of(body: dict) -> str:
    if "system" in body:  # v1
        return body["system"]
    first = body["messages"][0]
    return first["content"] if first["role"] == "system" else ""


def test_the_catalog_rows_these_tests_rely_on():
    assert find_v2_model(V2_WITHOUT_SCHEMA).json_schema is False
    assert find_v2_model(V2_UNCONFIRMED).json_schema is None


@pytest.mark.parametrize("model", [V2_UNCONFIRMED, V2_WITHOUT_SCHEMA])
def test_a_pydantic_schema_on_v2_asks_for_json_object_with_the_schema_stated(session, model):
    reply = session.ask("Tell me about Paris", model=model, schema=City)
    assert reply.error is None, reply.error
    assert isinstance(reply.data, City) and reply.data.city == "Paris"
    body = chat_bodies(session)[-1]
    assert body["response_format"] == {"type": "json_object"}
    assert answer_schema(City).instructions() in system_of(body)
    assert reply.schema == "City" and reply.params["schema"] == "City"
    assert session.conversation().system is None  # the instructions were the turn's, not the conversation's
    assert session.history()[-1]["content"] == reply.text


def test_the_instructions_follow_the_conversations_own_system_prompt(session):
    reply = session.ask("Tell me about Rome", model=V2_UNCONFIRMED, system="You are terse.", schema="city")
    assert reply.data == {"city": "Rome"}
    system = system_of(chat_bodies(session)[-1])
    assert system.startswith("You are terse.") and answer_schema("city").instructions() in system
    follow_up = session.ask("And Milan?")
    assert follow_up.data is None and "follow this JSON Schema" not in system_of(chat_bodies(session)[-1])
    assert session.conversation().system == "You are terse."


def test_a_v1_model_without_response_format_gets_the_schema_in_its_system_message(session):
    reply = session.ask("Tell me about Paris", model=V1, schema="city, population int")
    assert reply.error is None and reply.data == {"city": "Paris", "population": reply.data["population"]}
    assert isinstance(reply.data["population"], int)
    body = chat_bodies(session)[-1]
    assert "response_format" not in body and "follow this JSON Schema" in body["system"]


def test_json_schema_goes_where_the_row_says_the_model_takes_it():
    schema = answer_schema(City)
    taken, said = schema_request(schema, "v2", SimpleNamespace(json_schema=True))
    assert taken == {"response_format": schema.response_format()} and said is None
    for unsure in (None, False):
        taken, said = schema_request(schema, "v2", SimpleNamespace(json_schema=unsure))
        assert taken == {"response_format": "json_object"} and said == schema.instructions()


def test_the_emulator_answers_a_json_schema_response_format_that_validates(session):
    schema = answer_schema("name, year int, tags list[str]")
    reply = session.ask("The Great Wall", model=V2_UNCONFIRMED, response_format=schema.response_format())
    value = schema.validate(reply.text)
    assert set(value) == {"name", "year", "tags"}


@pytest.mark.parametrize("shape, kind", [(Point, Point), (Pair, dict), ("a, b float", dict)])
def test_dataclasses_typed_dicts_and_short_specs_give_their_values(session, shape, kind):
    reply = session.ask("two values please", model=V2_UNCONFIRMED, schema=shape)
    assert reply.error is None, reply.error
    assert isinstance(reply.data, kind)


def test_many_asks_for_a_list_and_data_is_the_list(session):
    reply = session.ask("Three cities of Italy", model=V2_UNCONFIRMED, schema="city, population int", many=True)
    assert isinstance(reply.data, list) and len(reply.data) == 3  # the emulator lists as many as asked
    assert all(set(item) == {"city", "population"} for item in reply.data)
    assert len({item["city"] for item in reply.data}) == 3
    assert '"items"' in system_of(chat_bodies(session)[-1])
    html = ReplyView(reply).html()
    assert "<table>" in html and "<th>city</th>" in html and "<th>population</th>" in html


def test_a_missed_key_gets_one_repair_round_that_sends_the_error_back(session):
    session.backend.start_emulator().inject("schema_miss")
    reply = session.ask("Tell me about Paris", model=V2_UNCONFIRMED, schema=City)
    assert reply.error is None, reply.error
    assert isinstance(reply.data, City) and reply.data.city == "Paris"
    first, repair = chat_bodies(session)[-2:]
    assert len(chat_bodies(session)) == 2
    raw = repair["messages"][-2]
    assert raw["role"] == "assistant" and "city" not in json.loads(raw["content"])
    asked_again = repair["messages"][-1]
    assert asked_again["role"] == "user" and "city: Field required" in asked_again["content"]
    assert asked_again["content"].endswith(REPAIR_REQUEST.split("} ", 1)[1])
    assert any("Repaired" in note and "city" in note for note in reply.notes)
    assert len(session.replies) == 2  # both answers' tokens count
    assert session.history() == [{"role": "user", "content": "Tell me about Paris"},
                                 {"role": "assistant", "content": reply.text}]


def test_an_answer_that_fails_after_the_repair_round_keeps_its_raw_text(session):
    session.backend.start_emulator().inject("schema_miss", times=2)
    with pytest.raises(SchemaMismatchError) as caught:
        session.ask("Tell me about Paris", model=V2_UNCONFIRMED, schema=City)
    assert "city: Field required" in str(caught.value) and "repair round" in str(caught.value)
    assert len(chat_bodies(session)) == 2  # one repair round, not more
    session.backend.emulator.inject("schema_miss", times=2)
    reply = session.ask("Tell me about Rome", model=V2_UNCONFIRMED, schema=City, raise_on_error=False)
    assert reply.data is None and reply.error.code == "schema_mismatch"
    assert json.loads(reply.text)["population"] is not None and "city" not in json.loads(reply.text)
    html = ReplyView(reply).html()
    assert "<pre><code>" in html and "schema_mismatch" in html and "population" in html


@pytest.mark.parametrize("call, words", [
    (dict(many=True), ["many=True", "schema="]),
    (dict(schema="Nowhere"), ["'Nowhere' is not defined"]),
    (dict(schema="city, population integer"), ["'integer'", "str, int, float, bool"]),
    (dict(schema=""), ["empty"]),
    (dict(schema=42), ["int is not a shape"]),
    (dict(schema="city", completion=True), ["completion", "chat model"]),
], ids=["many-alone", "undefined", "bad-type", "empty", "not-a-shape", "completion"])
def test_what_cannot_be_asked_is_refused_before_anything_is_sent(session, call, words):
    with pytest.raises((InvalidRequestError, AnswerSchemaError)) as caught:
        session.ask("Tell me about Paris", model=V2_UNCONFIRMED if "completion" not in call else None, **call)
    assert all(word in str(caught.value) for word in words), str(caught.value)
    emulator = session.backend.emulator
    assert emulator is None or not chat_bodies(session)


def test_a_batch_gets_one_typed_column_per_field_and_failing_rows_keep_their_raw_answer(session):
    session.backend.start_emulator().inject("schema_miss", times=2)
    run = session.batch("Tell me about {item}", ["Paris", "Rome", "Oslo"], model=V2_UNCONFIRMED, concurrency=1,
                        schema="city, population int, capital bool, famous_for list[str]")
    table = run.frame()
    columns = list(table.columns)
    assert columns[columns.index("answer") + 1:][:4] == ["city", "population", "capital", "famous_for"]
    assert {name: str(table[name].dtype) for name in ("city", "population", "capital", "famous_for")} == {
        "city": "string", "population": "Int64", "capital": "boolean", "famous_for": "object"}
    failed = table[table["status"] == "failed"]
    assert len(failed) == 1 and "schema_mismatch" in failed["error"].iloc[0]
    assert "population" in failed["answer"].iloc[0] and failed["city"].isna().all()
    done = table[table["status"] == "done"]
    assert failed["item"].iloc[0] == "Paris"  # one at a time: the first row met both faults
    assert list(done["city"]) == ["Rome", "Oslo"] and done["population"].notna().all()


def test_a_field_named_like_a_batch_column_keeps_both(session):
    run = session.batch("Tell me about {item}", ["Paris"], model=V2_UNCONFIRMED, schema="model, answer int")
    table = run.frame()
    assert {"model", "answer", "data.model", "data.answer"} <= set(table.columns)
    assert table["model"].iloc[0] == V2_UNCONFIRMED and str(table["data.answer"].dtype) == "Int64"


def test_a_batch_refuses_many(session):
    with pytest.raises(InvalidRequestError, match="one object"):
        session.batch("Tell me about {item}", ["Paris"], model=V2_UNCONFIRMED, schema="city", many=True)


def test_a_comparison_refuses_a_schema_before_anything_is_sent(session):
    with pytest.raises(InvalidRequestError, match="does not take a schema"):
        session.compare("Tell me about Paris", [V2_UNCONFIRMED, V1], schema="city")
    assert session.backend.emulator is None or not chat_bodies(session)


def test_the_emulator_reads_the_words_the_client_writes():
    from wenxin_magic.emulator.answers.arguments import REPAIR_ASKED, SCHEMA_STATED, stated_schema

    schema = answer_schema(City, many=True)
    assert SCHEMA_STATED in schema.instructions() and REPAIR_ASKED in REPAIR_REQUEST
    assert stated_schema("You are terse.\n\n" + schema.instructions()) == schema.json_schema


@pytest.mark.parametrize("many", [False, True])
def test_data_from_outside_reaches_html_only_escaped(many):
    from wenxin_magic.session import Reply

    reply = Reply(prompt="q", model=V2_UNCONFIRMED, endpoint=None, chat=None)
    hostile = {"city": "<script>alert(1)</script>", "famous_for": ["<img src=x onerror=alert(2)>"]}
    reply.schema, reply.text, reply.done = "answer", json.dumps(hostile), True
    reply.data = [hostile] if many else hostile
    html = ReplyView(reply).html()
    assert "<script" not in html and "<img" not in html and "&lt;script&gt;" in html
    assert ("<table>" in html) == many
    assert "alert(1)" in ReplyView(reply).plain()


def test_a_list_whose_first_item_misses_a_key_is_repaired(session):
    session.backend.start_emulator().inject("schema_miss")
    reply = session.ask("Five sights of Beijing", model=V2_UNCONFIRMED, schema="name, opened int", many=True)
    assert reply.error is None and len(reply.data) == 5
    assert "items.0.name: Field required" in chat_bodies(session)[-1]["messages"][-1]["content"]
