"""The members planner (`memgen plan`): how many members K an ensemble at rate r needs for a target interval
width or stability, and what they cost (memgen.plan.loo: the points and models of a leave-one-out truth).

Model: a point's held-in and held-out members are independent Bernoulli draws at its true accuracies
(p_in, p_out), as memgen.scores.intervals assumes. A balanced mask of K members (blocks of `block_size`, each
point in round(r * block_size) of every block, memgen.ensemble.masks) fixes n_in and n_out = K - n_in for
every point. The planner reports what scores.csv would hold:

- interval width: hi - lo of memgen.scores.intervals (Wilson, Bonferroni), the mean and median over points;
- stability: Spearman's rho between the scores of two independent ensembles of K members, the quantity
  stability.csv measures between disjoint sub-ensembles (there, a group's n_out varies with the draw, and
  canaries are ranked too: they stand apart and raise rho, e.g. 0.77 -> 0.86 at 16 members of the default
  study's rate 0.95; the planner ranks the natural points of --from, the user's own data).

The accuracies, for the definition planned (frac by default, or fz):

- without --from, the worst case: every point at p_in = p_out = p, for the p of WORST_P whose interval of
  that definition is widest at each K (fz: p = 0.5, where Wilson intervals are widest; frac: the smallest p,
  where (a - b) / (a + b) divides by little), its widths exact over the binomial hit counts;
- with --from, a finished run's acc_in and acc_out, read as what they are: hits of n_in and n_out members.
  Their binomial noise widens the spread of points, and a plan from them overstates stability; so the
  planner simulates points drawn from the distribution of true (p_in, p_out) that, measured so, is most
  likely to give the run's (empirical Bayes: a nonparametric maximum-likelihood prior on a grid, by EM).
  On a known truth its stability is within 0.03 of the truth's (tests/test_planner.py). The accuracies hold
  for the run's rate and recipe, so plan from a run at the rate asked for.
"""

import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from memgen.analysis.stability import spearman
from memgen.errors import fail
from memgen.scores.intervals import DEFAULT_LEVEL, INTERVAL_DEFINITIONS, bounds, check_level

MAX_POINTS = (
    20_000  # points simulated: a seeded sample of a larger run (the statistics are means over points)
)
REPS = 8  # Monte Carlo draws per K (each over every sampled point)
STATISTICS = ("median", "mean")
# the worst case's p_in = p_out = p; below 0.05 frac's interval nears [-1, 1] at any K (a point never right)
WORST_P = tuple(round(0.05 * i, 2) for i in range(1, 20))
TAIL = 1e-9  # binomial tail mass each side left out of the exact worst-case widths
# nodes per axis of the (p_in, p_out) prior, evenly spaced: finer nodes next to 1 took mass that no run of
# a few hundred members can tell from 1, and made planned stability fall with K
EB_GRID = 61
EB_ITERATIONS = 1000  # EM steps: at 300, rho on a known truth came out up to 0.02 further off
EB_FIT_POINTS = (
    5000  # measured points the prior is fitted to (a seeded sample): an EM step costs points x grid^2
)
DRAWS = 4000  # points drawn from the prior at least: fewer leave a Monte Carlo rho noisy


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


def prior(hits_in, n_in, hits_out, n_out, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(grid [G], weights [G, G]): the distribution of true (p_in, p_out) over grid x grid most likely to give
    the measured hit counts (nonparametric maximum likelihood, EM from uniform weights)."""
    key = np.stack(np.broadcast_arrays(hits_in, n_in, hits_out, n_out), 1).astype(np.int64)
    if len(key) > EB_FIT_POINTS:
        key = key[np.random.default_rng([seed, 2]).choice(len(key), EB_FIT_POINTS, replace=False)]
    obs, count = np.unique(key, axis=0, return_counts=True)  # a balanced mask repeats (hits_in, hits_out)
    grid = np.linspace(0.0, 1.0, EB_GRID)
    like_in = stats.binom.pmf(obs[:, [0]], obs[:, [1]], grid)
    like_out = stats.binom.pmf(obs[:, [2]], obs[:, [3]], grid)
    share = count / count.sum()
    w = np.full((grid.size, grid.size), 1.0 / grid.size**2)
    for _ in range(EB_ITERATIONS):
        fit = np.maximum(((like_in @ w) * like_out).sum(1), 1e-300)
        w = w * (like_in.T @ ((share / fit)[:, None] * like_out))
    return grid, w / w.sum()


def deconvolve(p_in, p_out, n_in, n_out, size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """`size` points (p_in, p_out) drawn from the `prior` of accuracies measured as hits of n_in / n_out
    members (arrays per point, or scalars): the run's spread of points without its binomial noise."""
    grid, w = prior(np.rint(p_in * n_in), n_in, np.rint(p_out * n_out), n_out, seed)
    rng = np.random.default_rng([seed, 1])
    pick = rng.choice(w.size, size, p=w.ravel())
    # spread within each node's cell: a grid node shared by many points would tie them at any K; 0 and 1 stay
    edge = np.concatenate([[0.0], (grid[1:] + grid[:-1]) / 2, [1.0]])
    out = []
    for node in (pick // grid.size, pick % grid.size):
        inner = (grid[node] > 0) & (grid[node] < 1)
        out.append(np.where(inner, rng.uniform(edge[node], edge[node + 1]), grid[node]))
    return out[0], out[1]


def accuracies(p_in, p_out, run_n_in=None, run_n_out=None, max_points: int = MAX_POINTS, seed: int = 0):
    """The points simulated. Without run_n_in / run_n_out: the accuracies as the true ones (a seeded sample of
    at most max_points). With them (the members each accuracy was measured on, per point or one number):
    `deconvolve`d, DRAWS to max_points points."""
    p_in, p_out = np.asarray(p_in, dtype=float), np.asarray(p_out, dtype=float)
    keep = ~(np.isnan(p_in) | np.isnan(p_out))
    measured = run_n_in is not None and run_n_out is not None
    if measured:
        n_in, n_out = (np.broadcast_to(np.asarray(n, dtype=float), p_in.shape) for n in (run_n_in, run_n_out))
        keep &= (n_in > 0) & (n_out > 0)
    if not keep.any():
        raise fail("no point has both acc_in and acc_out measured", "plan from a run whose points are scored")
    if measured:
        size = min(max(int(keep.sum()), DRAWS), max_points)
        return deconvolve(p_in[keep], p_out[keep], n_in[keep], n_out[keep], size, seed)
    p_in, p_out = p_in[keep], p_out[keep]
    if p_in.size > max_points:
        pick = np.random.default_rng(seed).choice(p_in.size, max_points, replace=False)
        p_in, p_out = p_in[pick], p_out[pick]
    return p_in, p_out


def _support(n: int, p: float) -> tuple[np.ndarray, np.ndarray]:
    """Hit counts of Binomial(n, p) but the tails (TAIL each side), and their probabilities (sum 1)."""
    hits = np.arange(stats.binom.ppf(TAIL, n, p), stats.binom.isf(TAIL, n, p) + 1)
    prob = stats.binom.pmf(hits, n, p)
    return hits, prob / prob.sum()


def exact_widths(p: float, n_in: int, n_out: int, level=DEFAULT_LEVEL) -> dict[str, dict[str, float]]:
    """Interval widths at a point right with probability p in and out: for acc_in, acc_out, fz and frac,
    {"mean", "median"} over the binomial hit counts, exact (no simulation)."""
    h_in, w_in = _support(n_in, p)
    h_out, w_out = _support(n_out, p)
    weight = np.outer(w_in, w_out).ravel()
    hits_in, hits_out = (a.ravel() for a in np.meshgrid(h_in, h_out, indexing="ij"))
    b = bounds(hits_in, n_in, hits_out, n_out, level)
    out = {}
    for name in ("acc_in", "acc_out", *INTERVAL_DEFINITIONS):
        w = b[f"{name}_hi"] - b[f"{name}_lo"]
        order = np.argsort(w, kind="stable")
        half = min(int(np.searchsorted(np.cumsum(weight[order]), 0.5)), w.size - 1)
        out[name] = {"mean": float(weight @ w), "median": float(w[order][half])}
    return out


def worst_case(n_in: int, n_out: int, level, definition: str, statistic: str):
    """(p, exact_widths at p): the p of WORST_P whose `statistic` width of `definition` is the largest."""
    found = None
    for p in WORST_P:
        w = exact_widths(p, n_in, n_out, level)
        if found is None or w[definition][statistic] > found[1][definition][statistic]:
            found = (p, w)
    return found


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
    measured acc_in and acc_out and the members they were measured on (n_in, n_out), K, the rate, N, and
    the measured minutes per member (None without logs)."""
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
        "n_in": df["n_in"].to_numpy(dtype=float)[natural],
        "n_out": df["n_out"].to_numpy(dtype=float)[natural],
        "members": members,
        "rate": float(np.median(df["n_in"].to_numpy() / k)),  # a balanced mask: one share for every point
        "n": len(df),
        "minutes_per_member": minutes,
        "timing": source,
        "source": str(scores_path),
        "ensemble_dir": str(scores_path.parent),
    }


def benchmark_seconds(files) -> float:
    """Wall seconds (`s`) of Snakemake benchmark files, summed."""
    return sum(float(pd.read_csv(f, sep="\t")["s"].sum()) for f in files)


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
    return benchmark_seconds(files) / members / 60.0, f"{len(files)} member jobs' benchmark files in {logs}"


def _evaluate(pts, members: int, s: dict, seed: int, with_stability: bool) -> dict:
    """One K's row: n_in, n_out, fz / frac widths (mean, median), at the worst p without points
    (`worst_p`), and the stability of s["definition"] when asked."""
    n_in, n_out = counts(members, s["rate"], s["block_size"])
    row = {"members": members, "n_in": n_in, "n_out": n_out}
    if pts is None:
        row["worst_p"], w = worst_case(n_in, n_out, s["level"], s["definition"], s["statistic"])
    else:
        w = widths(*pts, n_in, n_out, s["level"], seed=seed)
    for d in INTERVAL_DEFINITIONS:
        row[f"{d}_width_mean"], row[f"{d}_width_median"] = w[d]["mean"], w[d]["median"]
    if with_stability:
        row["stability"] = stability(
            *pts, members, s["rate"], s["definition"], s["min_out"], s["block_size"], seed=seed
        )
    return row


def _check_request(n, definition, statistic, width, stability_target, members, minutes, points) -> None:
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
    if stability_target is not None and not points:
        raise fail(
            "a target stability needs the spread of a run's points (the worst case is one point repeated, "
            "which no K ranks)",
            "give --from a finished ensemble, or plan a --width",
        )
    if minutes is not None and not minutes > 0:
        raise fail(f"minutes per member {minutes} is not > 0", "give the measured time of one member")


def _target(width, stability_target, definition, statistic, min_out):
    """(ok, shortfall): ok(row) when the row meets the target width or stability with >= min_out members
    out; shortfall(row) the target, what the row reaches and the fix, for the message when no K does."""
    measure = f"{definition}_width_{statistic}"

    def ok(r):
        if r["n_out"] < min_out:
            return False
        if width is not None:
            return r[measure] <= width
        return r["stability"] >= stability_target

    def shortfall(r) -> tuple[str, str, str]:
        held = f"{r['n_out']} members out (min_out {min_out})"
        larger = "a larger --max-members" + (" or a smaller --min-out" if r["n_out"] < min_out else "")
        if width is not None:
            never = " (a point never right keeps a frac interval of [-1, 1] at any K)" * (
                definition == "frac"
            )
            return (
                f"{statistic} {definition} width <= {width:g}",
                f"{held}, width {r[measure]:.3f}",
                f"give a wider --width, the median instead of the mean{never}, or {larger}",
            )
        reached = f"{held}, stability {r['stability']:.3f}"
        return (
            f"{definition} stability >= {stability_target:g}",
            reached,
            f"give a lower --stability, or {larger}",
        )

    return ok, shortfall


def _limit(max_members: int, block_size: int) -> int:
    """The largest K searched: max_members rounded down to a multiple of the block."""
    if not isinstance(max_members, int) or max_members < block_size:
        raise fail(
            f"--max-members {max_members!r} is below one block of {block_size} members",
            f"give --max-members of at least {block_size}",
        )
    return max_members // block_size * block_size


def _smallest_k(row, ok, block_size: int, limit: int, shortfall) -> dict:
    """The row of the smallest ok K among the multiples of block_size up to limit (itself one): doubling from
    one block, then a binary search between the last K that fell short and the first that did not."""
    short, k = 0, block_size
    while not ok(row(k)):
        if k >= limit:
            what, reached, fix = shortfall(row(k))
            raise fail(
                f"no K up to {limit} members (a multiple of the block of {block_size}) reaches {what}: "
                f"K = {limit} gives {reached}",
                fix,
            )
        short, k = k, min(2 * k, limit)
    lo, hi = short // block_size, k // block_size  # in blocks: lo falls short (or is 0), hi is ok
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if ok(row(mid * block_size)) else (mid, hi)
    return row(hi * block_size)


def _ladder(answer: dict, row, block_size: int) -> list[dict]:
    """The rows around the answer: K / 4, K / 2 (rounded down to multiples of the block), K and 2 K."""
    k = answer["members"]
    ladder = sorted({m // block_size * block_size for m in (k // 4, k // 2, k, 2 * k)} - {0})
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
    run_n_in=None,
    run_n_out=None,
    minutes_per_member: float | None = None,
    max_members: int = 65_536,
    seed: int = 0,
) -> dict:
    """The smallest K (a multiple of block_size up to max_members, with >= min_out members holding each point
    out) whose `statistic` interval width of `definition` is <= width, or whose stability is >=
    stability_target; or, with `members`, that K as given. p_in / p_out: the points' accuracies (none: the
    worst case), measured on run_n_in / run_n_out members (none: taken as true; see `accuracies`).
    Returns {"answer": row, "rows": rows around it, "settings"}: each row K, n_in, n_out, fz/frac widths
    (mean, median), worst_p or stability, and hours = K * minutes_per_member / 60."""
    rate, level = check_rate(rate), check_level(level)
    _check_request(
        n, definition, statistic, width, stability_target, members, minutes_per_member, p_in is not None
    )
    pts = None if p_in is None else accuracies(p_in, p_out, run_n_in, run_n_out, seed=seed)
    s = {"rate": rate, "level": level, "definition": definition, "statistic": statistic}
    s |= {"block_size": block_size, "min_out": min_out}
    cache = {}

    def row(k):
        if k not in cache:
            cache[k] = _evaluate(pts, k, s, seed, pts is not None)
            cache[k]["hours"] = k * minutes_per_member / 60.0 if minutes_per_member else None
        return cache[k]

    if members is not None:
        counts(members, rate, block_size)  # a clear error for a K that is no multiple of the block
        answer = row(members)
    else:
        ok, shortfall = _target(width, stability_target, definition, statistic, min_out)
        answer = _smallest_k(row, ok, block_size, _limit(max_members, block_size), shortfall)
    s |= {"n": n, "width": width, "stability": stability_target, "minutes_per_member": minutes_per_member}
    s |= {"points": None if p_in is None else int(np.size(p_in)), "deconvolved": run_n_in is not None}
    s["simulated"] = None if pts is None else int(np.size(pts[0]))
    return {"answer": answer, "rows": _ladder(answer, row, block_size), "settings": s}


def format_plan(result: dict, source: str | None = None, timing: str | None = None) -> str:
    """The planner's answer as text: one line of settings, the answer, a table of K around it."""
    s, a = result["settings"], result["answer"]
    lines = [
        f"N = {s['n']:,} points, rate {s['rate']:g}, intervals at joint level {s['level']:g} "
        f"(Wilson, Bonferroni); {_where(s, a, source)}"
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
    lines += ["", *_table(result)]
    lines.append(
        "widths: hi - lo of the score's interval (scores span [-1, 1]); * the answer; n_out < min_out "
        f"({s['min_out']}) leaves points unscored (stability -)"
    )
    return "\n".join(lines)


def _where(s: dict, a: dict, source: str | None) -> str:
    """Where the accuracies come from, for the first line of format_plan."""
    if "worst_p" in a:
        return (
            f"worst case for {s['definition']}: every point at p_in = p_out = p, the p in "
            f"{WORST_P[0]:g}-{WORST_P[-1]:g} whose {s['statistic']} {s['definition']} interval is widest at "
            f"each K (column p; p = {a['worst_p']:g} at the answer)"
        )
    where = f"accuracies measured in {source}" if source else "accuracies given"
    if not s["deconvolved"]:
        return f"{where} ({s['points']:,} points, taken as true)"
    return (
        f"{where} ({s['points']:,} natural points; their binomial noise removed: {s['simulated']:,} points "
        "drawn from the deconvolved distribution of true accuracies)"
    )


def _table(result: dict) -> list[str]:
    """The rows around the answer as aligned text lines."""
    s, a = result["settings"], result["answer"]
    head = ["K", "n_out", "n_in", "fz width mean", "fz width median", "frac width mean", "frac width median"]
    worst, has_stab = "worst_p" in a, "stability" in a
    head = head[:3] + (["p"] if worst else []) + head[3:]
    head += ([f"{s['definition']} stability"] if has_stab else []) + ["device-hours"]
    table = [head]
    for r in result["rows"]:
        cells = [f"{r['members']}{' *' if r is a else ''}", str(r["n_out"]), str(r["n_in"])]
        cells += [f"{r['worst_p']:g}"] if worst else []
        cells += [f"{r[f'{d}_width_{m}']:.3f}" for d in INTERVAL_DEFINITIONS for m in ("mean", "median")]
        cells += [f"{r['stability']:.3f}" if r["stability"] == r["stability"] else "-"] if has_stab else []
        cells += [f"{r['hours']:.3g}" if r["hours"] is not None else "-"]
        table.append(cells)
    size = [max(len(row[i]) for row in table) for i in range(len(head))]
    return ["  ".join(c.rjust(w) for c, w in zip(row, size, strict=True)) for row in table]
