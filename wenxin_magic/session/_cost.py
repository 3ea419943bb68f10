"""What answers cost: estimates in ¥ from the catalog's prices, and the kernel's budget.

Every figure here is an estimate: the catalog's prices carry a date and change, and the service bills what it
counts. A model with no price in the catalog (or a deployed endpoint) has an unknown cost, None, never 0.
"""

from __future__ import annotations

from ..api import InvalidRequestError, Price, find_v2_model, input_size

__all__ = ["BudgetExceededError", "price_of", "reply_cost", "cost_label", "amount", "spent", "output_bound",
           "question_bound", "turn_bound", "over_budget"]

# When neither the request nor the catalog says how long an answer may be, nor how large the model's context is
DEFAULT_OUTPUT_BOUND = 8192


class BudgetExceededError(InvalidRequestError):
    """A question not sent: its worst-case cost would take the kernel past ``budget_yuan``."""


def price_of(model: str | None, endpoint: str | None = None) -> Price | None:
    """The catalog's price of ``model`` (a v2 id or a v1 name with the same id in any case); None when the
    catalog has none, or for a deployed endpoint, which is billed by its own terms."""
    if endpoint or not model:
        return None
    spec = find_v2_model(model)
    return spec.price if spec is not None else None


def reply_cost(reply) -> float | None:
    """One reply's estimated ¥: 0.0 for a free model, None when the price or the usage is not known."""
    price = price_of(reply.model, reply.endpoint)
    if price is None:
        return None
    if price.free:
        return 0.0
    usage = reply.usage
    if usage is None:
        return None
    return price.cost(usage.prompt_tokens, usage.completion_tokens)


def cost_label(reply) -> str:
    """What a footer says of a reply's cost: ``≈ ¥0.0012`` (enough digits that a small answer is not ¥0.00),
    ``free`` for a free model, or "" when the price or the usage is not known."""
    price = price_of(reply.model, reply.endpoint)
    if price is None:
        return ""
    if price.free:
        return "free"
    cost = getattr(reply, "cost_yuan", None)
    return "" if cost is None else f"≈ ¥{amount(cost)}"


def amount(cost: float) -> str:
    """¥ with two significant digits below ¥1 (0.0012, 0.035), with two decimals above."""
    if cost <= 0:
        return "0"
    if cost >= 1:
        return f"{cost:,.2f}"
    digits = 2
    while digits < 8 and round(cost, digits) < 10.0 ** -(digits - 1):
        digits += 1
    return f"{cost:.{digits}f}" if digits < 8 else f"{cost:.2g}"


def spent(replies) -> float:
    """The estimated ¥ of ``replies`` whose cost is known."""
    return sum(cost for cost in (getattr(reply, "cost_yuan", None) for reply in replies) if cost)


def output_bound(model: str | None, params: dict | None = None) -> int:
    """The most tokens an answer of ``model`` may take: the request's own cap, else the catalog's max output,
    else the model's context window, else ``DEFAULT_OUTPUT_BOUND``."""
    params = params or {}
    for name in ("max_completion_tokens", "max_tokens", "max_output_tokens"):
        value = params.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    spec = find_v2_model(model) if model else None
    if spec is not None and spec.max_output_tokens:
        return spec.max_output_tokens
    if spec is not None and spec.max_input_tokens:
        return spec.max_input_tokens
    return DEFAULT_OUTPUT_BOUND


def question_bound(model: str | None, prompt_tokens: int, params: dict | None = None,
                   endpoint: str | None = None) -> float | None:
    """The worst-case ¥ of one question of ``prompt_tokens`` input tokens: its input and the longest answer the
    model may write. None when the price is not known."""
    price = price_of(model, endpoint)
    if price is None:
        return None
    return price.cost(prompt_tokens, output_bound(model, params))


def turn_bound(turn, after: list[dict]) -> float | None:
    """The worst-case ¥ of a routed turn's next request (its messages, then ``after``, the rounds so far)."""
    params = turn.params or {}
    if turn.messages is None:
        body = {"prompt": turn.prompt}
    else:
        body = {"messages": list(turn.messages) + list(after), "system": params.get("system")}
    _, tokens = input_size(body)
    return question_bound(turn.model, tokens, params, turn.endpoint)


def over_budget(budget: float | None, already: float, bound: float | None, model: str | None) -> str | None:
    """Why a question must not be sent under ``budget`` (None: it may be)."""
    if budget is None or bound is None:
        return None
    if already + bound <= budget:
        return None
    return (f"Not sent: this question could cost up to ≈ ¥{amount(bound)} on {model} (its input and the longest "
            f"answer the model may write, at the catalog's prices), and this kernel has spent ≈ ¥{amount(already)} "
            f"of its budget of ¥{budget:g}. Raise the cap with %config WenxinMagics.budget_yuan = "
            f"{_raised(already + bound)} (or session.budget_yuan = ... in Python), or None to lift it; a cheaper or "
            "free model, or a smaller max_completion_tokens, also fits.")


def _raised(needed: float) -> str:
    """A round figure above ``needed``."""
    for step in (0.01, 0.1, 1, 10, 100):
        if needed < step * 10:
            value = (int(needed / step) + 1) * step
            return f"{value:.2f}".rstrip("0").rstrip(".")
    return f"{int(needed) + 1}"
