"""The fitted law of repetition (Muennighoff et al. 2023) and T5's log fit, from a sweep's runs.

Muennighoff et al. 2023, "Scaling Data-Constrained Language Models", eq. 5: a run that trains on
`tokens` tokens drawn from U unique tokens (R = tokens / U − 1 repetitions beyond the first pass)
is worth as much as a run on D′ fresh tokens (a run that sees less than one pass, U > tokens —
the sweep's `all` — counts U = tokens: it saw that much unique data, R = 0),

    D′ = U + U · R* · (1 − exp(−R / R*)),

so the first few repeats are worth almost as much as fresh data and the value of repeating decays
with half-life ~ R* · ln 2; they fit R*_D = 15.4 (PUBLISHED_R_STAR). The loss then follows the data
term of the Chinchilla law, L = E + B / D′^β. With a `params` column, runs of different model
sizes share B, β and R* and each size has its own E (the Chinchilla term A / N^α is a constant
per size).

The fit: `scipy.optimize.least_squares` with a robust loss (soft_l1, scale ROBUST_SCALE nats) over
(E per size, log B, β, log R*), from every start of a grid over log R* × β; at each start E and B
are first solved exactly (the law is linear in them once R* and β are fixed). D′ is measured in
units of the geometric mean of U, so B is well scaled; the reported B is in tokens. r_star_ci is
the 2.5-97.5 % interval of R* over BOOTSTRAP_SAMPLES resamplings of the runs (with replacement,
seeded; a resample with fewer than MIN_REPEAT_COUNTS distinct repeat counts is drawn again), each
refitted from the full fit's optimum; with no more runs than parameters there is no interval.

T5 (Raffel et al. 2020, section 3.4.2) reads performance as ≈ a · log(dataset size) + b; here
val_loss = a · ln(U) + b by ordinary least squares over the runs (a < 0: more unique data helps).

numpy and scipy only (scipy imported when a fit runs: `python -m cleancrawl.pretrain` on a
torch-only machine still trains and reports, without the fit).
"""
from __future__ import annotations

import csv
import math
from dataclasses import dataclass

import numpy as np

from cleancrawl.corpus.errors import UserError

PUBLISHED_R_STAR = 15.4
MIN_REPEAT_COUNTS = 4
ROBUST_SCALE = 0.05          # nats: residuals beyond this count linearly, not quadratically
BOOTSTRAP_SAMPLES = 200
SEED = 0
R_STAR_BOUNDS = (1e-2, 1e4)
BETA_BOUNDS = (1e-3, 3.0)
START_R_STARS = (1.0, 4.0, 15.0, 60.0, 250.0)
START_BETAS = (0.1, 0.3, 0.7)

CSV_ALIASES = {  # the report's results.csv spells two columns differently: accept both
    "unique_tokens": ("unique_tokens",),
    "tokens": ("tokens", "tokens_seen"),
    "val_loss": ("val_loss", "final_val_loss"),
    "params": ("params",),
}


@dataclass(frozen=True)
class Runs:
    unique_tokens: np.ndarray   # U per run
    tokens: np.ndarray          # tokens trained per run
    val_loss: np.ndarray
    group: np.ndarray           # index into `params` per run
    params: list                # distinct params values (one None when the CSV has none)

    @property
    def repeats(self) -> np.ndarray:
        return self.tokens / self.unique_tokens - 1.0

    def take(self, index: np.ndarray) -> Runs:
        return Runs(self.unique_tokens[index], self.tokens[index], self.val_loss[index], self.group[index],
                    self.params)


def make_runs(unique_tokens, tokens, val_loss, params=None) -> Runs:
    t = np.asarray(tokens, dtype=float)
    u = np.minimum(np.asarray(unique_tokens, dtype=float), t)  # a run seeing under one pass: `tokens` unique
    loss = np.asarray(val_loss, dtype=float)
    if params is None:
        keys, group = [None], np.zeros(len(u), dtype=int)
    else:
        keys = sorted(set(params))
        group = np.array([keys.index(p) for p in params], dtype=int)
    return Runs(u, t, loss, group, keys)


def read_runs_csv(path: str) -> Runs:
    """Read `unique_tokens,tokens,val_loss[,params]`; any problem is one UserError line."""
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:  # a spreadsheet's CSV starts with a BOM
            reader = csv.DictReader(f)
            header = reader.fieldnames or []
            rows = list(reader)
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise UserError(f"{path}: is a directory, not a CSV file") from None
    except (UnicodeDecodeError, csv.Error) as e:
        raise UserError(f"{path}: not a readable CSV file ({e})") from None
    columns = {}
    for name, spellings in CSV_ALIASES.items():
        found = [s for s in spellings if s in header]
        if found:
            columns[name] = found[0]
        elif name != "params":
            raise UserError(f"{path}: no column {name!r} (need unique_tokens,tokens,val_loss[,params]; "
                            f"found {','.join(header) or 'no header'})")
    values: dict[str, list] = {name: [] for name in columns}
    for line, row in enumerate(rows, start=2):
        for name, column in columns.items():
            cell = (row.get(column) or "").strip()
            try:
                value = float(cell)
            except ValueError:
                raise UserError(f"{path}: line {line}: {column} = {cell!r} is not a number") from None
            if not math.isfinite(value) or (name != "val_loss" and value <= 0):
                raise UserError(f"{path}: line {line}: {column} = {cell!r} must be a positive finite number")
            values[name].append(value)
    if not rows:
        raise UserError(f"{path}: holds no runs")
    maskings = sorted({(row.get("masking") or "").strip() for row in rows} - {""})
    if len(maskings) > 1:  # a `--masking static,dynamic` sweep: one law per masking, not one over both
        raise UserError(f"{path}: mixes maskings ({', '.join(maskings)}); fit the rows of one at a time "
                        f"(the sweep's fit.json has a fit for each)")
    return make_runs(values["unique_tokens"], values["tokens"], values["val_loss"], values.get("params"))


def effective_data(unique_tokens, repeats, r_star):
    """D′ = U + U · R* · (1 − exp(−R / R*))."""
    return unique_tokens + unique_tokens * r_star * (-np.expm1(-repeats / r_star))


def predict(fit: dict, unique_tokens, tokens, params=None):
    """The fitted law's loss for runs of `tokens` tokens over `unique_tokens` unique ones."""
    t = np.asarray(tokens, dtype=float)
    u = np.minimum(np.asarray(unique_tokens, dtype=float), t)
    d = effective_data(u, t / u - 1.0, fit["r_star"])
    e = fit["E"] if not isinstance(fit["E"], dict) else fit["E"][str(params)]
    return e + fit["B"] / d ** fit["beta"]


def count_repeats(runs: Runs) -> int:
    return len({round(float(r), 6) for r in runs.repeats})


def _solve(runs: Runs, scale: float, starts: list[tuple[float, float]], max_nfev: int = 2000):
    """Best least_squares result over the starts: parameters (E_1..E_g, log B, β, log R*)."""
    try:
        from scipy.optimize import least_squares
    except ImportError:
        raise UserError("the fit needs scipy (pip install scipy)") from None

    groups = len(runs.params)
    u = runs.unique_tokens / scale
    repeats = runs.repeats
    onehot = np.eye(groups)[runs.group]

    def model(p):
        e, log_b, beta, log_r = p[:groups], p[groups], p[groups + 1], p[groups + 2]
        d = effective_data(u, repeats, math.exp(log_r))
        return onehot @ e + np.exp(log_b - beta * np.log(d))

    def residuals(p):
        return model(p) - runs.val_loss

    lower = [-np.inf] * groups + [-50.0, BETA_BOUNDS[0], math.log(R_STAR_BOUNDS[0])]
    upper = [np.inf] * groups + [50.0, BETA_BOUNDS[1], math.log(R_STAR_BOUNDS[1])]
    best = None
    for r_star, beta in starts:
        x = effective_data(u, repeats, r_star) ** -beta  # E and B by linear least squares at this (R*, β)
        design = np.column_stack([onehot, x])
        coef = np.linalg.lstsq(design, runs.val_loss, rcond=None)[0]
        b = coef[-1] if coef[-1] > 1e-12 else 1e-3
        p0 = np.concatenate([coef[:groups], [math.log(b), beta, math.log(r_star)]])
        p0 = np.clip(p0, np.array(lower) + 1e-9, np.array(upper) - 1e-9)
        try:
            result = least_squares(residuals, p0, bounds=(lower, upper), loss="soft_l1", f_scale=ROBUST_SCALE,
                                   x_scale="jac", max_nfev=max_nfev)
        except (ValueError, FloatingPointError):
            continue
        if np.all(np.isfinite(result.x)) and (best is None or result.cost < best.cost):
            best = result
    if best is None:
        raise UserError("the fit failed from every starting point (losses not finite?)")
    return best.x, model(best.x)


def fit_repetition_law(runs: Runs, *, bootstrap: int = BOOTSTRAP_SAMPLES, seed: int = SEED) -> dict:
    """Fit L = E + B / D′^β; return r_star, r_star_ci, E, B, beta, r2, t5 log fit and counts."""
    if count_repeats(runs) < MIN_REPEAT_COUNTS:
        raise UserError(f"the fit needs runs at {MIN_REPEAT_COUNTS} or more distinct repeat counts; "
                        f"these {len(runs.val_loss)} runs have {count_repeats(runs)}")
    if not np.all(np.isfinite(runs.val_loss)):
        raise UserError("a val_loss is not finite")
    scale = float(np.exp(np.mean(np.log(runs.unique_tokens))))
    groups = len(runs.params)
    starts = [(r, b) for r in START_R_STARS for b in START_BETAS]
    p, predicted = _solve(runs, scale, starts)
    residual = float(np.sum((runs.val_loss - predicted) ** 2))
    total = float(np.sum((runs.val_loss - runs.val_loss.mean()) ** 2))
    r_star, beta = math.exp(p[groups + 2]), float(p[groups + 1])

    samples = []
    rng = np.random.default_rng(seed)
    n = len(runs.val_loss)
    if n <= groups + 3:  # as many parameters as runs: the fit interpolates, every resample is the same set
        bootstrap = 0
    boot_starts = [(r_star, beta)]  # each resample starts from the full fit's optimum (fast; local)
    for _ in range(bootstrap):
        for _attempt in range(20):
            index = rng.integers(0, n, size=n)
            sample = runs.take(index)
            if count_repeats(sample) >= MIN_REPEAT_COUNTS and len(set(sample.group)) == groups:
                break
        else:
            continue
        try:
            q, _ = _solve(sample, scale, boot_starts, max_nfev=200)
        except UserError:
            continue
        samples.append(math.exp(q[groups + 2]))
    ci = [float(np.percentile(samples, 2.5)), float(np.percentile(samples, 97.5))] if samples else None
    ci_note = None if samples else (
        f"no interval: {n} runs for {groups + 3} parameters" if n <= groups + 3 else "no interval: bootstrap off")

    es = [float(v) for v in p[:groups]]
    return {
        "law": "L = E + B / D'^beta, D' = U + U*R*(1 - exp(-R/R*)), R = tokens/U - 1 (Muennighoff et al. 2023)",
        "r_star": r_star,
        "r_star_ci": ci,
        "r_star_ci_level": 0.95,
        **({"r_star_ci_note": ci_note} if ci_note else {}),
        "bootstrap_samples": len(samples),
        "published_r_star": PUBLISHED_R_STAR,
        "E": es[0] if runs.params == [None] else {str(k): e for k, e in zip(runs.params, es)},
        "B": float(math.exp(p[groups]) * scale ** beta),
        "beta": beta,
        "r2": 1.0 - residual / total if total > 0 else float("nan"),
        "runs": n,
        "repeat_counts": count_repeats(runs),
        "t5_log_fit": t5_log_fit(runs),
    }


def t5_log_fit(runs: Runs) -> dict:
    """val_loss ≈ a · ln(U) + b (T5's 'performance ≈ a·log(dataset size) + b'), per params value."""
    fits = {}
    for g, key in enumerate(runs.params):
        mine = runs.group == g
        if len({float(u) for u in runs.unique_tokens[mine]}) < 2:
            continue
        a, b = np.polyfit(np.log(runs.unique_tokens[mine]), runs.val_loss[mine], 1)
        fits[str(key)] = {"a": float(a), "b": float(b), "log": "natural"}
    if runs.params == [None]:
        return fits.get("None", {})
    return fits


def describe(fit: dict) -> str:
    """One line: the fitted R*, its interval and the published value."""
    ci = fit.get("r_star_ci")
    interval = (f" (95% bootstrap interval {ci[0]:.3g}-{ci[1]:.3g})" if ci
                else f" ({fit['r_star_ci_note']})" if fit.get("r_star_ci_note") else "")
    t5 = fit.get("t5_log_fit") or {}
    t5_text = (f"; T5 log fit: val_loss ≈ {t5['a']:+.4f}·ln(U) + {t5['b']:.4f}" if "a" in t5 else "")
    return (f"fitted R* = {fit['r_star']:.3g}{interval} vs published {fit['published_r_star']} "
            f"(Muennighoff et al. 2023); beta = {fit['beta']:.3g}, R² = {fit['r2']:.3f}, "
            f"{fit['runs']} runs{t5_text}")
