"""What answers cost: estimates in ¥ from the catalog's prices, and the kernel's budget.

Every figure here is an estimate: the catalog's prices carry a date and change, and the service bills what it
counts. A model with no price in the catalog (or a deployed endpoint) has an unknown cost, None, never 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..api import InvalidRequestError, Price, find_v2_model, input_size

__all__ = ["BudgetExceededError", "price_of", "reply_cost", "cost_label", "amount", "spent", "output_bound",
           "question_bound", "turn_bound", "over_budget", "BatchEstimate", "BatchDeclinedError", "estimate_batch"]

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


# -- a batch, before it runs -------------------------------------------------------------------------------------

ASSUMED_ANSWER_TOKENS = 500  # a row's answer, when neither the cell nor this kernel's earlier answers tell


class BatchDeclinedError(InvalidRequestError):
    """A batch not run: its estimate was above the threshold and it was not confirmed."""


@dataclass
class ModelEstimate:
    """One model's rows of a batch: how many, their tokens, and what they may cost (None: price not known)."""

    model: str
    rows: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0  # as assumed, see ``BatchEstimate.assumed``
    cost_yuan: float | None = 0.0
    most_yuan: float | None = 0.0  # if every answer ran to the longest the model may write
    free: bool = False


@dataclass
class BatchEstimate:
    """What a batch is expected to cost before it runs: tokens from its filled prompts, answers of an assumed length
    (``assumed``: how that length was chosen), at the catalog's prices. Every figure is an estimate."""

    models: list[ModelEstimate] = field(default_factory=list)
    assumed: str = ""
    date: str = ""

    @property
    def rows(self) -> int:
        return sum(m.rows for m in self.models)

    @property
    def prompt_tokens(self) -> int:
        return sum(m.prompt_tokens for m in self.models)

    @property
    def completion_tokens(self) -> int:
        return sum(m.completion_tokens for m in self.models)

    @property
    def cost_yuan(self) -> float:
        """The estimate in ¥ of the rows whose price is known."""
        return sum(m.cost_yuan for m in self.models if m.cost_yuan is not None)

    @property
    def most_yuan(self) -> float:
        return sum(m.most_yuan for m in self.models if m.most_yuan is not None)

    @property
    def unpriced(self) -> int:
        """Rows of models whose price is not known: not in the ¥ figures."""
        return sum(m.rows for m in self.models if m.cost_yuan is None)

    def describe(self) -> str:
        """The estimate in words, for a notebook user deciding whether to run the batch."""
        dated = f" of {self.date}" if self.date else ""
        text = (f"Estimated cost of this batch: ≈ ¥{amount(self.cost_yuan)} for {self.rows:,} row(s): "
                f"≈ {self.prompt_tokens:,} input tokens from the filled prompts and ≈ {self.completion_tokens:,} "
                f"output tokens ({self.assumed}), at the catalog's prices{dated} (an estimate; the service bills what "
                f"it counts). If every answer ran to the longest allowed: ≈ ¥{amount(self.most_yuan)}.")
        if len(self.models) > 1 or self.unpriced:
            text += " Per model: " + "; ".join(_model_words(m) for m in self.models) + "."
        return text


def _model_words(m: ModelEstimate) -> str:
    if m.free:
        return f"{m.model} free"
    if m.cost_yuan is None:
        return f"{m.model} price not known ({m.rows} row(s) not counted)"
    return f"{m.model} ≈ ¥{amount(m.cost_yuan)}"


def estimate_batch(rows, params: dict | None = None, earlier: dict[str, list[int]] | None = None,
                   endpoint: str | None = None, date: str = "") -> BatchEstimate:
    """The estimate of ``rows``, (model, prompt) pairs of the rows still to run. A row's answer is assumed as long as
    the request's max_completion_tokens, else the average of this kernel's ``earlier`` answers of that model
    (completion tokens by model), else ``ASSUMED_ANSWER_TOKENS``."""
    params = params or {}
    earlier = earlier or {}
    capped = next((params[name] for name in ("max_completion_tokens", "max_tokens", "max_output_tokens")
                   if isinstance(params.get(name), int) and not isinstance(params.get(name), bool)), None)
    by_model: dict[str, ModelEstimate] = {}
    how: set[str] = set()
    for model, prompt in rows:
        m = by_model.setdefault(model, ModelEstimate(model))
        price = price_of(model, endpoint)
        _, tokens = input_size({"messages": [{"role": "user", "content": prompt}], "system": params.get("system")})
        if capped is not None:
            answer, reason = capped, "max_completion_tokens a row"
        elif earlier.get(model):
            answer = round(sum(earlier[model]) / len(earlier[model]))
            reason = "as long as this kernel's earlier answers of the model"
        else:
            answer, reason = ASSUMED_ANSWER_TOKENS, f"{ASSUMED_ANSWER_TOKENS} a row assumed"
        how.add(reason)
        m.rows += 1
        m.prompt_tokens += tokens
        m.completion_tokens += answer
        m.free = price is not None and price.free
        if price is None:
            m.cost_yuan = m.most_yuan = None
        else:
            m.cost_yuan += price.cost(tokens, answer)
            m.most_yuan += price.cost(tokens, output_bound(model, params))
    return BatchEstimate(list(by_model.values()), "; ".join(sorted(how)), date)
