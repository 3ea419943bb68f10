"""The model catalog as data (wenxin_magic/api/catalog.json): what each row says, how it becomes V2ModelSpec,
prices and their cost estimate, the reasoning controls each row implies, and that it is read lazily."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import wenxin_magic.api as api
from wenxin_magic.api import (UNKNOWN_V2, V2_MODELS, InvalidRequestError, Price, V2ModelSpec, catalog_source,
                              find_v2_model, reasoning_params, validate_v2_request)

ROOT = Path(__file__).resolve().parent.parent
CATALOG = json.loads((ROOT / "wenxin_magic" / "api" / "catalog.json").read_text(encoding="utf-8"))
ROWS = {row["id"]: row for row in CATALOG["models"]}

# every id of the spec's 2026 table (qianfan-2026.md §4)
SPEC_2026 = ("ernie-5.1", "ernie-5.0", "ernie-5.0-thinking-preview", "ernie-5.0-thinking-latest", "ernie-x1.1",
             "ernie-x1.1-preview", "ernie-x1-turbo-32k", "ernie-4.5-turbo-32k", "ernie-4.5-turbo-128k",
             "ernie-4.5-turbo-latest", "ernie-4.5-turbo-vl", "ernie-4.5-turbo-vl-32k", "ernie-4.5-turbo-vl-latest",
             "ernie-4.5-21b-a3b", "ernie-4.5-vl-28b-a3b", "ernie-speed-8k", "ernie-speed-128k", "ernie-lite-8k",
             "ernie-tiny-8k", "deepseek-v3.2", "deepseek-v3.2-think", "deepseek-r1", "deepseek-v3",
             "deepseek-v3.1-250821", "qwen3-235b-a22b", "qwen3-32b", "qwen3-8b", "qwen3-30b-a3b",
             "qwen3-vl-235b-a22b-instruct", "glm-4.5v", "internvl3", "deepseek-vl2", "kimi-k2-instruct")
# the table of 2025, which stays
SPEC_2025 = ("ernie-speed-pro-128k", "ernie-lite-pro-128k", "ernie-3.5-8k", "ernie-3.5-128k", "ernie-4.0-turbo-8k",
             "ernie-4.0-turbo-128k", "qwq-32b")
FIELDS = {"id", "family", "api", "context", "max_input_chars", "max_output", "reasoning", "thinking_param",
          "thinking_default", "tools", "web_search", "json_schema", "vision", "price", "v1_twin", "blurb"}


def test_the_catalog_covers_the_2026_table_and_the_2025_rows():
    assert set(SPEC_2026) | set(SPEC_2025) <= set(ROWS)
    assert len(ROWS) == len(CATALOG["models"]) == len(V2_MODELS)
    assert [spec.id for spec in V2_MODELS] == [row["id"] for row in CATALOG["models"]]


@pytest.mark.parametrize("row", CATALOG["models"], ids=lambda row: row["id"])
def test_every_row_has_the_contracts_fields_and_values(row):
    assert FIELDS <= set(row)
    assert row["api"] == "v2" and row["id"] == row["id"].lower()
    assert row["reasoning"] in ("always", "switch", "never")
    assert row["thinking_param"] in ("enable_thinking", "thinking", None)
    assert (row["thinking_param"] is not None) == (row["reasoning"] == "switch")
    assert set(row["vision"]) <= {"image", "video"}
    for name in ("tools", "web_search", "json_schema", "thinking_default"):
        assert row[name] in (True, False, None)
    price = row["price"]
    assert price is None or ({"input", "output", "date", "source"} <= set(price) and price["source"])


def test_prices_carry_their_date_and_source():
    assert CATALOG["prices"]["currency"] == "CNY" and CATALOG["prices"]["per"] == "million tokens"
    assert api.CATALOG_DATE == CATALOG["prices"]["date"] and isinstance(api.CATALOG_DATE, str)
    assert "lobehub" in catalog_source()


def test_the_spec_rows_read_into_specs():
    x11 = find_v2_model("ernie-x1.1")
    assert (x11.reasoning, x11.always_thinks, x11.thinking_switch, x11.family) == (True, True, False, "ernie")
    thinking = find_v2_model("ernie-5.0-thinking-preview")
    assert (thinking.thinking_param, thinking.thinking_default, thinking.vision) == (
        "enable_thinking", True, frozenset({"image", "video"}))
    assert find_v2_model("qwen3-8b").thinking_default is False
    assert find_v2_model("ernie-x1-turbo-32k").json_schema is False
    assert find_v2_model("ernie-speed-8k").tools is False and find_v2_model("ernie-5.0-thinking-preview").tools is None
    assert "tools" in find_v2_model("ernie-x1-turbo-32k").features  # tools since 2025-09
    assert "tools" in find_v2_model("deepseek-r1").features and "tools" in find_v2_model("qwen3-235b-a22b").features
    assert find_v2_model("ernie-5.1").max_output_tokens == 65536
    assert find_v2_model("ernie-3.5-128k").max_output_tokens == 8192
    assert find_v2_model("deepseek-v3").vision == frozenset() and find_v2_model("deepseek-v3").ranges == frozenset()
    assert "temperature" in find_v2_model("ernie-5.1").ranges


def test_a_null_limit_refuses_nothing():
    latest = find_v2_model("ernie-4.5-turbo-latest")
    assert (latest.max_input_tokens, latest.max_output_tokens) == (None, None)
    validate_v2_request({"model": "ernie-4.5-turbo-latest", "messages": [{"role": "user", "content": "字" * 600000}],
                         "max_completion_tokens": 10 ** 6})


def test_free_models_and_tiered_prices():
    assert find_v2_model("ernie-speed-8k").price.free and find_v2_model("ernie-tiny-8k").price.free
    assert not find_v2_model("ernie-4.5-turbo-32k").price.free
    assert find_v2_model("ernie-4.5-turbo-32k").price.cache_read == 0.2
    ernie51 = find_v2_model("ernie-5.1").price
    assert ernie51.cost(1_000_000, 1_000_000) == pytest.approx(6 + 22)  # over 32K input: the second tier
    assert ernie51.cost(32768, 0) == pytest.approx(32768 * 4 / 1e6)  # up to 32K input: the first tier
    assert ernie51.cost(1000, 2000) == pytest.approx((1000 * 4 + 2000 * 18) / 1e6)
    assert Price(0.8, 3.2).cost(10_000, 1_000) == pytest.approx(0.008 + 0.0032)
    assert find_v2_model("ernie-x1-turbo-32k").price is None


def test_the_emulators_known_ids_are_the_catalogs():
    from wenxin_magic.emulator import Emulator  # noqa: F401  (the emulator reads the same V2_MODELS)

    assert {spec.id for spec in V2_MODELS} == set(ROWS)


def test_the_catalog_is_package_data():
    assert 'wenxin_magic = ["api/catalog.json"]' in (ROOT / "pyproject.toml").read_text()


def test_importing_the_api_does_not_read_the_catalog():
    code = ("import wenxin_magic.api as api, wenxin_magic.api._v2._models as m; import sys\n"
            "assert m._CATALOG._data is None, 'read at import'\n"
            "from wenxin_magic.api import V2_MODELS\n"
            "assert m._CATALOG._data is None, 'read by naming V2_MODELS'\n"
            "assert len(V2_MODELS) > 30 and m._CATALOG._data is not None\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr


# -- reasoning_params ----------------------------------------------------------------------------------------

DEEPSEEK_V4 = V2ModelSpec("deepseek-v4", None, None, None, True, True, family="deepseek", thinking_param="thinking")


@pytest.mark.parametrize("spec, think, expected", [
    ("qwen3-8b", True, {"enable_thinking": True}),
    ("ernie-5.0-thinking-latest", False, {"enable_thinking": False}),
    (DEEPSEEK_V4, True, {"thinking": {"type": "enabled"}}),
    (DEEPSEEK_V4, False, {"thinking": {"type": "disabled"}}),
])
def test_think_maps_to_the_rows_switch(spec, think, expected):
    params, notes = reasoning_params(spec, think=think)
    assert params == expected and len(notes) == 1 and "sent as" in notes[0]


def test_budget_and_effort_go_to_models_that_reason():
    assert reasoning_params("deepseek-r1", thinking_budget=100, effort="medium") == (
        {"thinking_budget": 100, "reasoning_effort": "medium"},
        ["effort=medium sent as reasoning_effort=medium (deepseek-r1)"])
    assert reasoning_params("ernie-4.5-turbo-32k", thinking_budget=500) == (
        {}, ["thinking_budget=500: ernie-4.5-turbo-32k does not reason; not sent"])
    assert reasoning_params("ernie-speed-8k") == ({}, [])


def test_an_id_the_catalog_does_not_know_gets_the_fields_but_not_the_switch():
    params, notes = reasoning_params("glm-5.1", think=True, thinking_budget=300)
    assert params == {"thinking_budget": 300}
    assert notes == ["think=true: glm-5.1 is not in the catalog, so its thinking switch is not known; not sent "
                     "(send its own field, e.g. enable_thinking=true)"]
    assert reasoning_params(UNKNOWN_V2, effort="low")[0] == {"reasoning_effort": "low"}


@pytest.mark.parametrize("kwargs, field", [({"think": "yes"}, "think"), ({"thinking_budget": 99}, "thinking_budget"),
                                           ({"thinking_budget": True}, "thinking_budget"), ({"effort": "max"}, "effort")])
def test_a_control_of_the_wrong_kind_is_refused(kwargs, field):
    with pytest.raises(InvalidRequestError) as caught:
        reasoning_params("qwen3-8b", **kwargs)
    assert caught.value.field == field and caught.value.allowed


def test_load_ext_does_not_read_the_catalog():
    code = ("from IPython.testing.globalipapp import start_ipython\n"
            "ip = start_ipython(); ip.run_line_magic('load_ext', 'wenxin_magic')\n"
            "import wenxin_magic.api._v2._models as m\n"
            "assert 'wenxin_magic.magics' in __import__('sys').modules\n"
            "assert m._CATALOG._data is None, 'read by %load_ext'\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
