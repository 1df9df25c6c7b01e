"""Ordinary least squares from streamed sufficient statistics for the lexical OLS
(groundprobe.analysis.lexical_ols), knowing nothing of captions or their tables: a design's columns
are the K controls (CONTROL_NAMES, the intercept first), then 0/1 word indicators; one scope's
Moments (X'X with the word block as exact integer co-occurrence counts, X'y, y'y, n) and the memory
they take (accumulator_bytes_of), the pivoted Cholesky Factor of X'X (factorize), the OlsFit solved
from them (ols_fit; attributes as statsmodels' results), its covariance clustered by video with the
word block's Wald test (with_cluster_cov), the word columns a scope keeps (drop_redundant_words) and
a statsmodels-like text summary of a fit (model_summary)."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import scipy.linalg
from scipy import stats

CONTROL_NAMES = ["const", "position_first", "position_last", "log_tokens"]
K = len(CONTROL_NAMES)


# ---------------------------------------------------------------------------------------------
# Sufficient statistics


def count_dtype(captions: int) -> type:
    """The integer type that holds counts of up to ``captions`` captions: int32 (4 bytes) unless a
    scope has 2^31 captions or more."""
    return np.int32 if captions <= np.iinfo(np.int32).max else np.int64


def triangle_offsets(k: int) -> np.ndarray:
    """(k,) int64: where row r of a k × k upper triangle starts when stored row by row (entries
    (r, r..k-1)), so that entry (r, c), r <= c, is at offsets[r] + c - r."""
    r = np.arange(k, dtype=np.int64)
    return r * k - r * (r - 1) // 2


@dataclass(frozen=True)
class Moments:
    """Sufficient statistics of one scope over ``columns`` of Frame.design (shifted y), p columns:
    the K controls, then k = p - K words.

    X'X is held in two parts: ``controls`` (K, p) float64, its control rows (the control columns
    and their products with every word); ``cooccurrence`` (k (k + 1) / 2,) integer, the word block's
    upper triangle row by row (triangle_offsets): how many captions say both words, exact since
    the indicators are 0/1. That is 2 bytes per entry of X'X (int32) instead of 8, so a batch holds
    4x the scopes; ``xtx(columns)`` builds the dense matrix of one scope when it is solved.
    """

    n: int
    n_videos: int
    controls: np.ndarray  # (K, p)
    cooccurrence: np.ndarray  # (k (k + 1) / 2,)
    xty: np.ndarray  # (p,)
    yty: float

    def cooccurrences(self, i: int | np.ndarray, j: int | np.ndarray) -> np.ndarray:
        """The counts of captions saying both word i and word j (positions among the words)."""
        i, j = np.minimum(i, j), np.maximum(i, j)
        return self.cooccurrence[triangle_offsets(len(self.xty) - K)[i] + j - i]

    def xtx(self, columns: np.ndarray) -> np.ndarray:
        """(len(columns), len(columns)) float64 X'X over ``columns`` (the K controls first, then
        word columns, increasing), one dense matrix and no intermediate of its size."""
        words = columns[K:] - K
        out = np.empty((len(columns), len(columns)))
        out[:K] = self.controls[:, columns]
        out[K:, :K] = self.controls[:, columns[K:]].T
        for r, word in enumerate(words.tolist()):
            out[K + r, K:] = self.cooccurrences(word, words)
        return out


def accumulator_bytes_of(p: int, captions: int, cluster_by_video: bool) -> int:
    """Bytes one scope of p columns (K controls + words) with ``captions`` captions holds while its
    batch is fitted: its Moments (pass 3); with ``cluster_by_video`` also its full model's factor
    and its meat, dense (p, p) float64 each (pass 4)."""
    k = p - K
    moments = np.dtype(count_dtype(captions)).itemsize * k * (k + 1) // 2 + 8 * (K + 1) * p
    return moments + (2 * 8 * p * p if cluster_by_video else 0)


# ---------------------------------------------------------------------------------------------
# Solving


@dataclass(frozen=True)
class Factor:
    """Pivoted Cholesky factor of a p × p X'X scaled to unit diagonal (LAPACK dpstrf):
    S = X'X / d d' (d: column norms, 1 for a zero column), S[order][:, order] = U'U. ``rank``: the
    pivots above p × machine epsilon (dpstrf's default tolerance); U is meaningful when rank = p."""

    upper: np.ndarray  # (p, p) U, upper triangular
    order: np.ndarray  # (p,) pivot order, 0-based
    norms: np.ndarray  # (p,) d
    rank: int

    def solve(self, rhs: np.ndarray) -> np.ndarray:
        """(X'X)^-1 rhs for a (p,) vector."""
        z = rhs[self.order] / self.norms[self.order]
        x = scipy.linalg.solve_triangular(self.upper, scipy.linalg.solve_triangular(self.upper, z, trans="T"))
        out = np.empty_like(x)
        out[self.order] = x
        return out / self.norms

    def inverse_upper(self) -> np.ndarray:
        """U^-1, (p, p) upper triangular (LAPACK dtrtri: no identity matrix to solve against)."""
        inverse, info = scipy.linalg.lapack.dtrtri(self.upper, lower=0)
        if info != 0:
            raise np.linalg.LinAlgError(f"dtrtri: singular factor (info {info})")
        return inverse

    def inverse_diagonal(self) -> np.ndarray:
        """The diagonal of (X'X)^-1, (p,)."""
        inverse_upper = self.inverse_upper()
        out = np.empty(len(self.upper))
        out[self.order] = np.einsum("ij,ij->i", inverse_upper, inverse_upper)  # row sums of squares
        return out / self.norms**2

    def inverse(self) -> np.ndarray:
        """(X'X)^-1, (p, p)."""
        inverse_upper = self.inverse_upper()
        out = np.empty_like(inverse_upper)
        out[np.ix_(self.order, self.order)] = inverse_upper @ inverse_upper.T
        return out / np.outer(self.norms, self.norms)


def factorize(xtx: np.ndarray, overwrite: bool = False) -> Factor:
    """The Factor of the (p, p) ``xtx``; with ``overwrite`` it is computed in ``xtx``'s memory
    (no other p × p array: at p = 2004 each is 32 MB)."""
    norms = np.sqrt(np.diag(xtx))
    norms[norms == 0] = 1.0  # a zero column stays zero: its pivot, 0, counts as rank lost
    scaled = xtx if overwrite else xtx.copy()
    for r, norm in enumerate(norms.tolist()):  # row by row: no (p, p) temporary
        scaled[r] /= norm * norms
    upper, pivots, rank, _ = scipy.linalg.lapack.dpstrf(scaled, lower=0, overwrite_a=1)
    for r in range(1, len(upper)):  # dpstrf leaves the strict lower triangle as it found it
        upper[r, :r] = 0.0
    return Factor(upper, pivots - 1, norms, int(rank))


@dataclass(frozen=True)
class OlsFit:
    """OLS solved from sufficient statistics; the attributes mirror statsmodels' results.

    ``params``: (p,) with the intercept first; ``cov_diagonal``: the diagonal of (X'X)^-1;
    ``cluster_variance``: the diagonal of the covariance clustered by video and ``cluster_wald``
    the (F, p) of the words' Wald test under it (None when not asked for).
    """

    params: np.ndarray
    cov_diagonal: np.ndarray
    ssr: float
    centered_tss: float
    nobs: int
    n_videos: int
    cluster_variance: np.ndarray | None = None
    cluster_wald: tuple[float, float] | None = None

    @property
    def df_resid(self) -> int:
        return self.nobs - len(self.params)

    @property
    def df_model(self) -> int:
        return len(self.params) - 1

    @property
    def scale(self) -> float:
        return self.ssr / self.df_resid

    @property
    def bse(self) -> np.ndarray:
        return np.sqrt(self.cov_diagonal * self.scale)

    @property
    def tvalues(self) -> np.ndarray:
        return self.params / self.bse

    @property
    def pvalues(self) -> np.ndarray:
        return 2 * stats.t.sf(np.abs(self.tvalues), self.df_resid)

    @property
    def rsquared(self) -> float:
        return 1 - self.ssr / self.centered_tss

    @property
    def rsquared_adj(self) -> float:
        return 1 - (self.nobs - 1) / self.df_resid * (1 - self.rsquared)

    @property
    def fvalue(self) -> float:
        return (self.centered_tss - self.ssr) / self.df_model / self.scale

    @property
    def f_pvalue(self) -> float:
        return float(stats.f.sf(self.fvalue, self.df_model, self.df_resid))

    @property
    def llf(self) -> float:
        return -self.nobs / 2 * (np.log(2 * np.pi) + np.log(self.ssr / self.nobs) + 1)

    @property
    def aic(self) -> float:
        return -2 * self.llf + 2 * len(self.params)

    @property
    def bic(self) -> float:
        return -2 * self.llf + np.log(self.nobs) * len(self.params)

    @property
    def bse_cluster(self) -> np.ndarray:
        return np.sqrt(self.cluster_variance)

    @property
    def tvalues_cluster(self) -> np.ndarray:
        return self.params / self.bse_cluster

    @property
    def pvalues_cluster(self) -> np.ndarray:
        return 2 * stats.t.sf(np.abs(self.tvalues_cluster), self.n_videos - 1)

    def compare_f_test(self, restricted: OlsFit) -> tuple[float, float, int]:
        """(F, p, df_num) of this model against the nested ``restricted`` one, as statsmodels."""
        df_num = restricted.df_resid - self.df_resid
        f_value = (restricted.ssr - self.ssr) / df_num / self.scale
        return f_value, float(stats.f.sf(f_value, df_num, self.df_resid)), df_num


def ols_fit(moments: Moments, columns: np.ndarray, factor: Factor, shift: float) -> OlsFit:
    """The OLS fit over the design ``columns`` (indices into the moments' columns, the intercept
    first) of a full-rank design, ``factor`` its factorized X'X. ``shift`` was subtracted from y
    before summing; the intercept gets it back."""
    xty = moments.xty[columns]
    params = factor.solve(xty)
    ssr = moments.yty - params @ xty
    centered_tss = moments.yty - moments.xty[0] ** 2 / moments.n  # column 0 is the intercept
    params[0] += shift
    return OlsFit(params, factor.inverse_diagonal(), float(ssr), float(centered_tss), moments.n, moments.n_videos)


def with_cluster_cov(fit: OlsFit, bread: np.ndarray, meat: np.ndarray, block: slice) -> OlsFit:
    """``fit`` with the CRV1 covariance clustered by video, bread · meat · bread times
    statsmodels' correction G/(G-1) · (n-1)/(n-p) (``bread`` = (X'X)^-1, ``meat`` = Σ_v s_v s_v'),
    and the Wald test of the ``block`` coefficients under it, F(k, G-1): NaN when that
    covariance is singular on the block (fewer videos than words) or with fewer than 2 videos."""
    groups, p = fit.n_videos, len(fit.params)
    if groups < 2:
        return replace(fit, cluster_variance=np.full(p, np.nan), cluster_wald=(np.nan, np.nan))
    cov = bread @ meat @ bread * (groups / (groups - 1) * (fit.nobs - 1) / (fit.nobs - p))
    params = fit.params[block]
    wald = np.nan, np.nan
    factor = factorize(cov[block, block])
    if groups - 1 >= len(params) and factor.rank == len(params):
        f_value = float(params @ factor.solve(params)) / len(params)
        wald = f_value, float(stats.f.sf(f_value, len(params), groups - 1))
    return replace(fit, cluster_variance=np.diag(cov).copy(), cluster_wald=wald)


def drop_redundant_words(moments: Moments) -> np.ndarray:
    """Positions of the word columns (after the K controls) to keep: not constant over the scope
    (said in no caption or in every one: collinear with the intercept) and not a duplicate of an
    earlier kept column (words always said together), judged from the exact 0/1 counts: columns
    i, j are equal iff count_i = count_j = co-occurrences_ij. Kept columns keep their order."""
    counts = moments.cooccurrences(*(2 * [np.arange(len(moments.xty) - K)]))
    keep: list[int] = []
    for j in range(len(counts)):
        if counts[j] in (0, moments.n):
            continue
        kept = np.array(keep, dtype=np.int64)
        if ((counts[kept] == counts[j]) & (moments.cooccurrences(kept, j) == counts[j])).any():
            continue
        keep.append(j)
    return np.array(keep, dtype=np.int64)


def model_summary(fit: OlsFit, names: list[str]) -> str:
    """A statsmodels-like text summary: fit statistics, then one line per coefficient starting
    with its name (coef, std err, t, P>|t|, 95% interval; clustered SE, t, p when present)."""
    quantile = stats.t.ppf(0.975, fit.df_resid)
    header = (
        f"OLS of segment_auc   n = {fit.nobs}   parameters = {len(fit.params)}   df_resid = {fit.df_resid}\n"
        f"R-squared {fit.rsquared:.6f}   adj. R-squared {fit.rsquared_adj:.6f}   "
        f"F-statistic {fit.fvalue:.6g}   Prob (F-statistic) {fit.f_pvalue:.4g}\n"
        f"Log-likelihood {fit.llf:.6g}   AIC {fit.aic:.6g}   BIC {fit.bic:.6g}\n"
    )
    width = max(len(name) for name in names)
    columns = f"{'coef':>12} {'std err':>12} {'t':>9} {'P>|t|':>10} {'[0.025':>12} {'0.975]':>12}"
    clustered = fit.cluster_variance is not None
    if clustered:
        header += f"clustered by video: {fit.n_videos} videos, t on {fit.n_videos - 1} df\n"
        columns += f" {'se_cluster':>12} {'t_cluster':>9} {'p_cluster':>10}"
    lines = [f"{'':<{width}} {columns}"]
    coef, se, t, p = fit.params, fit.bse, fit.tvalues, fit.pvalues  # each a vector, computed once
    cluster = (fit.bse_cluster, fit.tvalues_cluster, fit.pvalues_cluster) if clustered else None
    for j, name in enumerate(names):
        line = (
            f"{name:<{width}} {coef[j]:>12.6f} {se[j]:>12.6f} {t[j]:>9.3f} {p[j]:>10.4g} "
            f"{coef[j] - quantile * se[j]:>12.6f} {coef[j] + quantile * se[j]:>12.6f}"
        )
        if cluster:
            line += f" {cluster[0][j]:>12.6f} {cluster[1][j]:>9.3f} {cluster[2][j]:>10.4g}"
        lines.append(line)
    return header + "\n".join(lines) + "\n"
