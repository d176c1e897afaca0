"""Classical survival statistics on arrays: Kaplan-Meier, log-rank, Cox PH, Harrell's C.

Each function mirrors the R ``survival`` package default so results can be checked
against reference CSVs: ``survfit`` (log-type Greenwood CIs), ``survdiff`` (rho = 0),
``coxph`` (Efron ties by default, Breslow optional; Wald CIs) and ``concordance``
(Harrell's C, tied risks count one half).
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from ..exceptions import ConvergenceWarning, FewEventsWarning, InputError, StatisticalWarning

log = logging.getLogger(__name__)

_Z975 = stats.norm.ppf(0.975)


def _as_survival(time, event) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(time, dtype=float).ravel()
    e = np.asarray(event).ravel()
    if t.shape != e.shape:
        raise InputError(f"time ({t.size} values) and event ({e.size} values) differ in length")
    if e.dtype == bool:
        e = e.astype(int)
    e = np.asarray(e, dtype=float)
    bad = ~np.isin(e[~np.isnan(e)], (0.0, 1.0))
    if bad.any():
        raise InputError("event must be 0/1 (or boolean); got other values")
    if np.any(t[~np.isnan(t)] < 0):
        raise InputError("survival times must be >= 0; found a negative time")
    return t, e


# --------------------------------------------------------------------------- Kaplan-Meier


def kaplan_meier(time, event, conf_level: float = 0.95) -> pd.DataFrame:
    """Kaplan-Meier estimate with Greenwood log-type confidence limits (R ``survfit`` default).

    Parameters
    ----------
    time, event
        Follow-up times and event indicators (1 = event).
    conf_level
        Confidence level of the pointwise limits.

    Returns
    -------
    DataFrame
        One row per distinct time: ``time, n_risk, n_event, n_censor, survival,
        std_err`` (of log survival, as R reports ``std.err``), ``lower, upper``.
    """
    t, e = _as_survival(time, event)
    keep = ~(np.isnan(t) | np.isnan(e))
    t, e = t[keep], e[keep]
    if t.size == 0:
        raise InputError("Kaplan-Meier needs at least one observation")
    z = stats.norm.ppf(0.5 + conf_level / 2)
    times = np.unique(t)
    n_event = np.array([e[t == u].sum() for u in times])
    n_total = np.array([(t == u).sum() for u in times])
    n_risk = np.array([(t >= u).sum() for u in times], dtype=float)
    surv = np.cumprod(1.0 - n_event / n_risk)
    with np.errstate(divide="ignore", invalid="ignore"):
        term = np.where(n_event > 0, n_event / (n_risk * (n_risk - n_event)), 0.0)
    var_log = np.cumsum(term)
    se = np.sqrt(var_log)
    with np.errstate(divide="ignore", invalid="ignore"):
        lower = np.where(surv > 0, np.exp(np.log(surv) - z * se), np.nan)
        upper = np.where(surv > 0, np.minimum(1.0, np.exp(np.log(surv) + z * se)), np.nan)
    return pd.DataFrame({"time": times, "n_risk": n_risk.astype(int), "n_event": n_event.astype(int),
                         "n_censor": (n_total - n_event).astype(int), "survival": surv,
                         "std_err": se, "lower": lower, "upper": upper})


def km_at(curve: pd.DataFrame, times: Sequence[float]) -> pd.DataFrame:
    """Read a Kaplan-Meier curve (from :func:`kaplan_meier`) at given times (step function)."""
    rows = []
    for tt in times:
        before = curve[curve["time"] <= tt]
        if before.empty:
            rows.append({"time": tt, "survival": 1.0, "lower": 1.0, "upper": 1.0, "n_risk": np.nan})
        elif tt > curve["time"].max():
            # beyond the last observation the curve is undefined (R returns NA)
            rows.append({"time": tt, "survival": np.nan, "lower": np.nan, "upper": np.nan, "n_risk": 0})
        else:
            last = before.iloc[-1]
            at_risk = int((curve["time"] >= tt).any() and curve.loc[curve["time"] >= tt, "n_risk"].iloc[0])
            rows.append({"time": tt, "survival": last["survival"], "lower": last["lower"],
                         "upper": last["upper"], "n_risk": at_risk})
    return pd.DataFrame(rows)


def median_survival(curve: pd.DataFrame) -> float:
    """Median survival time of a Kaplan-Meier curve (first time with S <= 0.5; NaN if never)."""
    hit = curve[curve["survival"] <= 0.5]
    return float(hit["time"].iloc[0]) if len(hit) else float("nan")


# --------------------------------------------------------------------------- log-rank


@dataclass
class LogrankResult:
    """Result of :func:`logrank_test` (R ``survdiff``)."""

    statistic: float
    pvalue: float
    df: int
    groups: list
    n: np.ndarray
    observed: np.ndarray
    expected: np.ndarray


def logrank_test(time, event, group) -> LogrankResult:
    """K-sample log-rank test, as R ``survdiff(Surv(time, event) ~ group)``.

    Parameters
    ----------
    time, event
        Follow-up times and event indicators (1 = event).
    group
        Group label per observation (any hashable values; NaN rows are dropped).

    Returns
    -------
    LogrankResult
        ``statistic`` (chi-square on ``df = k - 1``), ``pvalue``, and the observed and
        expected event counts per group (groups in sorted order).

    Warns
    -----
    FewEventsWarning
        When there are no events at all or a group has none.
    """
    t, e = _as_survival(time, event)
    g = pd.Series(np.asarray(group, dtype=object).ravel())
    if g.size != t.size:
        raise InputError(f"group ({g.size} values) and time ({t.size} values) differ in length")
    keep = ~(np.isnan(t) | np.isnan(e) | g.isna().to_numpy())
    t, e, g = t[keep], e[keep], g[keep].to_numpy()
    levels = sorted(pd.unique(g), key=lambda v: (str(type(v)), v))
    k = len(levels)
    codes = pd.Categorical(g, categories=levels).codes.astype(np.intp)
    n = np.bincount(codes, minlength=k)
    if k < 2:
        warnings.warn("log-rank test needs at least two groups; returning NaN", StatisticalWarning, stacklevel=2)
        return LogrankResult(float("nan"), float("nan"), 0, levels, n, np.zeros(k), np.zeros(k))
    dead = e == 1
    event_times = np.unique(t[dead])
    # at risk at u: time >= u, per group, from each group's sorted times (no loop over event times)
    nj = np.empty((event_times.size, k))
    for j in range(k):
        tj = np.sort(t[codes == j])
        nj[:, j] = tj.size - np.searchsorted(tj, event_times, side="left")
    dj = np.zeros((event_times.size, k))
    np.add.at(dj, (np.searchsorted(event_times, t[dead]), codes[dead]), 1.0)
    N, D = nj.sum(axis=1), dj.sum(axis=1)
    obs = dj.sum(axis=0)
    exp = (D / N) @ nj
    with np.errstate(divide="ignore", invalid="ignore"):
        f = np.where(N > 1, D * (N - D) / (N * N * (N - 1)), 0.0)
    var = np.diag((f * N) @ nj) - (nj * f[:, None]).T @ nj
    if event_times.size == 0:
        warnings.warn("no events: the log-rank test is undefined", FewEventsWarning, stacklevel=2)
        return LogrankResult(float("nan"), float("nan"), k - 1, levels, n, obs, exp)
    if np.any(obs == 0):
        empty = [str(levels[i]) for i in np.flatnonzero(obs == 0)]
        warnings.warn(f"no events in group(s) {', '.join(empty)}", FewEventsWarning, stacklevel=2)
    diff = (obs - exp)[:-1]
    v = var[:-1, :-1]
    try:
        stat = float(diff @ np.linalg.solve(v, diff))
    except np.linalg.LinAlgError:
        stat = float(diff @ np.linalg.pinv(v) @ diff)
    p = float(stats.chi2.sf(stat, k - 1))
    return LogrankResult(stat, p, k - 1, list(levels), n, obs, exp)


# --------------------------------------------------------------------------- Harrell's C


def _tied_events(ts: np.ndarray, es: np.ndarray, ev: np.ndarray) -> np.ndarray:
    """For each event position in time-sorted data (events before censorings at a tie): how many
    events share its time (tied event times are not comparable, so they are skipped)."""
    ev_times = ts[ev]
    return np.searchsorted(ev_times, ev_times, side="right") - np.searchsorted(ev_times, ev_times, side="left")


def _count_in_suffix(values: np.ndarray, start: np.ndarray, query: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each query q: how many ``values[j]``, j >= start[q], are < query[q] and == query[q].

    Blocks of width B: the whole blocks of each suffix are answered by binary search in the
    sorted values from the block's first position on, the < B leftover positions by direct
    comparison -- O(n sqrt(n)) work without a Python loop over observations.
    """
    n = values.size
    width = max(32, int(2 * np.sqrt(n)))
    block = -(-start // width)  # first whole block of each suffix
    less = np.zeros(start.size, dtype=np.int64)
    equal = np.zeros(start.size, dtype=np.int64)
    for k in np.unique(block):
        if k * width >= n:
            continue
        sel = block == k
        tail = np.sort(values[k * width:])
        lo = np.searchsorted(tail, query[sel], side="left")
        less[sel] += lo
        equal[sel] += np.searchsorted(tail, query[sel], side="right") - lo
    partial = np.minimum(block * width, n) - start
    offsets = np.arange(width)
    for lo in range(0, start.size, 4096):
        s, q = start[lo:lo + 4096, None], query[lo:lo + 4096, None]
        valid = offsets[None, :] < partial[lo:lo + 4096, None]
        v = values[np.minimum(s + offsets[None, :], n - 1)]
        less[lo:lo + 4096] += np.count_nonzero((v < q) & valid, axis=1)
        equal[lo:lo + 4096] += np.count_nonzero((v == q) & valid, axis=1)
    return less, equal


def concordance_index(time, event, risk) -> float:
    """Harrell's concordance index (higher ``risk`` = shorter survival).

    A pair is comparable when the shorter time is an event (a censored time tied
    with an event time counts as longer); tied risks count 1/2, pairs of tied event
    times are not comparable -- as R ``concordance(..., reverse = TRUE)`` and
    ``sksurv.metrics.concordance_index_censored``.

    Returns
    -------
    float
        The C-index; NaN (with a FewEventsWarning) when no pair is comparable.
    """
    t, e = _as_survival(time, event)
    r = np.asarray(risk, dtype=float).ravel()
    if r.size != t.size:
        raise InputError(f"risk ({r.size} values) and time ({t.size} values) differ in length")
    keep = ~(np.isnan(t) | np.isnan(e) | np.isnan(r))
    t, e, r = t[keep], e[keep], r[keep]
    concordant = 0.0
    comparable = 0
    # events in time order; the pairs of event i are the later times (and censored ties):
    # with observations sorted by (time, event first), they are a suffix of the sorted order
    order = np.lexsort((-e, t))
    ts, es, rs = t[order], e[order], r[order]
    ev = np.flatnonzero(es == 1)
    # first position after event i's block of tied event times = start of its comparable suffix
    start = np.searchsorted(ts, ts[ev], side="left") + _tied_events(ts, es, ev)
    comparable = int(np.sum(ts.size - start))
    less, equal = _count_in_suffix(rs, start, rs[ev])
    concordant = float(less.sum() + 0.5 * equal.sum())
    if comparable == 0:
        warnings.warn("no comparable pairs: concordance is undefined", FewEventsWarning, stacklevel=2)
        return float("nan")
    return concordant / comparable


# --------------------------------------------------------------------------- Cox PH


def _design(df: pd.DataFrame, covariates: Sequence[str]) -> tuple[np.ndarray, list[str], dict]:
    """Numeric columns as they are; others treatment-coded against the first sorted level (R)."""
    blocks, names, levels = [], [], {}
    for cov in covariates:
        col = df[cov]
        if pd.api.types.is_bool_dtype(col):
            col = col.astype(int)
        if pd.api.types.is_numeric_dtype(col):
            blocks.append(col.to_numpy(dtype=float)[:, None])
            names.append(cov)
        else:
            if isinstance(col.dtype, pd.CategoricalDtype):
                lv = [c for c in col.cat.categories if (col == c).any()]
            else:
                lv = sorted(col.dropna().astype(str).unique())
            col = col.astype(str)
            levels[cov] = lv
            for level in lv[1:]:
                blocks.append((col == level).to_numpy(dtype=float)[:, None])
                names.append(f"{cov}{level}")
    if not blocks:
        return np.zeros((len(df), 0)), [], levels
    return np.hstack(blocks), names, levels


def _cox_terms(X, t, e, beta, ties):
    """Log partial likelihood, score and information at ``beta`` (Efron or Breslow ties).

    Vectorised over deaths: the k-th of d deaths tied at time u sees the risk-set sums
    minus k/d of the tied deaths' sums (Efron); Breslow uses the full risk set.  The
    information's sum over deaths of (risk-set second moments) / phi is folded into one
    weighted cross-product: observation j belongs to the risk sets of all death times <= t_j.
    """
    eta = X @ beta
    # shifting eta keeps exp() finite; the likelihood is invariant to it
    shift = eta.max()
    order = np.argsort(t, kind="mergesort")
    ts, es, Xs, etas = t[order], e[order], X[order], eta[order]
    ws = np.exp(etas - shift)
    # suffix sums give risk-set totals: the risk set at u is {time >= u}
    s0 = np.cumsum(ws[::-1])[::-1]
    s1 = np.cumsum((ws[:, None] * Xs)[::-1], axis=0)[::-1]
    dmask = es == 1
    dt, xd, wd = ts[dmask], Xs[dmask], ws[dmask]
    uniq, first, counts = np.unique(dt, return_index=True, return_counts=True)
    grp = np.repeat(np.arange(uniq.size), counts)
    starts = np.searchsorted(ts, uniq, side="left")
    R0, R1 = s0[starts][grp], s1[starts][grp]
    if ties == "efron":
        # deaths are in time order, so the tied deaths of one time are contiguous
        frac = (np.arange(dt.size) - first[grp]) / counts[grp]
        D0 = np.add.reduceat(wd, first)[grp]
        D1 = np.add.reduceat(wd[:, None] * xd, first, axis=0)[grp]
        phi = R0 - frac * D0
        a1 = R1 - frac[:, None] * D1
    else:
        frac = None
        phi, a1 = R0, R1
    loglik = float(etas[dmask].sum() - (np.log(phi) + shift).sum())
    mean = a1 / phi[:, None]
    score = xd.sum(axis=0) - mean.sum(axis=0)
    c = np.bincount(grp, weights=1.0 / phi, minlength=uniq.size)
    at = np.searchsorted(starts, np.arange(ts.size), side="right") - 1
    weight = ws * np.where(at >= 0, np.cumsum(c)[np.clip(at, 0, None)], 0.0)
    second = (Xs * weight[:, None]).T @ Xs
    if frac is not None:
        g = np.bincount(grp, weights=frac / phi, minlength=uniq.size)
        second -= (xd * (wd * g[grp])[:, None]).T @ xd
    info = second - mean.T @ mean
    return loglik, score, info


@dataclass
class CoxResult:
    """A fitted Cox proportional-hazards model (see :func:`cox`)."""

    table: pd.DataFrame
    terms: list[str]
    covariates: list[str]
    levels: dict
    coef: np.ndarray
    var: np.ndarray
    loglik: float
    loglik_null: float
    n: int
    n_events: int
    ties: str
    converged: bool
    iterations: int
    concordance: float
    baseline: pd.DataFrame = field(repr=False)

    @property
    def lr_statistic(self) -> float:
        """Likelihood-ratio chi-square against the null model."""
        return 2.0 * (self.loglik - self.loglik_null)

    @property
    def lr_pvalue(self) -> float:
        return float(stats.chi2.sf(self.lr_statistic, len(self.terms))) if self.terms else float("nan")

    @property
    def aic(self) -> float:
        return -2.0 * self.loglik + 2 * len(self.terms)

    def design(self, df: pd.DataFrame) -> np.ndarray:
        """The design matrix of new data with the fitted coding (unseen levels -> error)."""
        cols = []
        for cov in self.covariates:
            if cov not in df.columns:
                raise InputError(f"covariate {cov!r} is missing from the data")
            if cov in self.levels:
                values = df[cov].astype(str)
                unknown = set(values.dropna()) - set(self.levels[cov]) - {"nan", "None"}
                if unknown:
                    raise InputError(f"covariate {cov!r} has level(s) {sorted(unknown)} unseen when the "
                                     f"model was fitted (known: {self.levels[cov]})")
                for level in self.levels[cov][1:]:
                    cols.append((values == level).to_numpy(dtype=float))
            else:
                col = df[cov]
                cols.append((col.astype(int) if pd.api.types.is_bool_dtype(col) else col).to_numpy(dtype=float))
        return np.column_stack(cols) if cols else np.zeros((len(df), 0))

    def linear_predictor(self, df: pd.DataFrame) -> np.ndarray:
        """Uncentred linear predictor ``X @ coef``."""
        return self.design(df) @ self.coef

    def predict_survival(self, df: pd.DataFrame, times: Sequence[float]) -> np.ndarray:
        """Survival probabilities S(t | x) = exp(-H0(t) exp(lp)), shape (n, len(times))."""
        lp = self.linear_predictor(df)
        h0 = self.cumulative_baseline_hazard(times)
        return np.exp(-np.outer(np.exp(lp), h0))

    def cumulative_baseline_hazard(self, times: Sequence[float]) -> np.ndarray:
        """Cumulative baseline hazard at ``times`` (for x = 0; Breslow, or Efron with Efron ties)."""
        b = self.baseline
        idx = np.searchsorted(b["time"].to_numpy(), np.asarray(times, dtype=float), side="right") - 1
        ch = b["cumhaz"].to_numpy()
        return np.where(idx >= 0, ch[np.clip(idx, 0, None)], 0.0)


def cox(df: pd.DataFrame, duration: str, event: str, covariates: Sequence[str], *,
        ties: str = "efron", conf_level: float = 0.95, max_iter: int = 20, eps: float = 1e-9) -> CoxResult:
    """Cox proportional-hazards regression, as R ``coxph`` (Newton-Raphson, Efron ties default).

    Parameters
    ----------
    df
        Data with the duration, event and covariate columns; rows with a missing value in
        any of them are dropped (R ``na.omit``).
    duration, event
        Column names of follow-up time and event indicator (1 = event).
    covariates
        Column names.  Numeric (and boolean) columns enter linearly; text or categorical
        columns are treatment-coded against their first level (sorted, like R factors),
        terms named ``<column><level>`` as R names them.
    ties
        ``"efron"`` (R default) or ``"breslow"``.
    conf_level
        Level of the Wald confidence interval of the hazard ratio.

    Returns
    -------
    CoxResult
        ``table`` indexed by term with ``coef, se, HR, HR_lower, HR_upper, z, p``;
        log-likelihoods, likelihood-ratio test, C-index and baseline hazard (Breslow; Efron-type with Efron ties, as R survfit).

    Warns
    -----
    FewEventsWarning
        Fewer than 10 events per coefficient, or no events (NaN results).
    ConvergenceWarning
        No convergence, or a coefficient that diverges (separation: "may be infinite").
    """
    if ties not in ("efron", "breslow"):
        raise InputError(f"ties must be 'efron' or 'breslow', not {ties!r}")
    missing = [c for c in [duration, event, *covariates] if c not in df.columns]
    if missing:
        raise InputError(f"column(s) {missing} not in the data (columns: {list(df.columns)})")
    data = df[[duration, event, *covariates]].dropna()
    dropped = len(df) - len(data)
    if dropped:
        log.info("cox: %d row(s) with missing values dropped", dropped)
    t, e = _as_survival(data[duration], data[event])
    X, names, levels = _design(data, list(covariates))
    n, p = X.shape
    n_events = int(e.sum())
    z = stats.norm.ppf(0.5 + conf_level / 2)
    if n_events == 0 or p == 0:
        if n_events == 0:
            warnings.warn("no events: the Cox model cannot be estimated", FewEventsWarning, stacklevel=2)
        table = pd.DataFrame({"coef": np.nan, "se": np.nan, "HR": np.nan, "HR_lower": np.nan,
                              "HR_upper": np.nan, "z": np.nan, "p": np.nan}, index=pd.Index(names, name="term"))
        base = pd.DataFrame({"time": [0.0], "cumhaz": [0.0]})
        return CoxResult(table, names, list(covariates), levels, np.full(p, np.nan), np.full((p, p), np.nan),
                         float("nan"), float("nan"), n, n_events, ties, False, 0, float("nan"), base)
    if n_events < 10 * p:
        warnings.warn(f"only {n_events} events for {p} coefficient(s) (fewer than 10 per coefficient): "
                      "estimates are unstable", FewEventsWarning, stacklevel=2)
    const = X.std(axis=0) == 0
    if const.any():
        warnings.warn(f"term(s) {[names[i] for i in np.flatnonzero(const)]} are constant; their coefficient "
                      "is not estimable", StatisticalWarning, stacklevel=2)
    beta = np.zeros(p)
    loglik0, score, info = _cox_terms(X, t, e, beta, ties)
    loglik = loglik0
    converged = False
    it = 0
    for it in range(1, max_iter + 1):
        try:
            step = np.linalg.solve(info, score)
        except np.linalg.LinAlgError:
            step = np.linalg.pinv(info) @ score
        new = beta + step
        new_ll, new_score, new_info = _cox_terms(X, t, e, new, ties)
        halvings = 0
        # step halving, as coxph does, when the likelihood gets worse
        while (not np.isfinite(new_ll) or new_ll < loglik) and halvings < 30:
            step /= 2
            new = beta + step
            new_ll, new_score, new_info = _cox_terms(X, t, e, new, ties)
            halvings += 1
        done = abs(1 - loglik / new_ll) <= eps if new_ll != 0 else True
        beta, loglik, score, info = new, new_ll, new_score, new_info
        if done:
            converged = True
            break
    try:
        var = np.linalg.inv(info)
    except np.linalg.LinAlgError:
        var = np.linalg.pinv(info)
    se = np.sqrt(np.clip(np.diag(var), 0, None))
    if not converged:
        warnings.warn(f"Cox fit did not converge in {max_iter} iterations", ConvergenceWarning, stacklevel=2)
    diverging = (np.abs(beta) > 10) & (se > 10 * np.abs(beta).clip(1))
    diverging |= np.abs(beta) > 20
    if diverging.any():
        warnings.warn(f"coefficient(s) of {[names[i] for i in np.flatnonzero(diverging)]} may be infinite "
                      "(separation: e.g. no events in a group)", ConvergenceWarning, stacklevel=2)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        zval = beta / se
        table = pd.DataFrame({"coef": beta, "se": se, "HR": np.exp(beta),
                              "HR_lower": np.exp(beta - z * se), "HR_upper": np.exp(beta + z * se),
                              "z": zval, "p": 2 * stats.norm.sf(np.abs(zval))},
                             index=pd.Index(names, name="term"))
    lp = X @ beta
    # baseline hazard at x = 0 (uncentred) for predicted survival, as R survfit.coxph: the Breslow
    # estimator, or with Efron ties the Efron one (the k-th of d tied deaths sees R0 - k/d D0)
    order = np.argsort(t, kind="mergesort")
    ts = t[order]
    risk = np.exp(lp - lp.max())
    at_risk = np.cumsum(risk[order][::-1])[::-1]
    ev_times, n_dead = np.unique(t[e == 1], return_counts=True)
    r0 = at_risk[np.searchsorted(ts, ev_times, side="left")]
    if ties == "efron":
        d0 = np.bincount(np.searchsorted(ev_times, t[e == 1]), weights=risk[e == 1], minlength=ev_times.size)
        # the k-th (k = 0..d-1) of d tied deaths: 1 / (R0 - k/d D0), summed per time
        which = np.repeat(np.arange(ev_times.size), n_dead)
        k = np.arange(which.size) - np.repeat(np.cumsum(n_dead) - n_dead, n_dead)
        hz = np.bincount(which, weights=1.0 / (r0[which] - k / n_dead[which] * d0[which]), minlength=ev_times.size)
    else:
        hz = n_dead / r0
    hz = hz * np.exp(-lp.max())
    base = pd.DataFrame({"time": ev_times, "cumhaz": np.cumsum(hz)})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FewEventsWarning)
        cidx = concordance_index(t, e, lp)
    return CoxResult(table, names, list(covariates), levels, beta, var, float(loglik), float(loglik0),
                     n, n_events, ties, converged, it, cidx, base)


def hazard_ratio(time, event, group, reference=None) -> pd.DataFrame:
    """Hazard ratio (Cox, Efron ties) of each group against ``reference`` with 95% CI.

    Parameters
    ----------
    group
        Group labels; ``reference`` defaults to the first sorted level (e.g. ``"low"``
        before ``"high"`` is not alphabetical, so pass ``reference="low"`` explicitly).

    Returns
    -------
    DataFrame
        ``term, coef, se, HR, HR_lower, HR_upper, z, p`` for each non-reference group.
    """
    g = pd.Series(np.asarray(group, dtype=object).ravel()).astype("string")
    levels = sorted(g.dropna().unique())
    if reference is not None:
        if str(reference) not in levels:
            raise InputError(f"reference group {reference!r} not among groups {levels}")
        levels = [str(reference)] + [lv for lv in levels if lv != str(reference)]
    frame = pd.DataFrame({"time": np.asarray(time, dtype=float), "event": np.asarray(event, dtype=float),
                          "group": pd.Categorical(g, categories=levels)})
    res = cox(frame, "time", "event", ["group"])
    out = res.table.reset_index()
    out["term"] = out["term"].str.replace("^group", "", regex=True)
    return out
