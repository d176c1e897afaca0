"""Linear-kernel nu-support-vector regression solved exactly in the primal, many fits at once.

libsvm (scikit-learn's ``NuSVR``, R e1071's ``svm``) solves nu-SVR in the dual, one variable
pair per data point, by SMO iterations that stop at a tolerance of 1e-3 (and keep the kernel
in single precision, so even a tight tolerance leaves weights ~1e-5 from the optimum).  With
a linear kernel on ``p`` features the same problem has only ``p + 2`` coupled variables in
the primal -- the weights ``w``, the intercept ``b`` and the tube width ``eps`` -- plus one
slack per point.  The objective is strictly convex in ``w``, so the weights are unique.

The problem, with libsvm's scaling of ``C`` (its nu-SVR dual bounds each dual variable by
``C`` and their sum by ``C * nu * n``; checked against ``NuSVR(tol=1e-9)`` and e1071)::

    min  0.5 ||w||^2 + C * (nu * n * eps + sum_i t_i)
    s.t. t_i >= |y_i - x_i . w - b| - eps,   t_i >= 0,   eps >= 0

It is solved by a primal-dual interior-point method (Mehrotra predictor-corrector) on the
conic form ``min 0.5 z'Pz + q'z  s.t.  Az + s = h, s >= 0`` with ``z = (w, b, eps, t)``.
The slacks ``t`` enter the Newton system diagonally, so each iteration reduces to one dense
``(p + 2) x (p + 2)`` solve per fit; all fits that share the design matrix (samples,
permutations and values of ``nu``) iterate together in numpy, the weighted cross products of
all of them coming from one matrix product with the row-wise outer products of ``X``.  A fit
leaves the batch once it has converged (13-20 iterations on CIBERSORT-sized input).

The converged iterate is then made exact (:func:`_polish`): the points it puts on the edges
of the tube, outside and inside it make the optimality conditions a linear system, whose
solution is used only if it passes every optimality check (otherwise the interior-point
answer, within the tolerances below, stays).  Tested against R e1071 at tolerance 1e-9,
scikit-learn at 1e-9 and Clarabel at 1e-12 (tests/omics/test_nusvr.py): the objective here is
never above theirs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..exceptions import OmicsError

#: relative primal / dual residuals and relative duality gap at which a fit stops; the answer is
#: then made exact on the active set where the optimality checks allow (see :func:`_polish`)
TOLERANCE = 1e-9
GAP_TOLERANCE = 1e-10
#: a fit still short of that after MAX_ITER iterations counts as converged if it is within these
LOOSE_TOLERANCE = 1e-6
LOOSE_GAP_TOLERANCE = 1e-6
MAX_ITER = 60
_STEP = 0.99  # fraction of the step to the boundary of the positive orthant
_REGULARISATION = 1e-11  # added to the unit diagonal of the scaled Newton matrix
_REFINEMENT = 3  # iterative-refinement steps of each Newton solve


@dataclass(frozen=True)
class NuSVRFits:
    """Linear nu-SVR fits of the columns of ``Y`` (see :func:`linear_nu_svr`).

    Attributes
    ----------
    coef : ndarray, shape (k, p)
        Weights ``w`` of each fit.
    intercept : ndarray, shape (k,)
        Intercepts ``b`` (predictions are ``X @ w + b``).
    epsilon : ndarray, shape (k,)
        Tube widths.
    objective : ndarray, shape (k,)
        Primal objective values.
    converged : ndarray of bool, shape (k,)
        Whether the fit reached :data:`TOLERANCE` / :data:`GAP_TOLERANCE` within :data:`MAX_ITER`
        iterations, or at least :data:`LOOSE_TOLERANCE` / :data:`LOOSE_GAP_TOLERANCE` by then.
    iterations : ndarray of int, shape (k,)
    polished : ndarray of bool, shape (k,)
        Whether the answer is the exact solution of the optimality conditions on the interior
        point's active set (checked), rather than the last interior-point iterate.
    """

    coef: np.ndarray
    intercept: np.ndarray
    epsilon: np.ndarray
    objective: np.ndarray
    converged: np.ndarray
    iterations: np.ndarray
    polished: np.ndarray


def linear_nu_svr(X: np.ndarray, Y: np.ndarray, nu: float | np.ndarray, C: float = 1.0) -> NuSVRFits:
    """Exact linear-kernel nu-SVR of every column of ``Y`` on ``X``.

    Parameters
    ----------
    X : ndarray, shape (n, p)
        Design matrix shared by all fits (in deconvolution: the standardised signature).
    Y : ndarray, shape (n, k)
        Responses, one fit per column.
    nu : float or ndarray of shape (k,)
        nu of each fit, in (0, 1].
    C : float
        Cost, scaled as in libsvm (``C=1`` is e1071's and scikit-learn's default).

    Returns
    -------
    NuSVRFits
        Weights, intercepts, tube widths, objectives and a convergence flag per fit; a fit
        that did not converge is flagged, never silently returned as converged.

    Notes
    -----
    Meant for inputs on a unit scale (standardised), as in CIBERSORT; no equilibration.
    """
    X = np.asarray(X, dtype=float)
    Y = np.asarray(Y, dtype=float)
    if Y.ndim == 1:
        Y = Y[:, None]
    if X.ndim != 2 or X.shape[0] < 2 or X.shape[1] < 1:
        raise OmicsError(f"nu-SVR: the design matrix must be 2-D with >= 2 rows, got shape {X.shape}")
    n, p = X.shape
    if Y.ndim != 2 or Y.shape[0] != n:
        raise OmicsError(f"nu-SVR: the responses must have {n} rows like the design matrix, got shape {Y.shape}")
    if not (np.isfinite(X).all() and np.isfinite(Y).all()):
        raise OmicsError("nu-SVR: the design matrix or a response has non-finite values")
    k = Y.shape[1]
    nus = np.broadcast_to(np.asarray(nu, dtype=float), (k,)).copy()
    if not ((nus > 0) & (nus <= 1)).all():
        raise OmicsError(f"nu-SVR: nu must be in (0, 1], got {np.unique(nus[(nus <= 0) | (nus > 1)])}")
    if not C > 0:
        raise OmicsError(f"nu-SVR: C must be positive, got {C}")
    return _ipm(X, Y.T.copy(), nus, float(C))


def _positive_definite(S: np.ndarray) -> np.ndarray:
    """Which of the stacked symmetric matrices ``S`` are finite and have a Cholesky factor."""
    ok = np.isfinite(S).all(axis=(1, 2))
    try:
        np.linalg.cholesky(S[ok])
        return ok
    except np.linalg.LinAlgError:
        for i in np.flatnonzero(ok):
            try:
                np.linalg.cholesky(S[i])
            except np.linalg.LinAlgError:
                ok[i] = False
        return ok


def _ipm(X: np.ndarray, Y: np.ndarray, nus: np.ndarray, C: float) -> NuSVRFits:
    """Mehrotra predictor-corrector on all fits at once; ``Y`` is (fits, n).

    Constraint blocks (rows of ``A z + s = h``), ``x~_i = (x_i, 1)`` and ``theta = (w, b)``:
    ``1: -x~.theta - eps - t + s = -y``, ``2: x~.theta - eps - t + s = y``, ``3: -t + s = 0``
    (each one row per point) and ``4: -eps + s = 0``.
    """
    n, p = X.shape
    k = Y.shape[0]
    p1 = p + 1
    Xt = np.hstack([X, np.ones((n, 1))])
    outer = (Xt[:, :, None] * Xt[:, None, :]).reshape(n, p1 * p1)  # row-wise x~ x~'
    c_eps_all = C * nus * n
    scale_h_all = 1.0 + np.abs(Y).max(axis=1)
    scale_q_all = 1.0 + np.maximum(c_eps_all, C)
    diag = np.arange(p)

    # start: w = b = 0, eps = 1, t = |y| + 1 -> every slack >= 1; multipliers 1
    theta = np.zeros((k, p1))
    eps = np.ones(k)
    t = np.abs(Y) + 1.0
    s = np.stack([-Y + 1.0 + t, Y + 1.0 + t, t.copy()], axis=1)   # (k, 3, n)
    s4 = np.ones(k)
    lam = np.ones((k, 3, n))
    l4 = np.ones(k)
    converged = np.zeros(k, dtype=bool)
    stopped = np.zeros(k, dtype=bool)
    # the best iterate within the loose tolerance so far (merit: worst of the three criteria): in
    # degenerate fits rounding can make the residuals grow again before the gap is small enough
    best_merit = np.full(k, np.inf)
    best = [theta.copy(), eps.copy(), t.copy(), s.copy(), lam.copy()]
    iterations = np.zeros(k, dtype=int)

    for it in range(MAX_ITER + 1):
        idx = np.flatnonzero(~stopped)
        if idx.size == 0:
            break
        th, e, tt, ss, s4_, ll, l4_ = theta[idx], eps[idx], t[idx], s[idx], s4[idx], lam[idx], l4[idx]
        y, c_eps = Y[idx], c_eps_all[idx]
        m = idx.size
        fit = th @ Xt.T
        # residuals: dual P z + q + A'lambda, primal A z + s - h
        rd_th = th.copy()
        rd_th[:, p] = 0.0
        rd_th += (ll[:, 1] - ll[:, 0]) @ Xt
        rd_e = c_eps - (ll[:, 0] + ll[:, 1]).sum(axis=1) - l4_
        rd_t = C - ll.sum(axis=1)
        rp = np.stack([-fit - e[:, None] - tt + y, fit - e[:, None] - tt - y, -tt], axis=1) + ss
        rp4 = -e + s4_
        gap = (ss * ll).sum(axis=(1, 2)) + s4_ * l4_
        obj = 0.5 * (th[:, :p] ** 2).sum(axis=1) + c_eps * e + C * tt.sum(axis=1)
        pres = np.maximum(np.abs(rp).max(axis=(1, 2)), np.abs(rp4)) / scale_h_all[idx]
        dres = np.maximum(np.maximum(np.abs(rd_th).max(axis=1), np.abs(rd_e)), np.abs(rd_t).max(axis=1))
        dres = dres / scale_q_all[idx]
        rel_gap = gap / np.maximum(1.0, np.abs(obj))
        loose = (pres < LOOSE_TOLERANCE) & (dres < LOOSE_TOLERANCE) & (rel_gap < LOOSE_GAP_TOLERANCE)
        merit = np.maximum(np.maximum(pres, dres), rel_gap)
        better = loose & (merit < best_merit[idx])
        if better.any():
            j = idx[better]
            best_merit[j] = merit[better]
            best[0][j], best[1][j], best[2][j], best[3][j], best[4][j] = th[better], e[better], tt[better], \
                ss[better], ll[better]
        if it == MAX_ITER:
            break
        done = (pres < TOLERANCE) & (dres < TOLERANCE) & (rel_gap < GAP_TOLERANCE)
        # stop a fit whose criteria have grown 100-fold since its best loose-tolerance iterate
        diverging = ~done & (merit > 100.0 * best_merit[idx])

        # Newton system reduced to (theta, eps): the t block is diagonal
        W = ll / ss
        w4 = l4_ / s4_
        sig, mdiff = W[:, 0] + W[:, 1], W[:, 0] - W[:, 1]
        d = sig + W[:, 2]
        c_tt = (4.0 * W[:, 0] * W[:, 1] + sig * W[:, 2]) / d
        c_te = mdiff * W[:, 2] / d
        S = np.empty((m, p1 + 1, p1 + 1))
        S[:, :p1, :p1] = (c_tt @ outer).reshape(m, p1, p1)
        S[:, diag, diag] += 1.0
        S[:, :p1, p1] = S[:, p1, :p1] = c_te @ Xt
        S[:, p1, p1] = (sig * W[:, 2] / d).sum(axis=1) + w4
        # symmetric diagonal scaling (near the end the entries span many orders of magnitude) and a
        # small static regularisation (when the tube touches points on one side only, b and eps move
        # together and S is singular in that direction), undone by iterative refinement against the
        # unregularised matrix
        dsc = 1.0 / np.sqrt(S[:, np.arange(p1 + 1), np.arange(p1 + 1)])
        S *= dsc[:, :, None] * dsc[:, None, :]
        S_reg = S.copy()
        S_reg[:, np.arange(p1 + 1), np.arange(p1 + 1)] += _REGULARISATION
        # a fit whose Newton matrix is no longer numerically positive definite stops here (its last
        # iterate counts if it meets the loose tolerance)
        stalled = (~done & ~_positive_definite(S_reg)) | diverging
        converged[idx[done]] = True
        keep = ~(done | stalled)
        stopped[idx[~keep]] = True
        if not keep.any():
            break
        if not keep.all():
            idx, th, e, tt, ss, s4_, ll, l4_ = idx[keep], th[keep], e[keep], tt[keep], ss[keep], s4_[keep], ll[keep], \
                l4_[keep]
            rd_th, rd_e, rd_t, rp, rp4, gap = rd_th[keep], rd_e[keep], rd_t[keep], rp[keep], rp4[keep], gap[keep]
            W, w4, sig, mdiff, d, dsc = W[keep], w4[keep], sig[keep], mdiff[keep], d[keep], dsc[keep]
            S, S_reg = S[keep], S_reg[keep]
            m = idx.size
        iterations[idx] += 1
        mu = gap / (3 * n + 1)

        def direction(rc, rc4):
            u = (rc + ll * rp) / ss
            u4 = (rc4 + l4_ * rp4) / s4_
            g_t = -rd_t + u.sum(axis=1)
            rhs = np.empty((m, p1 + 1))
            rhs[:, :p1] = -rd_th - (u[:, 1] - u[:, 0]) @ Xt - (mdiff * g_t / d) @ Xt
            rhs[:, p1] = -rd_e + (u[:, 0] + u[:, 1]).sum(axis=1) + u4 - (sig * g_t / d).sum(axis=1)
            rhs = (rhs * dsc)[:, :, None]
            sol = np.linalg.solve(S_reg, rhs)
            for _ in range(_REFINEMENT):
                sol += np.linalg.solve(S_reg, rhs - S @ sol)
            sol = sol[:, :, 0] * dsc
            d_th, d_e = sol[:, :p1], sol[:, p1]
            d_fit = d_th @ Xt.T
            d_t = (g_t - mdiff * d_fit - sig * d_e[:, None]) / d
            a = np.stack([-d_fit - d_e[:, None] - d_t, d_fit - d_e[:, None] - d_t, -d_t], axis=1)  # A dz
            return d_th, d_e, d_t, -rp - a, -rp4 + d_e, u + W * a, u4 - w4 * d_e

        def max_step(ds, ds4, dl, dl4):
            alpha = np.ones(m)
            for v, dv in ((ss, ds), (ll, dl)):
                ratio = np.where(dv < 0, v / np.where(dv < 0, -dv, 1.0), np.inf)
                alpha = np.minimum(alpha, ratio.min(axis=(1, 2)))
            for v, dv in ((s4_, ds4), (l4_, dl4)):
                alpha = np.minimum(alpha, np.where(dv < 0, v / np.where(dv < 0, -dv, 1.0), np.inf))
            return alpha

        # predictor (affine scaling), then corrector with Mehrotra's centring
        _, _, _, ds_a, ds4_a, dl_a, dl4_a = direction(-ss * ll, -s4_ * l4_)
        a_aff = max_step(ds_a, ds4_a, dl_a, dl4_a)
        ab = a_aff[:, None, None]
        gap_aff = ((ss + ab * ds_a) * (ll + ab * dl_a)).sum(axis=(1, 2)) + (s4_ + a_aff * ds4_a) * (l4_ + a_aff * dl4_a)
        centring = (np.clip(gap_aff / gap, 0.0, 1.0) ** 3) * mu
        d_th, d_e, d_t, ds, ds4, dl, dl4 = direction(-ss * ll - ds_a * dl_a + centring[:, None, None],
                                                     -s4_ * l4_ - ds4_a * dl4_a + centring)
        alpha = np.minimum(1.0, _STEP * max_step(ds, ds4, dl, dl4))
        a2, a3 = alpha[:, None], alpha[:, None, None]
        theta[idx] = th + a2 * d_th
        eps[idx] = e + alpha * d_e
        t[idx] = tt + a2 * d_t
        s[idx] = ss + a3 * ds
        s4[idx] = s4_ + alpha * ds4
        lam[idx] = ll + a3 * dl
        l4[idx] = l4_ + alpha * dl4

    # a fit that did not meet the strict tolerance returns its best iterate within the loose one
    fallback = ~converged & np.isfinite(best_merit)
    for arr, saved in zip((theta, eps, t, s, lam), best):
        arr[fallback] = saved[fallback]
    converged |= fallback
    polished = np.zeros(k, dtype=bool)
    for i in np.flatnonzero(converged):
        exact = _polish(Xt, Y[i], c_eps_all[i], C, s[i], lam[i], theta[i, p], eps[i])
        if exact is not None:
            theta[i], eps[i] = exact
            t[i] = np.maximum(np.abs(Y[i] - Xt @ theta[i]) - eps[i], 0.0)
            polished[i] = True
    objective = 0.5 * (theta[:, :p] ** 2).sum(axis=1) + c_eps_all * eps + C * t.sum(axis=1)
    return NuSVRFits(coef=theta[:, :p].copy(), intercept=theta[:, p].copy(), epsilon=eps, objective=objective,
                     converged=converged, iterations=iterations, polished=polished)


def _polish(Xt: np.ndarray, y: np.ndarray, c_eps: float, C: float, s: np.ndarray, lam: np.ndarray,
            b_ipm: float, eps_ipm: float) -> tuple[np.ndarray, float] | None:
    """The exact optimum on the interior point's active set, or None if it fails the optimality checks.

    Each point is on the tube's upper or lower edge (its dual ``beta`` free in (0, C) or (-C, 0)),
    outside it (``beta = +-C``) or inside (``beta = 0``), read off the complementary pairs
    (constraint active where its slack is below its multiplier).  On that partition the KKT
    conditions are linear in ``(w, b, eps, beta_edge)``::

        w = sum_i beta_i x_i,   sum_i beta_i = 0,   sum_i |beta_i| = c_eps,   x~_i.theta +- eps = y_i on the edges

    and their solution is optimal iff every point lies where the partition puts it and every
    free ``beta`` is within its bounds; that is checked before the solution is used.  When the
    tube touches one side only, ``b`` and ``eps`` can slide together without changing the
    objective (``w`` stays unique); of those, the one nearest the interior point's is taken.
    """
    n, p1 = Xt.shape
    p = p1 - 1
    active = s < lam                                   # (3, n): constraint rows 1, 2, 3
    upper = active[0] & active[2]
    lower = active[1] & active[2]
    out_up = active[0] & ~active[2]
    out_lo = active[1] & ~active[2]
    if (upper & lower).any() or (out_up & out_lo).any():
        return None
    edge = np.flatnonzero(upper | lower)
    sign = np.where(upper[edge], 1.0, -1.0)
    beta_out = C * (out_up.astype(float) - out_lo.astype(float))
    m = edge.size
    # unknowns: w (p), b, eps, beta on the edges (m)
    A = np.zeros((p + 2 + m, p + 2 + m))
    rhs = np.zeros(p + 2 + m)
    A[:p, :p] = np.eye(p)
    A[:p, p + 2:] = -Xt[edge, :p].T
    rhs[:p] = Xt[:, :p].T @ beta_out
    A[p, p + 2:] = 1.0
    rhs[p] = -beta_out.sum()
    A[p + 1, p + 2:] = sign
    rhs[p + 1] = c_eps - np.abs(beta_out).sum()
    A[p + 2:, :p1] = Xt[edge]
    A[p + 2:, p1] = sign
    rhs[p + 2:] = y[edge]
    sol, *_ = np.linalg.lstsq(A, rhs, rcond=None)
    scale = 1.0 + np.abs(rhs).max()
    if np.abs(A @ sol - rhs).max() > 1e-10 * scale:
        return None
    _, sv, vt = np.linalg.svd(A)
    null = vt[sv < 1e-10 * sv[0]].T                      # directions the equations leave free
    if null.size:
        if np.abs(null[:p]).max() > 1e-8:                # w must be determined
            return None
        be = null[[p, p + 1]]
        shift, *_ = np.linalg.lstsq(be, np.array([b_ipm, eps_ipm]) - sol[[p, p + 1]], rcond=None)
        sol = sol + null @ shift
    theta, eps, beta = sol[:p1], float(sol[p1]), sol[p + 2:]
    r = y - Xt @ theta
    tol = 1e-9 * (1.0 + np.abs(y).max())
    inside = ~(upper | lower | out_up | out_lo)
    ok = (eps >= -tol
          and (sign * beta >= -1e-9 * C).all() and (sign * beta <= C * (1 + 1e-9)).all()
          and (r[out_up] >= eps - tol).all() and (r[out_lo] <= -eps + tol).all()
          and (np.abs(r[inside]) <= eps + tol).all())
    return (theta, max(eps, 0.0)) if ok else None
