"""``%wenxin models``: both model tables as rows, grouped by API and family, and the filters a learner asks for.

A view's helper: it reads the api's tables and says nothing of IPython. The v2 rows come from the catalog
(read on first use), so nothing here runs at ``%load_ext``.
"""

from __future__ import annotations

from .api import MODELS, V2_CHAT_PATH, V2_MODELS

FILTERS = ("vision", "reasoning", "tools", "free")
HEADER = ["model", "API", "family", "endpoint", "kind", "input limit", "¥ in / out per M tokens", "takes"]


def catalog_date() -> str | None:
    from . import api

    return getattr(api, "CATALOG_DATE", None)


def catalog_title() -> str:
    dated = f"The model catalog of {catalog_date()}" if catalog_date() else "The model tables"
    return (f"{dated}: v2 prices in ¥ per million tokens, input / output (an estimate; prices change). "
            "%wenxin models --remote asks the service which models this key can call.")


def price_text(spec) -> str:
    """A v2 model's price from the catalog: ``input / output``, ``free``, or ``—`` when not known."""
    price = getattr(spec, "price", None)
    if price is None:
        return "—"
    if getattr(price, "free", False):
        return "free"
    given, taken = getattr(price, "input", None), getattr(price, "output", None)
    if not isinstance(given, (int, float)) or not isinstance(taken, (int, float)):
        return "—"
    return f"{given:g} / {taken:g}"


def _v1_family(name: str) -> str:
    return name.split("-")[0] if "-" in name else name


def _v1_rows(wanted: set[str]):
    if wanted & {"vision", "reasoning", "free"}:  # the v1 table knows no vision, reasoning or prices
        return
    for spec in MODELS:
        if "tools" in wanted and "functions" not in spec.params:
            continue
        limit = f"{spec.max_input_chars} chars" + (f" / {spec.max_input_tokens} tokens" if spec.max_input_tokens
                                                    else "")
        takes = ", ".join(sorted(spec.params - {"stream", "user_id"}))
        yield (spec.name, "v1", _v1_family(spec.name), spec.path or "(your deployed endpoint)", spec.kind, limit, "",
               takes)


def _v2_keeps(spec, wanted: set[str]) -> bool:
    price = getattr(spec, "price", None)
    checks = {"vision": bool(getattr(spec, "vision", None)), "reasoning": bool(spec.reasoning),
              "tools": "tools" in spec.features, "free": bool(price is not None and getattr(price, "free", False))}
    return all(checks[name] for name in wanted)


def _v2_rows(wanted: set[str]):
    for spec in V2_MODELS:
        if not _v2_keeps(spec, wanted):
            continue
        features = (["reasoning"] if spec.reasoning else []) + sorted(spec.features)
        if spec.thinking_switch:
            features.append(getattr(spec, "thinking_param", None) or "enable_thinking")
        features += [f"sees {kind}" for kind in sorted(getattr(spec, "vision", None) or ())]
        twin = f" (twin of {spec.v1_twin})" if spec.v1_twin else ""
        limit = f"{spec.max_input_tokens} tokens" if spec.max_input_tokens else "not known"
        yield (spec.id, "v2", getattr(spec, "family", "") or "", V2_CHAT_PATH, "chat", limit, price_text(spec),
               ", ".join(features) + twin)


def model_rows(wanted=()) -> list[tuple]:
    """Every model of both tables that has all of ``wanted`` (names from FILTERS): v2 first, the current API,
    then v1; within each, by family, in the catalog's order (newest first) or by name."""
    wanted = set(wanted)
    unknown = wanted - set(FILTERS)
    if unknown:
        raise ValueError(f"unknown filters {sorted(unknown)}; the filters are {', '.join(FILTERS)}")
    v2 = list(_v2_rows(wanted))
    families = list(dict.fromkeys(row[2] for row in v2))
    v2.sort(key=lambda row: families.index(row[2]))  # families in the catalog's order, rows kept within each
    v1 = sorted(_v1_rows(wanted), key=lambda row: (row[2].lower(), row[0].lower()))
    return v2 + v1


def plain_lines(rows) -> list[str]:
    return [f"{name:<32} {api:<3} {family:<10} {path:<40} {kind:<10} {limit:<26} {price:<12} {takes}"
            for name, api, family, path, kind, limit, price, takes in rows]
