#!/usr/bin/python3
"""Reference fixtures for tests/stats: scipy 1.10 / statsmodels 0.13 results on seeded data.

Run with the system interpreter that has scipy + statsmodels:
    /usr/bin/python3 tests/reference/make_stats_fixtures.py
It rewrites tests/fixtures/stats/*.txt. Format (trivial to parse in C++): lines starting with
'#' are comments; otherwise a block is "<name> <count>" followed by <count> numbers (%.17g,
'nan', 'inf'). Data are float32 (what the model produces) written with %.9g, which round-trips;
the references are computed on their float64 values.

Conventions this project adopts where scipy/statsmodels have none (applied to the expected values
here, and documented in docs/statistics.md):
  * a neuron whose variance needed by a test is exactly 0 gives NaN (scipy gives nan or +-inf);
  * logistic regression: a neuron where x separates the classes (max of one class <= min of the
    other) is 'separated' and gets NaN estimates (statsmodels raises PerfectSeparationError for
    complete separation and does not converge for quasi-complete separation).
"""
import os
import warnings

import numpy as np
import scipy
import scipy.optimize
import scipy.stats as st
import statsmodels
import statsmodels.api as sm
from statsmodels.stats.multitest import multipletests
from statsmodels.tools.sm_exceptions import PerfectSeparationError

warnings.simplefilter("ignore")
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "stats")


class Writer:
    def __init__(self, name, comment):
        self.path = os.path.join(OUT, name)
        self.lines = [f"# {comment}", f"# scipy {scipy.__version__}, statsmodels "
                      f"{statsmodels.__version__}, numpy {np.__version__}"]

    def block(self, name, values, fmt="%.17g"):
        v = np.asarray(values, dtype=np.float64).ravel()
        self.lines.append(f"{name} {v.size}")
        for i in range(0, v.size, 8):
            self.lines.append(" ".join(fmt % x for x in v[i:i + 8]))

    def save(self):
        with open(self.path, "w") as f:
            f.write("\n".join(self.lines) + "\n")


def f32(x):
    return np.asarray(x, dtype=np.float32)


# ---------------------------------------------------------------- t-tests, effect sizes, AUC
def ttest_fixture():
    rng = np.random.default_rng(20240501)
    na, nb = 40, 35
    cols_a, cols_b = [], []

    def add(a, b):
        cols_a.append(f32(a))
        cols_b.append(f32(b))

    add(rng.normal(0, 1, na), rng.normal(0.5, 1, nb))            # 0 ordinary
    add(rng.normal(2, 3, na), rng.normal(1.5, 0.5, nb))          # 1 unequal variances
    add(rng.normal(0, 1, na), rng.normal(0, 1, nb))              # 2 null
    add(np.round(rng.normal(0, 2, na)), np.round(rng.normal(1, 2, nb)))  # 3 many ties
    add(np.full(na, 0.25), np.full(nb, 0.25))                    # 4 constant neuron
    add(np.full(na, 1.0), rng.normal(0, 1, nb))                  # 5 one group constant
    add(1 + 1e-6 * rng.normal(0, 1, na), 1 + 1e-6 * rng.normal(0.3, 1, nb))  # 6 tiny variance
    add(1e30 * rng.normal(0, 1, na), 1e30 * rng.normal(0.7, 1, nb))          # 7 huge variance
    add(30 + rng.normal(0, 1, na), rng.normal(0, 1, nb))         # 8 p ~ 1e-50
    add(150 + rng.normal(0, 1, na), rng.normal(0, 1, nb))        # 9 p ~ 1e-100 .. 1e-150
    add(700 + rng.normal(0, 1, na), rng.normal(0, 1, nb))        # 10 p ~ 1e-185
    add(np.full(na, 2.0), np.full(nb, 3.0))                      # 11 constant, different means
    add(2500 + rng.normal(0, 1, na), rng.normal(0, 1, nb))       # 12 p ~ 1e-280 .. 1e-300
    add(20000 + rng.normal(0, 1, na), rng.normal(0, 1, nb))      # 13 p ~ 1e-289
    add(60000 + rng.normal(0, 1, na), rng.normal(0, 1, nb))      # 14 p ~ 1e-300 and below
    a = np.stack(cols_a, axis=1)
    b = np.stack(cols_b, axis=1)
    k = a.shape[1]
    A, B = a.astype(np.float64), b.astype(np.float64)
    const_both = (A.min(0) == A.max(0)) & (B.min(0) == B.max(0))

    def nanify(*arrs, mask):
        out = []
        for x in arrs:
            x = np.array(x, dtype=np.float64)
            x[mask] = np.nan
            out.append(x)
        return out

    w = Writer("ttest.txt", "t-tests, effect sizes and Mann-Whitney AUC per neuron")
    w.block("na", [na]); w.block("nb", [nb]); w.block("k", [k])
    w.block("a", a, "%.9g"); w.block("b", b, "%.9g")
    for alt in ["two-sided", "greater", "less"]:
        tag = alt.replace("-", "_")
        r = st.ttest_ind(A, B, axis=0, equal_var=False, alternative=alt)
        va, vb = A.var(0, ddof=1) / na, B.var(0, ddof=1) / nb
        df = (va + vb) ** 2 / (va ** 2 / (na - 1) + vb ** 2 / (nb - 1))
        t, p, df = nanify(r.statistic, r.pvalue, df, mask=const_both)
        w.block(f"welch_{tag}_t", t); w.block(f"welch_{tag}_df", df); w.block(f"welch_{tag}_p", p)
        r = st.ttest_ind(A, B, axis=0, equal_var=True, alternative=alt)
        t, p = nanify(r.statistic, r.pvalue, mask=const_both)
        w.block(f"student_{tag}_t", t); w.block(f"student_{tag}_p", p)
    # one-sample on a against 0.5, paired on a[:nb] - b
    const_a = A.min(0) == A.max(0)
    r = st.ttest_1samp(A, 0.5, axis=0)
    t, p = nanify(r.statistic, r.pvalue, mask=const_a)
    w.block("one_sample_mu", [0.5]); w.block("one_sample_t", t); w.block("one_sample_p", p)
    D = A[:nb] - B
    const_d = D.min(0) == D.max(0)
    r = st.ttest_rel(A[:nb], B, axis=0)
    t, p = nanify(r.statistic, r.pvalue, mask=const_d)
    w.block("paired_t", t); w.block("paired_p", p)
    # Cohen's d (pooled SD) and Hedges' g with the exact gamma correction
    dfp = na + nb - 2
    sp = np.sqrt(((na - 1) * A.var(0, ddof=1) + (nb - 1) * B.var(0, ddof=1)) / dfp)
    with np.errstate(all="ignore"):
        d = (A.mean(0) - B.mean(0)) / sp
    from scipy.special import gammaln
    J = np.exp(gammaln(dfp / 2) - gammaln((dfp - 1) / 2)) / np.sqrt(dfp / 2)
    d, = nanify(d, mask=const_both)
    w.block("cohen_d", d); w.block("hedges_g", d * J)
    # AUC = U_b / (na nb); p: asymptotic two-sided with tie and continuity correction
    u = np.empty(k); pu = np.empty(k)
    for j in range(k):
        r = st.mannwhitneyu(B[:, j], A[:, j], alternative="two-sided", method="asymptotic")
        u[j], pu[j] = r.statistic, r.pvalue
    allsame = np.array([np.unique(np.concatenate([A[:, j], B[:, j]])).size == 1 for j in range(k)])
    pu[allsame] = np.nan
    w.block("mwu_u", u); w.block("auc", u / (na * nb)); w.block("mwu_p", pu)
    w.save()


# ---------------------------------------------------------------- multiple testing
def multitest_fixture():
    rng = np.random.default_rng(7)
    p = np.concatenate([rng.uniform(0, 1, 150), rng.uniform(0, 1e-3, 40), 10 ** -rng.uniform(3, 12, 10),
                        [0.01, 0.01, 0.01, 1.0, 0.0]])
    rng.shuffle(p)
    alpha = 0.05
    w = Writer("multitest.txt", "Bonferroni and Benjamini-Hochberg (statsmodels multipletests)")
    w.block("alpha", [alpha]); w.block("p", p)
    for method, tag in [("bonferroni", "bonf"), ("fdr_bh", "bh")]:
        rej, adj, _, _ = multipletests(p, alpha=alpha, method=method)
        w.block(f"{tag}_reject", rej.astype(float)); w.block(f"{tag}_adjusted", adj)
    m = p.size
    w.block("bonf_threshold", [alpha / m])
    ps = np.sort(p)
    ok = np.nonzero(ps <= np.arange(1, m + 1) / m * alpha)[0]
    w.block("bh_threshold", [(ok.max() + 1) / m * alpha if ok.size else 0.0])
    w.save()


# ---------------------------------------------------------------- logistic regression
def firth_reference(x, y):
    """Firth-penalized logistic fit by root-finding on the modified score (full-matrix hat)."""
    X = np.column_stack([np.ones_like(x), x])

    def score(beta):
        p = 1 / (1 + np.exp(-(X @ beta)))
        W = p * (1 - p)
        info = X.T @ (W[:, None] * X)
        XW = X * np.sqrt(W)[:, None]
        h = np.einsum("ij,jk,ik->i", XW, np.linalg.inv(info), XW)
        return X.T @ (y - p + h * (0.5 - p))

    sol = scipy.optimize.root(score, np.zeros(2), method="hybr", tol=1e-14)
    beta = sol.x
    p = 1 / (1 + np.exp(-(X @ beta)))
    info = X.T @ ((p * (1 - p))[:, None] * X)
    se = np.sqrt(np.diag(np.linalg.inv(info)))
    return beta, se, np.max(np.abs(score(beta))) < 1e-9


def logistic_fixture():
    rng = np.random.default_rng(99)
    n = 200
    y = (rng.uniform(size=n) < 0.45).astype(np.float64)
    cols = []
    for eff, scale in [(0.5, 1), (1.0, 1), (2.0, 1), (0.0, 1), (-1.5, 1), (0.3, 2),
                       (1.0, 1e3), (1.0, 1e-3), (3.0, 1), (0.8, 0.5)]:
        cols.append(scale * (eff * y + rng.normal(0, 1, n)))      # 0..9 ordinary
    cols.append(y * 2 + rng.uniform(0, 0.5, n))                    # 10 complete separation
    cols.append(np.where(y > 0, rng.uniform(0, 1, n).round(1), -rng.uniform(0, 1, n)))  # 11 quasi
    cols.append(np.full(n, 0.5))                                   # 12 constant x
    cols.append(-(y * 3) + rng.uniform(0, 1, n))                   # 13 complete, negative slope
    cols.append(5 + 0.2 * y + 0.1 * rng.normal(0, 1, n))           # 14 offset, small scale
    x = f32(np.stack(cols, axis=1))
    X = x.astype(np.float64)
    k = x.shape[1]
    res = {key: np.full(k, np.nan) for key in
           ["b0", "b1", "se0", "se1", "z0", "z1", "p0", "p1", "llf", "converged", "separated",
            "constant", "firth_b0", "firth_b1", "firth_se0", "firth_se1"]}
    for j in range(k):
        xj = X[:, j]
        sep = (xj[y == 0].max() <= xj[y == 1].min()) or (xj[y == 1].max() <= xj[y == 0].min())
        const = xj.min() == xj.max()
        res["constant"][j] = float(const)
        res["separated"][j] = float(sep and not const)
        if not const:
            fb, fse, ok = firth_reference(xj, y)
            if ok:
                res["firth_b0"][j], res["firth_b1"][j] = fb
                res["firth_se0"][j], res["firth_se1"][j] = fse
        if const:
            res["converged"][j] = 0.0
            continue
        try:
            fit = sm.Logit(y, sm.add_constant(xj)).fit(disp=0)
        except (PerfectSeparationError, np.linalg.LinAlgError):
            res["converged"][j] = 0.0
            continue
        conv = bool(fit.mle_retvals["converged"])
        res["converged"][j] = float(conv)
        if sep or not conv:
            continue  # our convention: separated -> NaN; non-converged is not compared
        res["b0"][j], res["b1"][j] = fit.params
        res["se0"][j], res["se1"][j] = fit.bse
        res["z0"][j], res["z1"][j] = fit.tvalues
        res["p0"][j], res["p1"][j] = fit.pvalues
        res["llf"][j] = fit.llf
    w = Writer("logistic.txt", "statsmodels Logit(y, add_constant(x)).fit() per neuron; Firth by "
               "root-finding on the modified score")
    w.block("n", [n]); w.block("k", [k]); w.block("x", x, "%.9g"); w.block("y", y)
    for key, v in res.items():
        w.block(key, v)
    w.save()


# ---------------------------------------------------------------- histograms
def histogram_fixture():
    rng = np.random.default_rng(3)
    n, k = 300, 4
    x = f32(rng.normal(0, 1.2, (n, k)))
    edges = np.linspace(-2.0, 2.0, 9)
    x[:9, 0] = edges  # values exactly on every edge (the last bin is closed)
    X = x.astype(np.float64)
    w = Writer("histogram.txt", "numpy.histogram with explicit edges; under/overflow counted apart")
    w.block("n", [n]); w.block("k", [k]); w.block("x", x, "%.9g"); w.block("edges", edges)
    per = []
    for j in range(k):
        c, _ = np.histogram(X[:, j], bins=edges)
        per.append(np.concatenate([[np.sum(X[:, j] < edges[0])], c, [np.sum(X[:, j] > edges[-1])]]))
    w.block("per_neuron", np.array(per))
    c, _ = np.histogram(X.ravel(), bins=edges)
    w.block("pooled", np.concatenate([[np.sum(X < edges[0])], c, [np.sum(X > edges[-1])]]))
    w.save()


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    ttest_fixture()
    multitest_fixture()
    logistic_fixture()
    histogram_fixture()
    print("wrote fixtures to", os.path.normpath(OUT))
