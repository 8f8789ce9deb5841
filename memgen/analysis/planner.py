"""The members planner (`memgen plan`): how many members K an ensemble at rate r needs for a
target interval width or stability, and what they cost.

Model: a point's held-in and held-out members are independent Bernoulli draws at its true accuracies
(p_in, p_out), as memgen.scores.intervals assumes. A balanced mask of K members (blocks of `block_size`, each
point in round(r * block_size) of every block, memgen.ensemble.masks) fixes n_in and n_out = K - n_in for
every point. The planner draws the members' hit counts (Monte Carlo, seeded) and reports what scores.csv would
hold:

- interval width: hi - lo of memgen.scores.intervals (Wilson, Bonferroni), the mean and median over points;
- stability: Spearman's rho between the scores of two independent ensembles of K members, the quantity
  stability.csv measures between disjoint sub-ensembles (there, a group's n_out varies with the draw, and
  canaries are ranked too: they stand apart and raise rho, e.g. 0.77 -> 0.86 at 16 members of the default
  study's rate 0.95; the planner ranks the natural points of --from, the user's own data).

The accuracies come from a finished run (`--from`: each natural point's acc_in and acc_out, read as its true
ones; they hold for the run's rate and recipe, so plan from a run at the rate asked for), or default to
p_in = p_out = 0.5, where Wilson intervals are widest (an upper bound for fz's width).
"""

import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from memgen.analysis.stability import spearman
from memgen.errors import fail
from memgen.scores.intervals import DEFAULT_LEVEL, INTERVAL_DEFINITIONS, bounds, check_level

MAX_POINTS = (
    20_000  # points simulated: a seeded sample of a larger run (the statistics are means over points)
)
REPS = 8  # Monte Carlo draws per K (each over every sampled point)
STATISTICS = ("median", "mean")


def check_rate(rate) -> float:
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0.0 < rate < 1.0:
        raise fail(
            f"rate {rate!r} is not strictly between 0 and 1", "give the members' sampling rate, e.g. 0.95"
        )
    return float(rate)


def counts(members: int, rate: float, block_size: int) -> tuple[int, int]:
    """(n_in, n_out) of every point in a balanced mask of `members` (a multiple of block_size) at `rate`."""
    if members < 1 or block_size < 1 or members % block_size:
        raise fail(
            f"{members} members is not a positive multiple of the block size {block_size}",
            "give K as a multiple of masks.block_size",
        )
    per_block = round(check_rate(rate) * block_size)
    if not 0 < per_block < block_size:
        raise fail(
            f"rate {rate} puts every point in {per_block} of {block_size} members of a block: "
            "no member would hold it " + ("in" if per_block == 0 else "out"),
            "use a larger --block-size or a rate further from 0 and 1",
        )
    n_in = members // block_size * per_block
    return n_in, members - n_in


def _scores(hits_in, n_in, hits_out, n_out) -> dict[str, np.ndarray]:
    """fz, frac (memgen.scores.compute' conventions) from hit counts, with NaN where a side has no member."""
    with np.errstate(invalid="ignore", divide="ignore"):
        a = np.where(n_in > 0, hits_in / np.maximum(n_in, 1), np.nan)
        b = np.where(n_out > 0, hits_out / np.maximum(n_out, 1), np.nan)
        t = a + b
        frac = np.where(t > 0, (a - b) / np.where(t > 0, t, 1.0), np.where(np.isnan(t), np.nan, 0.0))
    return {"fz": np.round(a - b, 12), "frac": np.round(frac, 12)}


def accuracies(p_in=None, p_out=None, max_points: int = MAX_POINTS, seed: int = 0):
    """The points simulated: given accuracies (a seeded sample of at most max_points), or the worst case."""
    if p_in is None:  # many copies of the one worst-case point: the Monte Carlo mean over them is smooth
        return np.full(2000, 0.5), np.full(2000, 0.5)
    p_in, p_out = np.asarray(p_in, dtype=float), np.asarray(p_out, dtype=float)
    keep = ~(np.isnan(p_in) | np.isnan(p_out))
    p_in, p_out = p_in[keep], p_out[keep]
    if p_in.size == 0:
        raise fail("no point has both acc_in and acc_out measured", "plan from a run whose points are scored")
    if p_in.size > max_points:
        pick = np.random.default_rng(seed).choice(p_in.size, max_points, replace=False)
        p_in, p_out = p_in[pick], p_out[pick]
    return p_in, p_out


def widths(p_in, p_out, n_in, n_out, level=DEFAULT_LEVEL, reps=REPS, seed=0) -> dict[str, dict[str, float]]:
    """Expected interval widths at n_in / n_out members (scalars or arrays per point): for acc_in,
    acc_out, fz and frac, {"mean", "median"} over the points, each averaged over `reps` draws."""
    rng = np.random.default_rng(seed)
    shape = (reps, np.size(p_in))
    h_in = rng.binomial(n_in, p_in, size=shape)
    h_out = rng.binomial(n_out, p_out, size=shape)
    b = bounds(h_in, np.broadcast_to(n_in, shape), h_out, np.broadcast_to(n_out, shape), level)
    out = {}
    for name in ("acc_in", "acc_out", *INTERVAL_DEFINITIONS):
        w = b[f"{name}_hi"] - b[f"{name}_lo"]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows (no member out) stay NaN
            out[name] = {
                "mean": float(np.nanmean(np.nanmean(w, 1))),
                "median": float(np.nanmean(np.nanmedian(w, 1))),
            }
    return out


def stability(
    p_in, p_out, members, rate, definition="frac", min_out=1, block_size=1, reps=REPS, seed=0, groups=False
) -> float:
    """Expected Spearman rho between the scores of two independent ensembles of `members` at `rate`.

    groups=False: balanced masks (every point held out by the same n_out, what a planned ensemble gets).
    groups=True: random groups of a larger ensemble, as stability.csv draws them: a point's n_out is
    Binomial(members, 1 - rate). Points held out by fewer than min_out members in either are left out,
    as memgen.analysis.stability does. NaN when fewer than 2 points remain or a side is constant.
    """
    rng = np.random.default_rng(seed)
    p_in, p_out = np.asarray(p_in, dtype=float), np.asarray(p_out, dtype=float)
    if not groups:
        fixed = counts(members, rate, block_size)
    rhos = []
    for _ in range(reps):
        sides = []
        for _side in range(2):
            if groups:
                n_out = rng.binomial(members, 1.0 - rate, size=p_in.size)
            else:
                n_out = np.full(p_in.size, fixed[1])
            n_in = members - n_out
            s = _scores(rng.binomial(n_in, p_in), n_in, rng.binomial(n_out, p_out), n_out)[definition]
            sides.append((s, (n_in >= 1) & (n_out >= min_out) & ~np.isnan(s)))
        both = sides[0][1] & sides[1][1]
        rho = spearman(sides[0][0][both], sides[1][0][both])
        if not math.isnan(rho):
            rhos.append(rho)
    return float(np.mean(rhos)) if rhos else math.nan


def load_run(path) -> dict:
    """A finished ensemble (results/<dataset>/<arch>/<ens>, or its scores.csv): each natural point's
    measured acc_in and acc_out, K, the rate, N, and the measured minutes per member (None without logs)."""
    path = Path(path)
    scores_path = path / "scores.csv" if path.is_dir() else path
    if not scores_path.is_file():
        raise fail(
            f"{scores_path} does not exist",
            "give --from an ensemble folder of a finished run, e.g. results/digits/mlp/rate0.95",
        )
    need = ["canary", "n_in", "n_out", "acc_in", "acc_out"]
    df = pd.read_csv(scores_path, usecols=lambda c: c in need)
    missing = [c for c in need if c not in df.columns]
    if missing or df.empty:
        raise fail(f"{scores_path} lacks columns {missing} or rows", "give the scores.csv of a finished run")
    k = df["n_in"].to_numpy() + df["n_out"].to_numpy()
    members = int(k.max())
    natural = df["canary"].to_numpy().astype(int) == 0
    minutes, source = member_minutes(scores_path.parent, members)
    return {
        "p_in": df["acc_in"].to_numpy(dtype=float)[natural],
        "p_out": df["acc_out"].to_numpy(dtype=float)[natural],
        "members": members,
        "rate": float(
            np.median(df["n_in"].to_numpy() / k)
        ),  # a balanced mask: the same share for every point
        "n": len(df),
        "minutes_per_member": minutes,
        "timing": source,
        "source": str(scores_path),
    }


def member_minutes(ensemble_dir, members: int) -> tuple[float | None, str | None]:
    """Measured job time per member: the member jobs' benchmark files (logs/<dataset>/<arch>/<ens>/members/
    <block>/<first>.benchmark.tsv, wall seconds `s`) summed and divided by K; (None, None) without them.
    A resumed job's file times its last attempt only, so the figure can be low after a restart."""
    parts = Path(ensemble_dir).resolve().parts
    if "results" not in parts:
        return None, None
    i = len(parts) - 1 - parts[::-1].index("results")
    logs = Path(*parts[:i], "logs", *parts[i + 1 :], "members")
    files = sorted(logs.glob("*/*.benchmark.tsv"))
    if not files:
        return None, None
    seconds = sum(float(pd.read_csv(f, sep="\t")["s"].sum()) for f in files)
    return seconds / members / 60.0, f"{len(files)} member jobs' benchmark files in {logs}"


def _evaluate(pts, members, rate, block_size, level, definition, min_out, seed, with_stability) -> dict:
    n_in, n_out = counts(members, rate, block_size)
    w = widths(*pts, n_in, n_out, level, seed=seed)
    row = {"members": members, "n_in": n_in, "n_out": n_out}
    for d in INTERVAL_DEFINITIONS:
        row[f"{d}_width_mean"], row[f"{d}_width_median"] = w[d]["mean"], w[d]["median"]
    if with_stability:
        row["stability"] = stability(*pts, members, rate, definition, min_out, block_size, seed=seed)
    return row


def _check_request(n, definition, statistic, width, stability_target, members, minutes_per_member) -> None:
    """Fails with one message on a request the planner cannot answer (rate and level are checked before)."""
    if not isinstance(n, int) or n < 2:
        raise fail(
            f"dataset size {n!r} is not an integer >= 2", "give the number of training points, e.g. --n 50000"
        )
    if definition not in INTERVAL_DEFINITIONS:
        raise fail(f"definition {definition!r} has no interval", f"use one of {INTERVAL_DEFINITIONS}")
    if statistic not in STATISTICS:
        raise fail(f"statistic {statistic!r} is not one of {STATISTICS}", "use median or mean")
    if sum(x is not None for x in (width, stability_target, members)) != 1:
        raise fail(
            "give exactly one of a target width, a target stability or a member count",
            "see memgen plan --help",
        )
    if width is not None and not 0.0 < width < 2.0:
        raise fail(f"target width {width} is not in (0, 2)", "scores span [-1, 1]: give a width such as 0.2")
    if stability_target is not None and not 0.0 < stability_target < 1.0:
        raise fail(f"target stability {stability_target} is not in (0, 1)", "give a Spearman rho such as 0.9")
    if minutes_per_member is not None and not minutes_per_member > 0:
        raise fail(
            f"minutes per member {minutes_per_member} is not > 0", "give the measured time of one member"
        )


def _target(width, stability_target, definition, statistic, min_out):
    """(ok, measured): ok(row) when the row meets the target width or stability with >= min_out members
    out; measured(row) what it reaches, for the message when no K does."""
    measure = f"{definition}_width_{statistic}"

    def ok(r):
        if r["n_out"] < min_out:
            return False
        if width is not None:
            return r[measure] <= width
        return r["stability"] >= stability_target

    def measured(r):
        if width is not None:
            return f"{statistic} {definition} width {r[measure]:.3g}"
        return f"stability {r['stability']:.3g}"

    return ok, measured


def _smallest_k(row, ok, block_size: int, max_members: int, measured) -> dict:
    """The row of the smallest ok K: doubling from one block up to max_members, then a binary search over
    multiples of the block; measured(row) says how far the last K falls short when none is ok."""
    hi = block_size
    while not ok(row(hi)):
        if hi >= max_members:
            raise fail(
                f"no K up to {max_members} members reaches the target (at K = {hi}: {measured(row(hi))}); "
                "a point never right, in or out, keeps a frac interval of [-1, 1] at any K",
                "give a wider target, the median instead of the mean, or a larger --max-members",
            )
        hi = min(2 * hi, max_members)
    lo = hi // 2 if hi > block_size else 0  # ok(lo) is False (or lo is below one block)
    while hi - lo > block_size:  # binary search over multiples of the block
        mid = (lo + hi) // 2 // block_size * block_size
        if mid <= lo:
            break
        lo, hi = (lo, mid) if ok(row(mid)) else (mid, hi)
    return row(hi)


def _ladder(answer: dict, row, block_size: int) -> list[dict]:
    """The rows around the answer: K / 4, K / 2, K and 2 K, those that are multiples of the block."""
    k = answer["members"]
    ladder = sorted({m for m in (k // 4, k // 2, k, 2 * k) if m >= block_size and m % block_size == 0})
    return [answer if m == k else row(m) for m in ladder]


def plan(
    n: int,
    rate: float,
    *,
    width: float | None = None,
    stability_target: float | None = None,
    members: int | None = None,
    definition: str = "frac",
    statistic: str = "median",
    level: float = DEFAULT_LEVEL,
    block_size: int = 64,
    min_out: int = 10,
    p_in=None,
    p_out=None,
    minutes_per_member: float | None = None,
    max_members: int = 65_536,
    seed: int = 0,
) -> dict:
    """The smallest K (a multiple of block_size, with >= min_out members holding each point out) whose
    `statistic` interval width of `definition` is <= width, or whose stability is >= stability_target; or,
    with `members`, that K as given. Returns {"answer": row, "rows": rows around it, "settings"}: each row
    K, n_in, n_out, fz/frac widths (mean, median), stability, and hours = K * minutes_per_member / 60."""
    rate, level = check_rate(rate), check_level(level)
    _check_request(n, definition, statistic, width, stability_target, members, minutes_per_member)
    pts = accuracies(p_in, p_out, seed=seed)
    with_stab = p_in is not None  # rank agreement needs a spread of points; the worst case is one point

    def row(k):
        r = _evaluate(
            pts, k, rate, block_size, level, definition, min_out, seed, with_stab or stability_target
        )
        r["hours"] = k * minutes_per_member / 60.0 if minutes_per_member else None
        return r

    if members is not None:
        counts(members, rate, block_size)  # a clear error for a K that is no multiple of the block
        answer = row(members)
    else:
        ok, measured = _target(width, stability_target, definition, statistic, min_out)
        answer = _smallest_k(row, ok, block_size, max_members, measured)
    return {
        "answer": answer,
        "rows": _ladder(answer, row, block_size),
        "settings": {
            "n": n,
            "rate": rate,
            "level": level,
            "definition": definition,
            "statistic": statistic,
            "width": width,
            "stability": stability_target,
            "block_size": block_size,
            "min_out": min_out,
            "points": int(np.size(pts[0])),
            "minutes_per_member": minutes_per_member,
        },
    }


def format_plan(result: dict, source: str | None = None, timing: str | None = None) -> str:
    """The planner's answer as text: one line of settings, the answer, a table of K around it."""
    s, a = result["settings"], result["answer"]
    where = (
        f"accuracies measured in {source} ({s['points']:,} natural points)"
        if source
        else ("worst case: acc_in = acc_out = 0.5 at every point (no --from)")
    )
    lines = [
        f"N = {s['n']:,} points, rate {s['rate']:g}, intervals at joint level {s['level']:g} "
        f"(Wilson, Bonferroni); {where}"
    ]
    if s["width"] is not None:
        half = s["width"] / 2
        target = f"{s['statistic']} {s['definition']} interval width <= {s['width']:g} (half-width {half:g})"
    elif s["stability"] is not None:
        target = (
            f"{s['definition']} stability (Spearman rho of two independent ensembles) >= {s['stability']:g}"
        )
    else:
        target = f"K = {a['members']} as given"
    hours = f", {a['hours']:.3g} device-hours" if a["hours"] is not None else ""
    lines.append(
        f"target: {target}\nanswer: K = {a['members']} members ({a['n_out']} hold each point out, "
        f"{a['n_in']} train on it; a multiple of the block of {s['block_size']}){hours}"
    )
    if s["minutes_per_member"]:
        lines.append(
            f"time: {s['minutes_per_member']:.4g} min per member" + (f" ({timing})" if timing else "")
        )
    head = ["K", "n_out", "n_in", "fz width mean", "fz width median", "frac width mean", "frac width median"]
    has_stab = "stability" in a
    head += ([f"{s['definition']} stability"] if has_stab else []) + ["device-hours"]
    table = [head]
    for r in result["rows"]:
        cells = [f"{r['members']}{' *' if r is a else ''}", str(r["n_out"]), str(r["n_in"])]
        cells += [f"{r[f'{d}_width_{m}']:.3f}" for d in INTERVAL_DEFINITIONS for m in ("mean", "median")]
        cells += [f"{r['stability']:.3f}" if r["stability"] == r["stability"] else "-"] if has_stab else []
        cells += [f"{r['hours']:.3g}" if r["hours"] is not None else "-"]
        table.append(cells)
    size = [max(len(row[i]) for row in table) for i in range(len(head))]
    lines += ["", *("  ".join(c.rjust(w) for c, w in zip(row, size, strict=True)) for row in table)]
    lines.append(
        "widths: hi - lo of the score's interval (scores span [-1, 1]); * the answer; n_out < min_out "
        f"({s['min_out']}) leaves points unscored (stability -)"
    )
    return "\n".join(lines)
