"""Multiple-testing adjustment: the package's one Benjamini-Hochberg.

Used for limma's ``adj.P.Val``, ORA ``padj`` and the association ``fdr``; all three are
checked against R (``p.adjust(p, "BH")`` via limma ``topTable`` and the association
reference in ``tests/data/R``).
"""

from __future__ import annotations

import numpy as np

__all__ = ["bh_adjust"]


def bh_adjust(p) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values, as R ``p.adjust(p, "BH")``.

    Parameters
    ----------
    p : array_like
        p-values; NaN entries are left out of the family (R's ``NA``) and stay NaN.

    Returns
    -------
    ndarray
        ``min(1, cummin(n / i * p_(i)))`` from the largest p-value down, in input order.
    """
    p = np.asarray(p, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    pv = p[ok]
    n = pv.size
    if n == 0:
        return out
    order = np.argsort(pv, kind="stable")[::-1]
    adj = np.minimum.accumulate(pv[order] * n / np.arange(n, 0, -1))
    res = np.empty(n)
    res[order] = np.minimum(adj, 1.0)
    out[ok] = res
    return out
