"""Figures of the radiogenomic map (``rg map``): a clustered correlation heatmap and the top pairs."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..exceptions import InputError

#: rows / columns of the heatmap: the variables with the smallest FDR on each side
HEATMAP_MAX = 30


def _cluster_order(matrix: np.ndarray) -> np.ndarray:
    """Leaf order of average-linkage clustering on 1 - correlation of the rows (rows < 3: as is)."""
    if matrix.shape[0] < 3:
        return np.arange(matrix.shape[0])
    from scipy.cluster.hierarchy import leaves_list, linkage
    from scipy.spatial.distance import pdist

    filled = np.nan_to_num(matrix)
    if np.allclose(filled.std(axis=1), 0):
        return np.arange(matrix.shape[0])
    dist = np.nan_to_num(pdist(filled, metric="correlation"), nan=1.0)
    return leaves_list(linkage(np.clip(dist, 0, 2), method="average"))


def map_heatmap_figure(table: pd.DataFrame, fdr_threshold: float = 0.05, title: str = "") -> Figure:
    """Clustered heatmap of Spearman rho (imaging rows x molecular columns), FDR < threshold marked."""
    if table is None or table.empty or table["rho"].notna().sum() == 0:
        raise InputError("no correlations in the map")
    best_img = table.groupby("imaging")["fdr"].min().sort_values(kind="stable").head(HEATMAP_MAX).index
    best_mol = table.groupby("molecular")["fdr"].min().sort_values(kind="stable").head(HEATMAP_MAX).index
    sub = table[table["imaging"].isin(best_img) & table["molecular"].isin(best_mol)]
    rho = sub.pivot_table(index="imaging", columns="molecular", values="rho", aggfunc="first")
    fdr = sub.pivot_table(index="imaging", columns="molecular", values="fdr", aggfunc="first").reindex_like(rho)
    r_order, c_order = _cluster_order(rho.to_numpy()), _cluster_order(rho.to_numpy().T)
    rho, fdr = rho.iloc[r_order, c_order], fdr.iloc[r_order, c_order]
    n_r, n_c = rho.shape
    fig = Figure(figsize=(max(6.0, 0.28 * n_c + 4.5), max(3.5, 0.26 * n_r + 3.0)))
    ax = fig.add_subplot(1, 1, 1)
    image = ax.imshow(rho.to_numpy(dtype=float), aspect="auto", cmap="RdBu_r", vmin=-1, vmax=1,
                      interpolation="nearest")
    sig = np.argwhere(fdr.to_numpy(dtype=float) < fdr_threshold)
    if len(sig):
        ax.scatter(sig[:, 1], sig[:, 0], s=6, c="black", marker="o", linewidths=0,
                   label=f"FDR < {fdr_threshold:g}")
        ax.legend(loc="upper left", bbox_to_anchor=(1.12, 1.0), fontsize=7, frameon=False)
    ax.set_xticks(range(n_c), [str(c) for c in rho.columns], rotation=90, fontsize=6)
    ax.set_yticks(range(n_r), [str(r) for r in rho.index], fontsize=6)
    ax.set_xlabel("molecular variable (pathway score, immune score or gene)")
    ax.set_ylabel("imaging variable")
    ax.set_title(title or "Radiogenomic map (clustered, Spearman)", fontsize=10)
    fig.colorbar(image, ax=ax, label="Spearman rho (unitless)", fraction=0.04)
    fig.tight_layout()
    return fig


def map_scatter_figure(pairs: pd.DataFrame, values: pd.DataFrame, ncol: int = 3) -> Figure:
    """Scatter plots of the top pairs (values per patient from ``radiogenomic_map_values``)."""
    if pairs is None or pairs.empty or values is None or values.empty:
        raise InputError("no stored values for the top pairs of the map")
    wide = values.pivot_table(index="patient_id", columns="variable", values="value", aggfunc="first")
    pairs = pairs[pairs["imaging"].isin(wide.columns) & pairs["molecular"].isin(wide.columns)]
    if pairs.empty:
        raise InputError("the stored values do not cover the top pairs")
    n = len(pairs)
    nrow = int(np.ceil(n / ncol))
    fig = Figure(figsize=(3.3 * min(n, ncol), 3.0 * nrow))
    for k, r in enumerate(pairs.itertuples()):
        ax = fig.add_subplot(nrow, min(n, ncol), k + 1)
        xy = wide[[r.imaging, r.molecular]].dropna()
        ax.scatter(xy[r.imaging], xy[r.molecular], s=10, alpha=0.7, color="#3b6ea8")
        ax.set_xlabel(f"{r.imaging} (feature value)", fontsize=7)
        ax.set_ylabel(f"{r.molecular} (score)", fontsize=7)
        fdr = "< 0.001" if r.fdr < 0.001 else f"{r.fdr:.3f}"
        ax.set_title(f"rho {r.rho:+.2f}, FDR {fdr}, n = {int(r.n)}", fontsize=8)
        ax.tick_params(labelsize=7)
    fig.tight_layout()
    return fig
