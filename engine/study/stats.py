"""The study's statistics (summarize, paired_gain) and its generated sentences.

Separate because these are pure functions of finished cells: the report, the CLI and the
GUI use them on saved or partial studies without training anything (numpy and scipy only).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from engine.study.settings import (
    CONFIDENCE,
    EFFECTS,
    WAY_LABELS,
    WAYS,
    Cell,
    StudySettings,
    budget_key,
)

# ---------------------------------------------------------------------------- statistics


def _std(values: Sequence[float]) -> float | None:
    """Sample standard deviation (n-1); None with fewer than two values (spread unknown)."""
    return float(np.std(values, ddof=1)) if len(values) >= 2 else None


def _t_quantile(df: int) -> float:
    """Two-sided CONFIDENCE quantile of Student's t (scipy ships with scikit-learn)."""
    from scipy.stats import t

    return float(t.ppf(0.5 + CONFIDENCE / 2, df))


def paired_gain(way: Sequence[float], scratch: Sequence[float]) -> dict:
    """Gain of a way over scratch from per-seed paired differences (same labels per seed).

    `clear` is True when the CONFIDENCE interval of the mean difference (Student's t over
    the seeds) excludes zero, i.e. the difference exceeds the seed-to-seed spread; None
    when there is only one seed and the spread is unknown.
    """
    diffs = [a - b for a, b in zip(way, scratch, strict=True)]
    if not diffs:
        return {"mean": None, "std": None, "low": None, "high": None, "diffs": [], "clear": None}
    mean = float(np.mean(diffs))
    std = _std(diffs)
    if std is None:
        return {"mean": mean, "std": None, "low": None, "high": None, "diffs": diffs, "clear": None}
    half = _t_quantile(len(diffs) - 1) * std / math.sqrt(len(diffs))
    low, high = mean - half, mean + half
    return {
        "mean": mean,
        "std": std,
        "low": low,
        "high": high,
        "diffs": diffs,
        "clear": bool(low > 0 or high < 0),
    }


def _ordered_budgets(cells: Sequence[Cell], settings: StudySettings) -> list[str]:
    keys = [budget_key(b) for b in settings.budgets]
    return keys + sorted({c.budget for c in cells} - set(keys))


def summarize(cells: Sequence[Cell], settings: StudySettings) -> dict:
    """The study table as plain JSON-ready data (the shape `evenodd compare --json` prints).

    ``table[family][budget][way]`` = {"mean", "std", "accuracies", "seeds", "n_labels",
    "steps", "steps_to_target", "reached"}; ``gains[family][budget][way]`` (way in frozen,
    finetune) = paired_gain(...) over the seeds both the way and scratch finished;
    ``effects[family][budget][name]`` (name in settings.EFFECTS: what the unlabelled
    images add, what the pretrained encoder adds to them) = paired_gain of the two ways.
    Only combinations with at least one finished cell appear.
    """
    table: dict[str, dict[str, dict[str, dict]]] = {}
    gains: dict[str, dict[str, dict[str, dict]]] = {}
    effects: dict[str, dict[str, dict[str, dict]]] = {}
    budgets = _ordered_budgets(cells, settings)
    for family in settings.families:
        for budget in budgets:
            by_way = {
                way: sorted(
                    (c for c in cells if (c.family, c.budget, c.way) == (family, budget, way)),
                    key=lambda c: c.seed,
                )
                for way in WAYS
            }
            row = {way: _way_summary(found) for way, found in by_way.items() if found}
            if not row:
                continue
            table.setdefault(family, {})[budget] = row
            for way in ("frozen", "finetune"):
                gain = _paired(by_way[way], by_way["scratch"])
                if gain is not None:
                    gains.setdefault(family, {}).setdefault(budget, {})[way] = gain
            for name, (way, baseline, _) in EFFECTS.items():
                gain = _paired(by_way[way], by_way[baseline])
                if gain is not None:
                    effects.setdefault(family, {}).setdefault(budget, {})[name] = gain
    return {"table": table, "gains": gains, "effects": effects, "target": settings.target}


def _paired(way: Sequence[Cell], baseline: Sequence[Cell]) -> dict | None:
    """paired_gain over the seeds both ways finished (with those seeds), or None."""
    mine = {c.seed: c.test_accuracy for c in way}
    base = {c.seed: c.test_accuracy for c in baseline}
    seeds = sorted(set(mine) & set(base))
    if not seeds:
        return None
    gain = paired_gain([mine[s] for s in seeds], [base[s] for s in seeds])
    gain["seeds"] = seeds
    return gain


def _way_summary(found: Sequence[Cell]) -> dict:
    accuracies = [c.test_accuracy for c in found]
    reached = [c.steps_to_target for c in found if c.steps_to_target is not None]
    return {
        "mean": float(np.mean(accuracies)),
        "std": _std(accuracies),
        "accuracies": accuracies,
        "seeds": [c.seed for c in found],
        "n_labels": found[0].n_labels,
        "steps": [c.steps for c in found],
        "steps_to_target": [c.steps_to_target for c in found],
        "reached": len(reached),
        "mean_steps_to_target": float(np.mean(reached)) if reached else None,
        "seconds": [c.seconds for c in found],  # a semi-supervised step costs more
        "mean_seconds": float(np.mean([c.seconds for c in found])),
    }


# --------------------------------------------------------------------- generated sentences


def pct(value: float, digits: int = 1) -> str:
    """0.9512 -> "95.1%": how every study text writes an accuracy. Means of test
    accuracy take 2 digits, as in the table, so 99.46 % never reads as 99.5 %."""
    return f"{100 * value:.{digits}f}%"


def _pts(value: float) -> str:
    return f"{100 * value:+.1f} points"


def _cell_name(family: str, budget: str) -> str:
    labels = "all labels" if budget == "all" else f"{budget} labels"
    return f"{family.upper()}, {labels}"


def _spread_text(gain: dict) -> tuple[str, str]:
    """(interval, verdict) of a paired gain: its interval over the seeds, and whether it
    is beyond the seed spread ("" verdict words are filled in by the caller)."""
    if gain["clear"] is None:
        return "one seed only; the spread is unknown", ""
    interval = (
        f"{int(CONFIDENCE * 100)}% interval {100 * gain['low']:+.1f} to "
        f"{100 * gain['high']:+.1f} over {len(gain['diffs'])} paired seeds"
    )
    if gain["clear"]:
        return interval, "helped" if gain["mean"] > 0 else "hurt"
    return interval, "within"


def _verdict(word: str, subject: str = "") -> str:
    if word == "within":
        return "; within the spread across seeds, no clear difference."
    if not word:
        return "."
    return f"; {subject}{word}, beyond the seed spread."


def gain_sentence(family: str, budget: str, way: str, gain: dict) -> str:
    """One sentence on one gain, with its interval and whether it beats the seed spread."""
    interval, word = _spread_text(gain)
    name = f"{_cell_name(family, budget)}: {WAY_LABELS[way]} vs scratch"
    return f"{name}: {_pts(gain['mean'])} ({interval}){_verdict(word, 'pretraining ')}"


def effect_sentence(family: str, budget: str, name: str, gain: dict) -> str:
    """One sentence on what one ingredient adds (settings.EFFECTS), as gain_sentence."""
    way, baseline, what = EFFECTS[name]
    interval, word = _spread_text(gain)
    return (
        f"{_cell_name(family, budget)}: {what} {_pts(gain['mean'])} ({WAY_LABELS[way]} vs "
        f"{WAY_LABELS[baseline]}; {interval}){_verdict(word)}"
    )


def convergence_sentence(family: str, budget: str, row: dict, target: float) -> str | None:
    """How many steps each way needed to reach the target validation accuracy."""
    parts = []
    for way in WAYS:
        if way not in row:
            continue
        info = row[way]
        n = len(info["accuracies"])
        if info["reached"]:
            parts.append(
                f"{way} after {info['mean_steps_to_target']:.0f} steps "
                f"({info['reached']}/{n} seeds)"
            )
        else:
            parts.append(f"{way} never (0/{n} seeds)")
    if not parts:
        return None
    return (
        f"{_cell_name(family, budget)}: reached {pct(target)} validation accuracy: "
        + "; ".join(parts)
        + "."
    )


def _comparison_lists(gains: dict) -> tuple[list[str], list[str], list[str], list[str]]:
    helped, hurt, unclear, unknown = [], [], [], []
    for family, per_budget in gains.items():
        for budget, per_way in per_budget.items():
            for way, gain in per_way.items():
                tag = f"{family} {budget} {way}"
                if gain["clear"] is None:
                    unknown.append(tag)
                elif gain["clear"] and gain["mean"] > 0:
                    helped.append(tag)
                elif gain["clear"]:
                    hurt.append(tag)
                else:
                    unclear.append(tag)
    return helped, hurt, unclear, unknown


def faster_sentences(summary: dict) -> list[str]:
    """Convergence of each pretrained way vs scratch: first how many seeds reached the
    target at all, then (if equally many) the mean steps of those seeds."""
    out = []
    for family, per_budget in summary["table"].items():
        for budget, row in per_budget.items():
            scratch = row.get("scratch")
            for way in ("frozen", "finetune"):
                mine = row.get(way)
                if not scratch or not mine or not (mine["reached"] or scratch["reached"]):
                    continue
                out.append(
                    _convergence_verdict(f"{_cell_name(family, budget)}, {way}", mine, scratch)
                )
    return out


def _convergence_verdict(name: str, mine: dict, scratch: dict) -> str:
    def text(info: dict) -> str:
        n = len(info["accuracies"])
        if not info["reached"]:
            return f"never, 0/{n} seeds"
        return f"{info['mean_steps_to_target']:.0f} steps, {info['reached']}/{n} seeds"

    a, b = mine["mean_steps_to_target"], scratch["mean_steps_to_target"]
    if mine["reached"] != scratch["reached"]:
        more = mine["reached"] > scratch["reached"]
        verdict = f"reached the target {'more' if more else 'less'} often than"
    elif a < b:
        verdict = "converged faster than"
    elif a > b:
        verdict = "converged slower than"
    else:
        verdict = "converged as fast as"
    return f"{name}: {verdict} scratch ({text(mine)}; scratch {text(scratch)})."


def sentences(summary: dict) -> list[str]:
    """The report's conclusions, computed from the numbers only (none written by hand)."""
    table, gains = summary["table"], summary["gains"]
    helped, hurt, unclear, unknown = _comparison_lists(gains)
    total = len(helped) + len(hurt) + len(unclear) + len(unknown)
    out = []
    if total:
        out.append(
            f"Of {total} comparisons with scratch (family, budget, pretrained way), "
            f"pretraining helped beyond the seed spread in {len(helped)}, hurt beyond it in "
            f"{len(hurt)}, was within the spread in {len(unclear)}"
            + (f" and could not be judged (one seed) in {len(unknown)}" if unknown else "")
            + "."
        )
    for label, items in (("Helped", helped), ("Hurt", hurt)):
        if items:
            out.append(f"{label}: {', '.join(items)}.")
    for family, per_budget in table.items():
        best = []
        for budget, row in per_budget.items():
            way = max(row, key=lambda w: row[w]["mean"])
            best.append(f"{budget}: {way} {pct(row[way]['mean'], 2)}")
        out.append(f"{family.upper()} best way per budget: " + "; ".join(best) + ".")
    for family, per_budget in gains.items():
        for budget, per_way in per_budget.items():
            for way, gain in per_way.items():
                out.append(gain_sentence(family, budget, way, gain))
    for family, per_budget in summary.get("effects", {}).items():
        for budget, per_effect in per_budget.items():
            for name, gain in per_effect.items():
                out.append(effect_sentence(family, budget, name, gain))
    out.extend(faster_sentences(summary))
    return out
