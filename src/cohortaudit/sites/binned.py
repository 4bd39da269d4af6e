"""One group's score histogram at one site, and the AUROC of binned scores.

A site file carries, per group, counts of events and non-events in score bins with the sums of
predictions, logits and squared logits in each (:mod:`cohortaudit.sites.export`). Everything a
coordinator computes from a group comes from these bins: confusion counts at thresholds that
no occupied bin straddles, re-binned tables (ECE, the risk histogram), the binned AUROC with
its error bound, and the rows of the federated calibration fit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from cohortaudit.sites.federated import SiteRows

__all__ = ["Binned", "binned_auroc", "binned_from_arrays"]


@dataclass(frozen=True)
class Binned:
    lo: np.ndarray
    hi: np.ndarray
    events: np.ndarray
    non_events: np.ndarray
    sp1: np.ndarray
    sp0: np.ndarray
    sl1: np.ndarray
    sl0: np.ndarray
    sq1: np.ndarray
    sq0: np.ndarray

    @classmethod
    def from_record(cls, edges: Sequence[float], h: dict[str, Any]) -> Binned:
        e = np.asarray(edges, dtype=np.float64)
        return cls(
            lo=e[:-1],
            hi=e[1:],
            events=np.asarray(h["events"], dtype=np.int64),
            non_events=np.asarray(h["non_events"], dtype=np.int64),
            sp1=np.asarray(h["sum_p_events"], dtype=np.float64),
            sp0=np.asarray(h["sum_p_non_events"], dtype=np.float64),
            sl1=np.asarray(h["sum_logit_events"], dtype=np.float64),
            sl0=np.asarray(h["sum_logit_non_events"], dtype=np.float64),
            sq1=np.asarray(h["sum_logit2_events"], dtype=np.float64),
            sq0=np.asarray(h["sum_logit2_non_events"], dtype=np.float64),
        )

    def between(self, cuts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """(events, non-events, sum p) in [cuts[i], cuts[i+1]); None if a bin straddles a cut."""
        occupied = (self.events + self.non_events) > 0
        inner = cuts[1:-1]
        straddle = (self.lo[:, None] < inner[None, :]) & (self.hi[:, None] > inner[None, :])
        if np.any(straddle[occupied]):
            return None
        idx = np.clip(np.searchsorted(cuts, self.lo, side="right") - 1, 0, len(cuts) - 2)
        m = len(cuts) - 1
        return (
            np.bincount(idx, weights=self.events, minlength=m).astype(np.int64),
            np.bincount(idx, weights=self.non_events, minlength=m).astype(np.int64),
            np.bincount(idx, weights=self.sp1 + self.sp0, minlength=m),
        )

    def at(self, t: float) -> tuple[int, int] | None:
        """(tp, fp) at threshold t, or None when a non-empty bin straddles t."""
        occupied = (self.events + self.non_events) > 0
        if np.any(occupied & (self.lo < t) & (self.hi > t)):
            return None
        above = self.lo >= t
        return int(self.events[above].sum()), int(self.non_events[above].sum())

    def risk_sums_at(self, t: float) -> tuple[float, int, float, int] | None:
        """(sum p, patients) at or above t and below t, or None when a non-empty bin straddles
        t: the expected error rates under calibration (``sum p`` is the file's sum of clipped
        p, which differs from p only within 1e-8 of 0 or 1)."""
        if self.at(t) is None:
            return None
        above = self.lo >= t
        sp, n = self.sp1 + self.sp0, self.events + self.non_events
        return (
            float(np.sum(sp[above])),
            int(n[above].sum()),
            float(np.sum(sp[~above])),
            int(n[~above].sum()),
        )

    def rows(self, *, slope: bool, spread: bool = True) -> SiteRows:
        """Two weighted rows per non-empty (bin, outcome), at the bin's mean logit +- its SD.

        Each half carries half the count, so the rows reproduce the bin's count, sum and sum
        of squares of logits exactly (a two-point quadrature of the within-bin distribution):
        the binned fit's error is then of the order of the within-bin fourth moment.
        """
        lp, y, w = [], [], []
        for count, s1, s2, label in (
            (self.events, self.sl1, self.sq1, 1.0),
            (self.non_events, self.sl0, self.sq0, 0.0),
        ):
            use = count > 0
            n = count[use].astype(np.float64)
            mean = s1[use] / n
            sd = np.sqrt(np.maximum(s2[use] / n - mean * mean, 0.0)) if spread else 0 * mean
            lp.extend([mean - sd, mean + sd])
            y.extend([np.full(n.size, label)] * 2)
            w.extend([n / 2.0, n / 2.0])
        x = np.concatenate(lp)
        ones = np.ones(x.size)
        yy, ww = np.concatenate(y), np.concatenate(w)
        if slope:
            return SiteRows(np.column_stack([ones, x]), yy, ww, np.zeros(x.size))
        return SiteRows(ones[:, None], yy, ww, x)


def binned_auroc(parts: Sequence[Binned]) -> tuple[float, float, float]:
    """AUROC, its DeLong standard error and the bin error bound, from binned outcomes.

    A case in bin [a, b) certainly outranks a control in bin [c, d) when d <= a, certainly not
    when b <= c; otherwise (overlapping bins, same bin included) the pair counts one half and
    its contribution may be off by at most one half. With the same bins on both sides this is
    REFERENCE.md's AUC_bin and bound exactly.
    """
    c_lo = np.concatenate([p.lo[p.events > 0] for p in parts])
    c_hi = np.concatenate([p.hi[p.events > 0] for p in parts])
    c_w = np.concatenate([p.events[p.events > 0] for p in parts]).astype(np.float64)
    k_lo = np.concatenate([p.lo[p.non_events > 0] for p in parts])
    k_hi = np.concatenate([p.hi[p.non_events > 0] for p in parts])
    k_w = np.concatenate([p.non_events[p.non_events > 0] for p in parts]).astype(np.float64)
    n1, n0 = float(c_w.sum()), float(k_w.sum())
    if n1 == 0 or n0 == 0:
        return math.nan, math.nan, math.nan

    def certain(lo_w_key, w, query, side):
        order = np.argsort(lo_w_key, kind="stable")
        cum = np.concatenate([[0.0], np.cumsum(w[order])])
        return cum[np.searchsorted(lo_w_key[order], query, side=side)]

    below = certain(k_hi, k_w, c_lo, "right")  # controls with d <= a
    above = n0 - certain(k_lo, k_w, c_hi, "left")  # controls with c >= b
    unc = n0 - below - above
    v10 = (below + 0.5 * unc) / n0
    auc = float(np.sum(c_w * v10) / n1)
    bound = float(0.5 * np.sum(c_w * unc) / (n1 * n0))
    c_below = certain(c_hi, c_w, k_lo, "right")  # cases with b <= c
    c_above = n1 - certain(c_lo, c_w, k_hi, "left")  # cases with a >= d
    v01 = (c_above + 0.5 * (n1 - c_below - c_above)) / n1
    if n1 < 2 or n0 < 2:
        return auc, math.nan, bound
    s10 = float(np.sum(c_w * (v10 - auc) ** 2)) / (n1 - 1)
    s01 = float(np.sum(k_w * (v01 - auc) ** 2)) / (n0 - 1)
    return auc, math.sqrt(s10 / n1 + s01 / n0), bound


def binned_from_arrays(edges: np.ndarray, a: dict[str, np.ndarray]) -> Binned:
    return Binned(
        lo=edges[:-1],
        hi=edges[1:],
        events=a["events"],
        non_events=a["non_events"],
        sp1=a["sp1"],
        sp0=a["sp0"],
        sl1=a["sl1"],
        sl0=a["sl0"],
        sq1=a["sq1"],
        sq0=a["sq0"],
    )
