"""The switcher: which model works a bead, and how many of that size may run at once.

The AeroBeat rules, as data in ``[roles.<role>]``: token bands choose the model (two
small Polecats under ~6k tokens, one mid-size model up to ~14k), a fallback takes over
when a model's output was rejected. A bead larger than every local model takes goes to
the role's cloud model; one a local model could take, were the machine's budget not
spent now, goes to the cloud or waits, as ``when_nothing_fits`` says.
"""

from __future__ import annotations

from dataclasses import dataclass

from gastown.town.roster import Roster


@dataclass(frozen=True)
class Choice:
    """The switcher's answer for one bead."""

    model: str | None  # None: wait (nothing fits and the role does not go to cloud)
    parallel: int = 1
    reason: str = ""


def choose(roster: Roster, role: str, tokens: int | None, attempts: int = 0, fits: object = None) -> Choice:
    """The model for a ``role`` bead of ``tokens`` estimated tokens.

    ``attempts`` counts earlier failures: after one, the role's fallback is used.
    ``fits(model_name, parallel) -> bool`` (the governor) says whether a local model can
    be admitted now; without it everything local fits.
    """
    rule = roster.rule(role)
    can_run = fits if callable(fits) else (lambda _name, _parallel: True)
    if attempts and rule.fallback:
        return Choice(rule.fallback, 1, f"attempt {attempts + 1}: the fallback after a rejected result")
    need = tokens or 0
    sized = False  # some local model takes this many tokens, budget permitting
    for band in rule.bands:
        if need > band.max_tokens:
            continue
        spec = roster.model(band.model)
        if need > spec.context:
            continue
        sized = sized or spec.local
        if not spec.local or can_run(band.model, band.parallel):
            return Choice(
                band.model,
                band.parallel,
                f"{need} tokens ≤ {band.max_tokens}: {band.model} ×{band.parallel}",
            )
        if band.parallel > 1 and can_run(band.model, 1):
            return Choice(band.model, 1, f"{band.model}: only one fits beside what runs now")
    if rule.model and not rule.bands:
        spec = roster.model(rule.model)
        sized = need <= spec.context and spec.local
        if need <= spec.context and (not spec.local or can_run(rule.model, spec.parallel)):
            return Choice(rule.model, spec.parallel, f"the role's model {rule.model}")
    if rule.cloud and not sized:
        return Choice(rule.cloud, 1, f"{need} tokens: more than any local model takes, so cloud ({rule.cloud})")
    if rule.cloud and rule.when_nothing_fits == "cloud":
        return Choice(rule.cloud, 1, f"{need} tokens: no local model fits, so cloud ({rule.cloud})")
    if rule.bands or rule.model:
        return Choice(None, 0, f"{need} tokens: no local model fits now; waiting")
    return Choice(roster.default, 1, f"no model configured for this role: the default model ({roster.default})")
