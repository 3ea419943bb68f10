"""`%wenxin models`: the rows grouped by API and family, and the filters."""

from __future__ import annotations

import pytest

from wenxin_magic.api import MODELS, V2_MODELS, find_v2_model
from wenxin_magic.model_list import FILTERS, model_rows, price_text


def test_every_model_is_listed_once_v2_first_and_families_together():
    rows = model_rows()
    names = [row[0] for row in rows]
    assert len(names) == len(set(names)) == len(MODELS) + len(V2_MODELS)
    apis = [row[1] for row in rows]
    assert apis == sorted(apis, key=lambda api: api != "v2")  # every v2 row before every v1 row
    for api in ("v1", "v2"):
        families = [row[2] for row in rows if row[1] == api]
        seen = []
        for family in families:  # a family's rows stand together
            if not seen or seen[-1] != family:
                assert family not in seen, f"{family} split in two ({api})"
                seen.append(family)


@pytest.mark.parametrize("name", FILTERS)
def test_each_filter_keeps_only_what_has_it(name):
    rows = model_rows([name])
    assert rows
    for row in rows:
        spec = find_v2_model(row[0])
        if name == "vision":
            assert spec is not None and spec.vision
        elif name == "reasoning":
            assert spec is not None and spec.reasoning
        elif name == "free":
            assert spec is not None and price_text(spec) == "free"
        else:
            assert "tools" in row[7] or "functions" in row[7]
    assert len(rows) < len(model_rows())


def test_filters_combine_and_an_unknown_one_is_named():
    both = model_rows(["vision", "reasoning"])
    assert {row[0] for row in both} == {row[0] for row in model_rows(["vision"])} & {
        row[0] for row in model_rows(["reasoning"])}
    with pytest.raises(ValueError, match="the filters are vision, reasoning, tools, free"):
        model_rows(["cheap"])
