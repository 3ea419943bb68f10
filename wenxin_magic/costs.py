"""What the views say about cost: the ¥ of ``%wenxin usage`` and the question asked before an expensive batch.

The figures come from the session (``Reply.cost_yuan``, ``usage()``, ``BatchEstimate``); here they become words,
and a yes/no question on stdin, as ``--approve`` asks before a tool call.
"""

from __future__ import annotations

from .session import BatchDeclinedError, BatchEstimate, amount


def yuan_text(totals: dict) -> str:
    """A usage row's estimated ¥: ``≈ ¥0.0012``, with ``+N unpriced`` for answers whose price is not known."""
    text = f"≈ ¥{amount(totals.get('cost_yuan', 0.0))}"
    return text + (f" +{totals['unpriced']} unpriced" if totals.get("unpriced") else "")


def cost_note(total: dict, date: str | None, budget: float | None) -> str:
    """What the ¥ figures are: estimates at the catalog's prices of its date, what they leave out, and the cap."""
    note = (f"¥ are estimates at the catalog's prices{f' of {date}' if date else ''} (%wenxin models lists them); "
            "the service bills what it counts.")
    if total.get("unpriced"):
        note += f" {total['unpriced']} answer(s) of models without a known price are not counted (+N unpriced)."
    if budget is not None:
        left = max(0.0, budget - total.get("cost_yuan", 0.0))
        note += f" Budget: ¥{budget:g} (WenxinMagics.budget_yuan), ≈ ¥{amount(left)} left."
    return note


def batch_confirmer(threshold: float, yes: bool, name: str):
    """``confirm(estimate)`` for ``Session.batch``: True at or below ``threshold`` ¥ or with ``--yes``; above it, the
    estimate is shown and a yes/no question asked on stdin. Where nothing can answer (a notebook run by a script),
    or on no, ``BatchDeclinedError`` says what to do."""

    def confirm(estimate: BatchEstimate) -> bool:
        if yes or estimate.cost_yuan <= threshold:
            return True
        print(estimate.describe())
        above = (f"≈ ¥{amount(estimate.cost_yuan)} is above WenxinMagics.confirm_over_yuan "
                 f"(¥{threshold:g})")
        try:
            answer = input(f"Run the batch over {name}? {above}. [y/N] ")
        except KeyboardInterrupt:
            answer = ""
        except Exception as err:  # StdinNotImplementedError, EOFError: nothing can answer here
            raise BatchDeclinedError(
                f"The batch was not run: its estimated cost {above}, and nothing can answer the question here "
                f"({type(err).__name__}: a notebook run by a script, say). Add --yes to the %%wenxin line to run it "
                "anyway, or raise the threshold: %config WenxinMagics.confirm_over_yuan = "
                f"{_above(estimate.cost_yuan)}.", field="confirm") from None
        if answer.strip().lower() in ("y", "yes"):
            return True
        raise BatchDeclinedError("The batch was not run (not confirmed); nothing was asked. Run the cell again and "
                                 "answer y, or add --yes.", field="confirm")
    return confirm


def _above(cost: float) -> str:
    """A round threshold just above ``cost``."""
    step = 1.0
    while step > 0.0001 and cost < step:
        step /= 10
    return f"{(int(cost / step) + 1) * step:.4f}".rstrip("0").rstrip(".")
