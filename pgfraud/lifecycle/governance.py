"""Model governance: which model may decide on real money, and on what evidence.

Three kinds of gate, all pure functions of numbers (the database work is in
:mod:`pgfraud.lifecycle.retrain` and the SQL functions in sql/schema/ml/):

- **Candidate gates** (:func:`judge_candidate`), on a freshly trained model's own card:
  it must rank (enough distinct scores), rest on enough frauds, and its own validation
  must not be far below the champion's. A candidate that fails never serves.
- **Evidence gates** (:func:`judge_evidence`), on the challenger's *live shadow scores*
  next to the champion's, for the same transactions, with matured labels: a minimum
  shadow period, a minimum number of labelled frauds, and a paired bootstrap of the
  difference in average precision (:func:`paired_bootstrap_ap`) whose lower confidence
  bound must clear the margin. A tie keeps the champion.
- **Guardrails** (:func:`judge_health`), on a model's live score distribution and alert
  rate against what it showed on its validation window: a champion that breaks them is
  rolled back, a challenger that breaks them in shadow is never promoted.

Every verdict carries the rule that decided it, a sentence with the numbers
(``kept champion: 5 matured frauds < 50 required``) and the evidence as a dict, which
``ml.retrain_decisions`` stores (columns ``rule``, ``detail``, ``evidence``).

The paired bootstrap: resample the compared transactions with replacement, B times; each
resample scores *both* models on the same rows (that is the pairing: the difference's
variance is not inflated by the two models seeing different rows), giving B differences
AP(challenger) - AP(champion). The one-sided lower bound at confidence c is their
(1 - c) quantile (the percentile method; Efron & Tibshirani, *An Introduction to the
Bootstrap*, 1993, ch. 13 and 16). Rows are sorted once per model, not once per resample,
and a resample is counted, not sorted: AP changes only where a fraud enters the ranking,
so each row is given once the number of the first tie group holding a fraud that it
ranks with or above (:class:`_FraudGroups`), and a resample's AP needs only how many
drawn rows, and how many drawn frauds, fall to each such group: one count of the drawn
rows per model (``numpy.bincount``), whatever the number of rows.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy.typing as npt

    Array = npt.NDArray[Any]

# numpy is imported inside the functions that compute: the CLI reads Gates' defaults on
# every command, and numpy would add ~60 ms to each (pgfraud/kernel/names.py says the same).


@dataclasses.dataclass(frozen=True)
class Gates:
    """What a model must show to take charge, and to stay in charge."""

    # Evidence: the challenger's live shadow scores against the champion's.
    min_frauds: int = 50                     # labelled frauds among the compared rows
    min_shadow: dt.timedelta = dt.timedelta(days=2)   # event time with shadow scores
    max_shadow: dt.timedelta = dt.timedelta(days=28)  # then retire it and start again
    margin: float = 0.0                      # AP points the lower bound must exceed
    confidence: float = 0.95                 # one-sided
    resamples: int = 1000
    seed: int = 0
    # Candidate: the model's own card.
    min_training_frauds: int = 50
    min_validation_ratio: float = 0.5        # own validation AP >= this x champion's
    # Guardrails: live scores against the model's validation window.
    max_score_psi: float = 0.25
    max_alert_ratio: float = 3.0
    guard_window: dt.timedelta = dt.timedelta(days=1)
    min_guard_predictions: int = 500


#: Rules under which a challenger is kept in shadow, not refused: it needs more time.
GATHERING = ("shadow_period", "too_few_frauds")


@dataclasses.dataclass(frozen=True)
class Verdict:
    promote: bool
    rule: str
    detail: str
    evidence: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def gathering(self) -> bool:
        """The challenger is not refused, only short of evidence so far."""
        return self.rule in GATHERING


@dataclasses.dataclass(frozen=True)
class PairedComparison:
    rows: int
    frauds: int
    challenger_ap: float
    champion_ap: float
    difference: float          # challenger - champion, on all compared rows
    lower: float               # one-sided lower bound at `confidence`
    upper: float               # the matching upper bound
    confidence: float
    resamples: int             # resamples used (those holding at least one fraud)

    def as_dict(self) -> dict[str, Any]:
        return {name: (None if isinstance(v, float) and math.isnan(v) else v)
                for name, v in dataclasses.asdict(self).items()}


class _SortedScores:
    """One model's scores sorted once, highest first, with the ends of runs of ties."""

    def __init__(self, score: Array) -> None:
        import numpy as np

        score = np.asarray(score, dtype=np.float64)
        self.order = np.argsort(-score, kind="mergesort")
        ordered = score[self.order]
        self.last = np.flatnonzero(np.r_[ordered[1:] != ordered[:-1], True])

    def average_precision(self, y: Array, weights: Array) -> float:
        """AP of the multiset holding row i ``weights[i]`` times (the step-wise
        definition of :func:`pgfraud.lifecycle.metrics.average_precision`, ties entering
        together)."""
        import numpy as np

        w = weights[self.order]
        tp = np.cumsum(w * y[self.order])[self.last]
        seen = np.cumsum(w)[self.last]
        positives = tp[-1]
        if positives <= 0:
            return math.nan
        precision = np.divide(tp, seen, out=np.zeros_like(tp), where=seen > 0)
        return float((np.diff(np.r_[0.0, tp]) * precision).sum() / positives)


class _FraudGroups:
    """One model's ranking reduced to what average precision reads from it.

    AP = sum over tie groups g of (frauds entering at g) x precision at g / all frauds:
    only groups holding a fraud add a term, and the precision there is (frauds ranked at
    or above g) / (rows ranked at or above g). So a row matters only through the first
    fraud-holding group that it ranks with or above; ``code`` holds that group's number
    k (0 .. groups - 1; ``groups`` for rows ranked below every fraud) as 2k + label.
    A resample drawn as row numbers is then counted in one ``numpy.bincount`` of their
    codes: per group, the drawn non-frauds and frauds; cumulative sums of those give the
    counts at each group, exactly (they are integers), so each term is the one
    :meth:`_SortedScores.average_precision` computes with the same draws as weights.
    """

    def __init__(self, ranking: _SortedScores, y: Array) -> None:
        import numpy as np

        fraud = y[ranking.order] > 0
        ends = ranking.last                             # sorted position ending each group
        starts = np.r_[0, ends[:-1] + 1]
        holds_fraud = (np.add.reduceat(fraud.astype(np.int64), starts) > 0 if len(fraud)
                       else fraud)
        fraud_ends = ends[holds_fraud]
        self.groups = len(fraud_ends)
        bucket = np.empty(len(y), dtype=np.int64)
        bucket[ranking.order] = np.searchsorted(fraud_ends, np.arange(len(y)), side="left")
        self.code = 2 * bucket + (y > 0)
        self.size = 2 * self.groups + 2

    def average_precision(self, drawn: Array) -> float:
        """AP of the resample holding row ``drawn[j]`` for each j (rows may repeat)."""
        import numpy as np

        counts = np.bincount(self.code[drawn], minlength=self.size)[:-2]
        entering = counts[1::2]                         # drawn frauds in each group
        tp = np.cumsum(entering)
        seen = np.cumsum(counts[0::2] + entering)
        positives = tp[-1] if len(tp) else 0
        if positives <= 0:
            return math.nan
        precision = np.divide(tp, seen, out=np.zeros(len(tp)), where=seen > 0)
        return float((entering * precision).sum() / positives)


def paired_bootstrap_ap(y: Array, challenger: Array, champion: Array, *,
                        resamples: int = 1000, confidence: float = 0.95,
                        seed: int = 0) -> PairedComparison:
    """Paired bootstrap of AP(challenger) - AP(champion) on the same labelled rows.

    >>> import numpy as np
    >>> y = np.array([0, 0, 1, 1, 0, 1, 0, 0] * 10)
    >>> good = y + np.linspace(0, 0.5, len(y)); bad = np.linspace(0, 1, len(y))
    >>> c = paired_bootstrap_ap(y, good, bad, resamples=200)
    >>> c.difference > 0 and c.lower > 0
    True
    >>> paired_bootstrap_ap(y, bad, bad, resamples=200).lower
    0.0
    """
    import numpy as np

    y = np.asarray(y, dtype=np.float64)
    if not (len(y) == len(challenger) == len(champion)):
        raise ValueError("labels and both score vectors must have the same length")
    frauds = int(y.sum())
    ones = np.ones(len(y))
    rankings = _SortedScores(challenger), _SortedScores(champion)
    observed = [m.average_precision(y, ones) for m in rankings]
    if frauds == 0:
        nan = math.nan
        return PairedComparison(len(y), 0, nan, nan, nan, nan, nan, confidence, 0)
    models = _FraudGroups(rankings[0], y), _FraudGroups(rankings[1], y)
    rng = np.random.default_rng(seed)
    differences = np.empty(resamples)
    for b in range(resamples):
        drawn = rng.integers(0, len(y), len(y))
        differences[b] = (models[0].average_precision(drawn)
                          - models[1].average_precision(drawn))
    differences = differences[~np.isnan(differences)]   # resamples without a fraud
    lower, upper = np.quantile(differences, [1 - confidence, confidence])
    return PairedComparison(len(y), frauds, observed[0], observed[1],
                            observed[0] - observed[1], float(lower), float(upper),
                            confidence, len(differences))


def judge_candidate(card: dict[str, Any], champion_card: dict[str, Any] | None,
                    gates: Gates) -> Verdict | None:
    """A refusal if a newly trained model may not serve at all, else None.

    ``card``: the model's metrics (``ml.models.metrics``); ``champion_card`` the
    champion's, or None when there is none.
    """
    ranking = card.get("can_rank") or {}
    if ranking and not ranking.get("ok", True):
        return Verdict(False, "cannot_rank",
                       f"kept champion: the challenger gives {ranking.get('distinct_scores')} "
                       f"distinct scores on its validation window < "
                       f"{ranking.get('required')} required ({ranking.get('trees')} trees)",
                       {"can_rank": ranking})
    frauds = int((card.get("train") or {}).get("positives") or 0)
    if frauds < gates.min_training_frauds:
        return Verdict(False, "too_few_training_frauds",
                       f"kept champion: the challenger was trained on {frauds} frauds < "
                       f"{gates.min_training_frauds} required",
                       {"training_frauds": frauds, "required": gates.min_training_frauds})
    if champion_card is not None:
        own = (card.get("validation") or {}).get("average_precision")
        theirs = (champion_card.get("validation") or {}).get("average_precision")
        if own is not None and theirs is not None and own < gates.min_validation_ratio * theirs:
            return Verdict(False, "weak_validation",
                           f"kept champion: the challenger's own validation AP {own:.4f} < "
                           f"{gates.min_validation_ratio:g} x the champion's {theirs:.4f}",
                           {"challenger_validation_ap": own, "champion_validation_ap": theirs,
                            "ratio": gates.min_validation_ratio})
    return None


@dataclasses.dataclass(frozen=True)
class Health:
    """A model's live scores over a window (``ml.serving_health``)."""

    model_version: int
    predictions: int
    score_psi: float | None
    alert_rate: float | None
    reference_alert_rate: float | None

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def judge_health(health: Health, gates: Gates) -> Verdict | None:
    """The guardrail a model's live scores break (``promote`` False), or None when they
    hold or there are too few scores to tell."""
    if health.predictions < gates.min_guard_predictions:
        return None
    evidence = {"health": health.as_dict(), "max_score_psi": gates.max_score_psi,
                "max_alert_ratio": gates.max_alert_ratio}
    if health.score_psi is not None and health.score_psi > gates.max_score_psi:
        return Verdict(False, "guardrail_score_psi",
                       f"model {health.model_version}'s live score PSI {health.score_psi:.3f} "
                       f"> {gates.max_score_psi:g} over {health.predictions:,} scores",
                       evidence)
    reference = health.reference_alert_rate
    if (health.alert_rate is not None and reference is not None and reference > 0
            and health.alert_rate > gates.max_alert_ratio * reference):
        return Verdict(False, "guardrail_alert_rate",
                       f"model {health.model_version}'s live alert rate "
                       f"{health.alert_rate:.2%} > {gates.max_alert_ratio:g} x its validation "
                       f"rate {reference:.2%} over {health.predictions:,} scores", evidence)
    return None


def judge_evidence(comparison: PairedComparison | None, shadow: dt.timedelta,
                   gates: Gates, *, challenger: int) -> Verdict:
    """Promote or keep, from the challenger's shadow period and the paired comparison of
    its live scores with the champion's (None: no compared rows yet)."""
    evidence: dict[str, Any] = {
        "shadow_days": round(shadow.total_seconds() / 86_400, 3),
        "min_shadow_days": gates.min_shadow.total_seconds() / 86_400,
        "min_frauds": gates.min_frauds, "margin": gates.margin,
        "comparison": comparison.as_dict() if comparison is not None else None}
    if shadow < gates.min_shadow:
        return Verdict(False, "shadow_period",
                       f"kept champion: challenger {challenger} has "
                       f"{evidence['shadow_days']:.2f} days of shadow scores < "
                       f"{evidence['min_shadow_days']:g} required", evidence)
    frauds = comparison.frauds if comparison is not None else 0
    if frauds < gates.min_frauds:
        return Verdict(False, "too_few_frauds",
                       f"kept champion: {frauds} matured frauds < {gates.min_frauds} required "
                       f"(challenger {challenger} in shadow for "
                       f"{evidence['shadow_days']:.1f} days)", evidence)
    assert comparison is not None
    numbers = (f"AP {comparison.challenger_ap:.4f} vs {comparison.champion_ap:.4f}, "
               f"difference {comparison.difference:+.4f}, {comparison.confidence:.0%} lower "
               f"bound {comparison.lower:+.4f} on {comparison.rows:,} transactions with "
               f"{comparison.frauds} matured frauds")
    if comparison.lower > gates.margin:
        return Verdict(True, "evidence",
                       f"promoted challenger {challenger}: {numbers} > margin "
                       f"{gates.margin:g}", evidence)
    rule = "tie" if comparison.difference == 0 else "not_better"
    verdict = "a tie" if rule == "tie" else "not better by more than chance"
    return Verdict(False, rule,
                   f"kept champion: {verdict} ({numbers} <= margin {gates.margin:g})",
                   evidence)
