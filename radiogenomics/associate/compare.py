"""Group comparisons for clinicopathological and immune variables.

Numeric cores work on arrays; :func:`compare_groups` is the DataFrame wrapper that
produces rows in the layout of ``core.associations``.

Tests and their R equivalents (``tests/data/R/associate/`` checks them):

* continuous, 2 groups: Mann-Whitney U = ``wilcox.test(x, y)``. As in R, the exact
  null distribution is used when both groups have fewer than 50 values and there
  are no ties, otherwise the normal approximation with tie and continuity correction.
  ``statistic`` is R's W (U of the first group). Effect: Cliff's delta (= rank-biserial
  correlation), positive when the first group tends to be larger.
* continuous, 3+ groups: Kruskal-Wallis = ``kruskal.test``; effect epsilon^2 = H / (n - 1).
* continuous, optional: two-sample Kolmogorov-Smirnov = ``ks.test(x, y)`` (the study
  compared IPS this way): the exact Smirnov distribution, conditional on ties, when
  n_x * n_y < 10000 (as R's ``psmirnov``), else asymptotic; effect = D.
* categorical: chi-square = ``chisq.test`` (Yates' correction for 2x2). A table with
  any expected count < 5 gets Fisher's exact test instead (``fisher.test``): exact for
  2x2 (statistic = the sample odds ratio, whereas R prints the conditional MLE); for
  larger tables the Fisher-Freeman-Halton test with a seeded Monte Carlo p-value
  (scipy; R's network algorithm is exact, the two agree within the Monte Carlo error).
  Effect: Cramer's V from the uncorrected chi-square.

FDR: Benjamini-Hochberg over the variables of a family (``p.adjust(p, "BH")``),
separately for the KS tests, which re-test the same variables.

Three or more groups (``pairwise=True``): besides the omnibus test (Kruskal-Wallis or the
r x c chi-square / Fisher), every pair of groups gets the two-group test of the variable
(``wilcox.test`` / ``chisq.test`` / ``fisher.test`` on the pair's patients), named
``pairwise <test>: <A> vs <B>``; their FDR is Benjamini-Hochberg over all pairwise
contrasts of the family (every variable and pair), apart from the omnibus tests.  With one
variable this is R's ``pairwise.wilcox.test(x, g, p.adjust.method = "BH")``.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from ..exceptions import InputError, StatisticalWarning
from ..multitest import bh_adjust
from ..store.results import ASSOCIATIONS

log = logging.getLogger(__name__)

#: Monte Carlo tables for the r x c Fisher test (standard error of p <= 0.0035)
FISHER_RXC_RESAMPLES = 20000

#: test-name prefix of the pairwise contrasts of a 3+ group comparison
PAIRWISE_PREFIX = "pairwise "

#: columns of an ``associations`` row as the writers build it (the declared table minus run_id)
ASSOCIATION_COLUMNS = [c for c in ASSOCIATIONS.columns if c != "run_id"]


@dataclass(frozen=True)
class TestResult:
    """One test: name, statistic, p, effect size and name, note."""

    test: str
    statistic: float
    p: float
    effect_size: float
    effect_name: str
    note: str = ""


def _clean(values) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    return arr[np.isfinite(arr)]


def _has_ties(*samples: np.ndarray) -> bool:
    pooled = np.concatenate(samples)
    return len(np.unique(pooled)) < len(pooled)


def mann_whitney(x, y) -> TestResult:
    """Two-sided Mann-Whitney U test as R's ``wilcox.test(x, y)`` computes it.

    Parameters
    ----------
    x, y : array-like
        The two samples (NaN dropped).

    Returns
    -------
    TestResult
        ``statistic`` = W (U of ``x``), effect = Cliff's delta of x vs y.
    """
    x, y = _clean(x), _clean(y)
    nx, ny = len(x), len(y)
    if nx == 0 or ny == 0:
        return TestResult("mann-whitney", np.nan, np.nan, np.nan, "cliffs_delta", "a group has no values")
    exact = nx < 50 and ny < 50 and not _has_ties(x, y)
    res = stats.mannwhitneyu(x, y, alternative="two-sided", use_continuity=True,
                             method="exact" if exact else "asymptotic")
    u = float(res.statistic)
    delta = 2.0 * u / (nx * ny) - 1.0
    note = "exact" if exact else "normal approximation with continuity correction"
    return TestResult("mann-whitney", u, float(res.pvalue), delta, "cliffs_delta", note)


def kruskal_wallis(samples: Sequence) -> TestResult:
    """Kruskal-Wallis H test (R's ``kruskal.test``); effect epsilon^2 = H / (n - 1)."""
    clean = [_clean(s) for s in samples]
    if any(len(s) == 0 for s in clean):
        return TestResult("kruskal", np.nan, np.nan, np.nan, "epsilon_squared", "a group has no values")
    n = sum(len(s) for s in clean)
    pooled = np.concatenate(clean)
    if np.all(pooled == pooled[0]):
        return TestResult("kruskal", np.nan, np.nan, np.nan, "epsilon_squared", "all values are identical")
    res = stats.kruskal(*clean)
    h = float(res.statistic)
    return TestResult("kruskal", h, float(res.pvalue), h / (n - 1), "epsilon_squared")


def smirnov_exact_upper(d: float, x: np.ndarray, y: np.ndarray) -> float:
    """P(D >= d) for the two-sided two-sample KS statistic, exact and conditional on ties.

    Counts the lattice paths from (0, 0) to (m, n) (one step per pooled sorted value)
    that never reach ``|i/m - j/n| >= d`` at a position where the next pooled value
    differs (inside a run of ties the empirical CDFs are not evaluated). This is the
    distribution R's ``psmirnov(..., z = w, exact = TRUE)`` uses.
    """
    m, n = len(x), len(y)
    pooled = np.sort(np.concatenate([x, y]))
    # check[k]: the ECDFs are compared after k values (k = 1..m+n)
    check = np.ones(m + n + 1, dtype=bool)
    check[1:m + n] = pooled[1:] != pooled[:-1]
    check[0] = False
    target = round(d * m * n)  # D * m * n is an integer |i n - j m|
    if target <= 0:
        return 1.0
    # counts of surviving paths, normalised by C(i+j, i) on the fly to stay in float range
    surv = np.zeros((m + 1, n + 1))
    surv[0, 0] = 1.0
    for i in range(m + 1):
        for j in range(n + 1):
            if i == 0 and j == 0:
                continue
            # probability-weighted: a uniformly random path reaches (i, j) from (i-1, j) with
            # weight i / (i + j) and from (i, j-1) with weight j / (i + j)
            v = 0.0
            if i > 0:
                v += surv[i - 1, j] * i / (i + j)
            if j > 0:
                v += surv[i, j - 1] * j / (i + j)
            if check[i + j] and abs(i * n - j * m) >= target:
                v = 0.0
            surv[i, j] = v
    return float(min(1.0, max(0.0, 1.0 - surv[m, n])))


def ks_test(x, y) -> TestResult:
    """Two-sided two-sample Kolmogorov-Smirnov test as R's ``ks.test(x, y)`` computes it.

    Exact (conditional on ties, as R's ``psmirnov``) when ``n_x * n_y < 10000``, else the
    limiting Kolmogorov distribution of ``sqrt(n_x n_y / (n_x + n_y)) D``.
    """
    from scipy.special import kolmogorov

    x, y = _clean(x), _clean(y)
    if len(x) == 0 or len(y) == 0:
        return TestResult("ks", np.nan, np.nan, np.nan, "ks_D", "a group has no values")
    d = float(stats.ks_2samp(x, y, alternative="two-sided", method="asymp").statistic)
    m, n = len(x), len(y)
    if m * n < 10000:
        p = smirnov_exact_upper(d, x, y)
        note = "exact" + ("; conditional on ties" if _has_ties(x, y) else "")
    else:
        p = float(kolmogorov(np.sqrt(m * n / (m + n)) * d))
        note = "asymptotic"
    return TestResult("ks", d, p, d, "ks_D", note)


def contingency_test(table) -> TestResult:
    """Chi-square (Yates for 2x2) or, for a 2x2 table with an expected count < 5, Fisher's exact test.

    Parameters
    ----------
    table : array-like, shape (groups, levels)
        Counts; all-zero rows and columns are dropped first.

    Returns
    -------
    TestResult
        effect = Cramer's V (from the uncorrected chi-square).
    """
    t = np.asarray(table, dtype=float)
    t = t[t.sum(axis=1) > 0][:, t.sum(axis=0) > 0] if t.size else t
    if t.ndim != 2 or t.shape[0] < 2 or t.shape[1] < 2:
        return TestResult("chi2", np.nan, np.nan, np.nan, "cramers_v",
                          "fewer than two groups or levels with observations")
    n = t.sum()
    expected = np.outer(t.sum(axis=1), t.sum(axis=0)) / n
    chi2_raw = float(((t - expected) ** 2 / expected).sum())
    v = float(np.sqrt(chi2_raw / (n * (min(t.shape) - 1))))
    small = int((expected < 5).sum())
    if t.shape == (2, 2) and small:
        res = stats.fisher_exact(t.astype(int), alternative="two-sided")
        return TestResult("fisher", float(res.statistic), float(res.pvalue), v, "cramers_v",
                          f"{small} expected count(s) < 5; statistic is the sample odds ratio")
    if small:
        # Fisher-Freeman-Halton for r x c; a seeded Monte Carlo p keeps results reproducible
        prob, p = fisher_rxc_monte_carlo(t.astype(int))
        return TestResult("fisher", prob, p, v, "cramers_v",
                          f"{small} of {t.size} expected counts < 5; Fisher-Freeman-Halton, Monte Carlo p "
                          f"({FISHER_RXC_RESAMPLES} tables, seed 0); statistic is the observed table's probability")
    chi2, p, dof, _ = stats.chi2_contingency(t, correction=True)
    note = f"df={dof}"
    if t.shape == (2, 2):
        note += "; Yates' continuity correction"
    return TestResult("chi2", float(chi2), float(p), v, "cramers_v", note)


def fisher_rxc_monte_carlo(table: np.ndarray, n_resamples: int = FISHER_RXC_RESAMPLES,
                           seed: int = 0) -> tuple[float, float]:
    """Fisher-Freeman-Halton test of an r x c table by Monte Carlo: (observed table probability, p).

    Tables with the observed margins are drawn (``scipy.stats.random_table``); p is the share
    whose probability is at most the observed one, counted as R does ((1 + hits) / (B + 1)), with
    R's relative tolerance of 1e-7 so that
    tables tied with the observed one in exact arithmetic count as such (``fisher.test``'s
    ``relErr``). Without the tolerance, rounding drops tied tables: on sparse 2 x k tables that
    moved p by 0.06 against R's exact value.
    """
    rt = stats.random_table(table.sum(axis=1), table.sum(axis=0))
    observed = float(rt.logpmf(table))
    sims = rt.rvs(n_resamples, random_state=np.random.default_rng(seed))
    # (1 + hits) / (B + 1), as R's simulate.p.value: the observed table is one of the tables with
    # these margins, so a Monte Carlo p is never 0
    hits = int(np.sum(rt.logpmf(sims) <= observed + np.log1p(1e-7)))
    p = (1.0 + hits) / (n_resamples + 1.0)
    return float(np.exp(observed)), p


def bh_fdr(p) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (R's ``p.adjust(p, "BH")``): :func:`radiogenomics.multitest.bh_adjust`."""
    return bh_adjust(p)


def _infer_kind(values: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(values) or not pd.api.types.is_numeric_dtype(values):
        return "categorical"
    return "continuous" if values.dropna().nunique() > 2 else "categorical"


def compare_groups(
    data: pd.DataFrame,
    group_col: str,
    variables: Iterable[str],
    kind: str | Mapping[str, str] | None = None,
    *,
    groups: Sequence[str] | None = None,
    ks: bool | Iterable[str] = False,
    family: str = "clinical",
    grouping: str = "",
    pairwise: bool = False,
) -> pd.DataFrame:
    """Compare variables between groups; one row per variable and test.

    Parameters
    ----------
    data : DataFrame
        One row per patient with ``group_col`` and the variables.
    group_col : str
        Column holding the group label.
    variables : iterable of str
        Columns to test.
    kind : {"continuous", "categorical"} or mapping, optional
        Per-variable (mapping) or global kind; inferred when omitted (numeric with more
        than two distinct values = continuous, else categorical).
    groups : sequence of str, optional
        Groups to compare, in order (the first is the reference for effect signs);
        rows in other groups (e.g. ``middle``) are ignored. Default: all groups sorted.
    ks : bool or iterable of str
        Also run the KS test for all (True) or the named continuous variables.
    family : str
        Family name; the FDR is computed within it.
    grouping : str
        Written to the ``grouping`` column.
    pairwise : bool
        With three or more groups, also compare every pair of groups (module docstring).

    Returns
    -------
    DataFrame
        Columns ``ASSOCIATION_COLUMNS``; ``n_per_group`` is a dict group -> n with a value.

    Raises
    ------
    InputError
        When ``group_col`` or a variable is missing, or fewer than two groups have rows.
    """
    if group_col not in data.columns:
        raise InputError(f"compare_groups: no column {group_col!r} (columns: {list(data.columns)[:10]})")
    variables = list(variables)
    absent = [v for v in variables if v not in data.columns]
    if absent:
        raise InputError(f"compare_groups: variables {absent} are not columns of the data")
    present = data[group_col].dropna().astype(str)
    groups = [str(g) for g in groups] if groups is not None else sorted(present.unique())
    if len(groups) < 2:
        raise InputError(f"compare_groups: need at least two groups in {group_col!r}, got {groups}")
    frame = data[data[group_col].astype(str).isin(groups)]
    counts = frame[group_col].astype(str).value_counts()
    empty = [g for g in groups if counts.get(g, 0) == 0]
    if empty:
        raise InputError(f"compare_groups: groups {empty} have no rows in {group_col!r}")
    ks_vars = set(variables) if ks is True else set(ks or ())
    label = ",".join(groups)
    rows = []
    for var in variables:
        col = frame[var]
        k = kind.get(var) if isinstance(kind, Mapping) else kind
        k = k or _infer_kind(col)
        if k not in ("continuous", "categorical"):
            raise InputError(f"compare_groups: kind of {var!r} must be continuous or categorical, got {k!r}")
        per_group = {g: col[frame[group_col].astype(str) == g] for g in groups}
        n_per = {g: int(s.notna().sum()) for g, s in per_group.items()}
        results: list[TestResult] = []
        if k == "continuous":
            num = {g: pd.to_numeric(s, errors="coerce").to_numpy(float) for g, s in per_group.items()}
            if len(groups) == 2:
                results.append(mann_whitney(num[groups[0]], num[groups[1]]))
                if var in ks_vars:
                    results.append(ks_test(num[groups[0]], num[groups[1]]))
            else:
                results.append(kruskal_wallis([num[g] for g in groups]))
        else:
            sub = frame[[group_col, var]].dropna()
            table = pd.crosstab(sub[group_col].astype(str), sub[var].astype(str)).reindex(groups, fill_value=0)
            results.append(contingency_test(table.to_numpy()))
        for r in results:
            rows.append({
                "grouping": grouping, "family": family, "variable": var, "test": r.test,
                "statistic": r.statistic, "p": r.p, "fdr": np.nan, "n_per_group": n_per,
                "effect_size": r.effect_size, "effect_name": r.effect_name, "groups": label, "note": r.note,
            })
        if pairwise and len(groups) > 2:
            for i, a in enumerate(groups):
                for b in groups[i + 1:]:
                    if k == "continuous":
                        r = mann_whitney(num[a], num[b])
                    else:
                        pair = sub[sub[group_col].astype(str).isin([a, b])]
                        table = pd.crosstab(pair[group_col].astype(str), pair[var].astype(str)).reindex(
                            [a, b], fill_value=0)
                        r = contingency_test(table.to_numpy())
                    rows.append({
                        "grouping": grouping, "family": family, "variable": var,
                        "test": f"{PAIRWISE_PREFIX}{r.test}: {a} vs {b}", "statistic": r.statistic, "p": r.p,
                        "fdr": np.nan, "n_per_group": {a: n_per[a], b: n_per[b]}, "effect_size": r.effect_size,
                        "effect_name": r.effect_name, "groups": f"{a},{b}",
                        "note": "; ".join(x for x in ("pairwise contrast", r.note) if x),
                    })
    out = pd.DataFrame(rows, columns=ASSOCIATION_COLUMNS)
    if out.empty:
        return out
    is_ks = out["test"] == "ks"
    is_pair = out["test"].str.startswith(PAIRWISE_PREFIX)
    for mask in (is_ks, is_pair, ~is_ks & ~is_pair):
        if mask.any():
            out.loc[mask, "fdr"] = bh_fdr(out.loc[mask, "p"].to_numpy(float))
    few = [g for g in groups if counts.get(g, 0) < 3]
    if few:
        warnings.warn(f"compare_groups: groups {few} have fewer than 3 patients; tests have little power",
                      StatisticalWarning, stacklevel=2)
    return out
