"""Seeded survival cohorts shared by the survival tests (tie-free, heavily tied, small)."""

from __future__ import annotations

import numpy as np


def continuous(n: int = 400, seed: int = 2) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Tie-free times; risk related to the hazard; uniform censoring; horizon 5."""
    rng = np.random.default_rng(seed)
    risk = rng.uniform(0.02, 0.9, n)
    t = rng.exponential(8 * (1 - risk) + 0.5)
    c = rng.uniform(0.5, 12, n)
    return np.minimum(t, c), (t <= c).astype(int), risk, 5.0


def tied(n: int = 300, seed: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Integer times (events and censorings tied with each other and with the horizon 4) and
    risks on a 0.05 grid (tied risks)."""
    rng = np.random.default_rng(seed)
    risk = np.round(rng.uniform(0.05, 0.9, n) / 0.05) * 0.05
    t = np.ceil(rng.exponential(6 * (1 - risk) + 0.5))
    c = np.ceil(rng.uniform(0.5, 9, n))
    return np.minimum(t, c), (t <= c).astype(int), risk, 4.0
