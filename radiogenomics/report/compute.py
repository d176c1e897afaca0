"""Small derived quantities the report draws (KM curves, numbers at risk, running ES).

Statistics the report *shows* are read from stored results; these only draw.

Pure functions on arrays / tidy DataFrames; nothing here reads the store.
"""

from __future__ import annotations

import logging
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from ..exceptions import InputError, RGError

log = logging.getLogger(__name__)

GROUP_ORDER = ("high", "middle", "normal", "low")


def order_groups(groups: Iterable[str]) -> list[str]:
    """Groups in the conventional order (high, middle/normal, low), others after, sorted."""
    present = list(dict.fromkeys(str(g) for g in groups))
    known = [g for g in GROUP_ORDER if g in present]
    return known + sorted(g for g in present if g not in known)


def km_curves(time: Sequence[float], event: Sequence[int], group: Sequence[str]) -> pd.DataFrame:
    """Kaplan-Meier estimates per group from :func:`radiogenomics.models.survival.kaplan_meier`.

    The package's one Kaplan-Meier (checked against R ``survfit``: Greenwood variance,
    log-type 95% limits), so the drawn intervals equal the ``km`` rows ``rg survival``
    stores at the same time points.

    Parameters
    ----------
    time, event, group
        Follow-up time, event flag (1 = event) and group label per patient; rows with a
        missing time or event are dropped.

    Returns
    -------
    pandas.DataFrame
        Columns ``group, time, surv, lower, upper`` including a starting row at time 0.

    Raises
    ------
    InputError
        No patient with a usable time and event.
    """
    from ..models.survival import kaplan_meier

    frame = pd.DataFrame({"time": pd.to_numeric(pd.Series(time), errors="coerce").to_numpy(),
                          "event": pd.to_numeric(pd.Series(event), errors="coerce").to_numpy(),
                          "group": pd.Series(group).astype(str).to_numpy()}).dropna()
    if frame.empty:
        raise InputError("no patient has both a follow-up time and an event flag")
    parts = []
    for grp in order_groups(frame["group"]):
        sub = frame[frame["group"] == grp]
        curve = kaplan_meier(sub["time"].to_numpy(float), sub["event"].to_numpy(float))
        parts.append(pd.DataFrame({"group": grp, "time": np.concatenate([[0.0], curve["time"]]),
                                   "surv": np.concatenate([[1.0], curve["survival"]]),
                                   "lower": np.concatenate([[1.0], curve["lower"]]),
                                   "upper": np.concatenate([[1.0], curve["upper"]])}))
    return pd.concat(parts, ignore_index=True)


def numbers_at_risk(time: Sequence[float], group: Sequence[str], at: Sequence[float]) -> pd.DataFrame:
    """Patients still under observation (time >= t) per group at each time in ``at``.

    Returns
    -------
    pandas.DataFrame
        Columns ``group, time, n_risk``.
    """
    frame = pd.DataFrame({"time": pd.to_numeric(pd.Series(time), errors="coerce").to_numpy(),
                          "group": pd.Series(group).astype(str).to_numpy()}).dropna()
    rows = []
    for grp in order_groups(frame["group"]):
        tt = frame.loc[frame["group"] == grp, "time"].to_numpy()
        for t in at:
            rows.append({"group": grp, "time": float(t), "n_risk": int((tt >= t).sum())})
    return pd.DataFrame(rows, columns=["group", "time", "n_risk"])


def logrank_p(time: Sequence[float], event: Sequence[int], group: Sequence[str]) -> float:
    """Log-rank p-value across the groups (NaN when fewer than 2 groups or no events).

    :func:`radiogenomics.models.survival.logrank_test`, the one log-rank (R ``survdiff``);
    the report itself shows the stored p-values of ``rg survival``.
    """
    from ..models.survival import logrank_test

    frame = pd.DataFrame({"time": pd.to_numeric(pd.Series(time), errors="coerce").to_numpy(),
                          "event": pd.to_numeric(pd.Series(event), errors="coerce").to_numpy(),
                          "group": pd.Series(group).astype(str).to_numpy()}).dropna()
    if frame["group"].nunique() < 2 or frame["event"].sum() == 0:
        return float("nan")
    try:
        return float(logrank_test(frame["time"], frame["event"], frame["group"]).pvalue)
    except RGError as exc:  # degenerate input (e.g. a group with one patient and no events)
        log.debug("log-rank test not computable: %s", exc)
        return float("nan")


def running_enrichment(ranking: pd.Series, gene_set: Iterable[str], weight: float = 1.0) -> pd.DataFrame:
    """GSEA running enrichment score (Subramanian 2005) along a ranked gene list.

    Parameters
    ----------
    ranking
        Ranking statistic indexed by gene; sorted in decreasing order here.
    gene_set
        Members of the set; genes absent from the ranking are ignored.
    weight
        Exponent ``p`` on the ranking statistic for hits (1 = classic weighted GSEA).

    Returns
    -------
    pandas.DataFrame
        Columns ``rank, gene, running_es, hit`` (rank starts at 1).

    Raises
    ------
    InputError
        No gene of the set is in the ranking, or every gene is in the set.
    """
    ranked = pd.to_numeric(ranking, errors="coerce").dropna().sort_values(ascending=False)
    members = set(map(str, gene_set))
    hit = ranked.index.astype(str).isin(members)
    n_hit = int(hit.sum())
    if n_hit == 0:
        raise InputError("none of the gene set's genes is in the ranked list")
    if n_hit == len(ranked):
        raise InputError("every ranked gene is in the gene set; the running score is undefined")
    w = np.abs(ranked.to_numpy()) ** weight
    hit_w = np.where(hit, w, 0.0)
    total = hit_w.sum()
    if total == 0:
        hit_w = hit.astype(float)
        total = hit_w.sum()
    step_hit = hit_w / total
    step_miss = np.where(hit, 0.0, 1.0 / (len(ranked) - n_hit))
    running = np.cumsum(step_hit - step_miss)
    return pd.DataFrame({"rank": np.arange(1, len(ranked) + 1), "gene": ranked.index.astype(str),
                         "running_es": running, "hit": hit})


def zscore_rows(matrix: pd.DataFrame) -> pd.DataFrame:
    """Z-score each row (gene) across columns (patients); constant rows become 0."""
    values = matrix.to_numpy(dtype=float)
    mean = np.nanmean(values, axis=1, keepdims=True)
    sd = np.nanstd(values, axis=1, ddof=1, keepdims=True)
    sd[~np.isfinite(sd) | (sd == 0)] = 1.0
    return pd.DataFrame((values - mean) / sd, index=matrix.index, columns=matrix.columns)
