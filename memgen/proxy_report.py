"""A proxy audit's first page (scope proxy, `memgen audit --proxy`): the set a proxy flags, said plainly to be
a proxy, with how well that proxy agreed with memgen's ensemble where memgen measured both: the user's own
proxies_validation.csv where a full run left one, else the validation memgen ships (docs/results/proxies/,
each table named by its dataset)."""

from pathlib import Path

import pandas as pd

from memgen.paths import PROXIES_VALIDATION, SHIPPED_VALIDATION, fill
from memgen.proxies.definitions import PROXIES
from memgen.report import heading, rst_image, rst_table, write_page

REPO = Path(__file__).resolve().parents[1]


def validation_sources(out: Path | None, dataset: str, arch: str, shipped: dict | None = None) -> dict:
    """{what it is: path} of the validation tables to quote: the run's own, else the shipped ones."""
    own = Path(out or ".") / fill(PROXIES_VALIDATION, dataset=dataset, arch=arch)
    if own.exists():
        return {"this folder's own full run": own}
    if shipped is None:
        shipped = {what: REPO / f for f, what in SHIPPED_VALIDATION.items()}
    return {what: Path(p) for what, p in shipped.items() if Path(p).exists()}


def _row(path: Path, proxy: str, models: str) -> pd.Series | None:
    table = pd.read_csv(path, dtype={"models": str})
    hit = table[(table["proxy"] == proxy) & (table["models"] == models)]
    return None if hit.empty else hit.iloc[0]


def agreement(proxy: str, models: str, out=None, dataset="", arch="", shipped=None) -> str:
    """One sentence: the proxy's Spearman with the ensemble's frac and its canary AUROC where measured."""
    parts = []
    for what, path in validation_sources(out, dataset, arch, shipped).items():
        r = _row(path, proxy, models)
        if r is not None:
            parts.append(
                f"{what}: Spearman {r['spearman_frac']:.2f} [{r['spearman_frac_lo']:.2f}, "
                f"{r['spearman_frac_hi']:.2f}] with the ensemble's frac, precision {r['precision_at_k']:.2f} "
                f"at the memorized set's size, canary AUROC {r['auroc_canary']:.2f}"
            )
    if not parts:
        return "memgen has not measured how well it agrees with the ensemble (run the full study: --full)"
    return "where memgen measured it against the ensemble: " + "; ".join(parts)


def _pair(dataset: str, arch: str, paths: dict, flag: dict, shipped: dict) -> list[str]:
    flagged = pd.read_csv(paths["memorized_proxy"])
    proxies = pd.read_csv(paths["proxies"])
    natural = int((~proxies["canary"].astype(bool)).sum())
    tau = flagged["tau"].iloc[0] if len(flagged) else None
    trust = agreement(flag["proxy"], flag["models"], Path("."), dataset, arch, shipped)  # run in the study
    lines = heading(f"{dataset} / {arch}: what the proxy flags", "-")
    lines += [
        f"**This is a proxy, not memgen's memorization estimate.** Proxy: ``{flag['proxy']}`` "
        f"({PROXIES[flag['proxy']][1]}), from "
        f"{'the mean over the proxy models' if flag['models'] == 'all' else 'one model'}. A natural point is "
        f"flagged when its proxy is at least as extreme as all but {flag['alpha']:g} of the canaries' "
        f"(τ = {tau if tau is None else f'{tau:.4g}'}): **{len(flagged)} of {natural} natural points** "
        f"({100 * len(flagged) / max(1, natural):.1f} %), named in ``memorized_proxy.csv``.",
        "",
        f"How far to trust it: {trust}.",
        "",
    ]
    rows = [
        [str(r["path"]) or f"#{int(r['index'])}", str(r["label_name"]), f"{r['value']:.3g}"]
        for _, r in flagged.head(10).iterrows()
    ]
    if rows:
        lines += rst_table(["file", "given label", flag["proxy"]], rows)
    if paths.get("proxy_gallery") and Path(paths["proxy_gallery"]).exists():
        lines += rst_image(paths["proxy_gallery"], alt="the images the proxy flags")
    return lines


def proxy_summary_rst(pairs: dict, flag: dict, shipped: dict) -> str:
    lines = heading("memgen proxy audit: which images a cheap proxy flags", "=")
    lines += [
        "A few models trained on every image, with each image's learning recorded, stand in for the "
        "thousands of trainings of memgen's ensemble estimate. Read the flagged set as a lead, not a "
        "measurement: the agreement below says how often such a proxy matched the ensemble.",
        "",
    ]
    for (dataset, arch), paths in sorted(pairs.items()):
        lines += _pair(dataset, arch, paths, flag, shipped)
    return "\n".join(lines).replace("{{", "{ {").replace("{%", "{ %")


def write_proxy_summary(pairs: dict, flag: dict, shipped: dict, out) -> None:
    write_page(proxy_summary_rst(pairs, flag, shipped), out)
