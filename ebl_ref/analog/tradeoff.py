"""The read-noise / β trade-off on gradients (``run.py gradcheck --read-noise``).

Every rule divides a difference of two measured states by β (one-sided rules, eqs. 5, 8) or
2β (centred rules, eqs. 6, 9): read-out noise of std σ on the states adds noise of std ∝ σ/β to
the estimate, while its bias falls as O(β) (Theorem 2) or O(β²) (Theorem 3). For each σ and
β this measures the cosine to the reference gradient (RBP) over ``draws`` independent read-outs
of the *same* relaxed states (:meth:`ebl_ref.rules.Phases.read_through`), so only the read
differs: mean and standard deviation over the draws.
"""
from __future__ import annotations

import numpy as np

from ..atomic import atomic_write_csv
from .config import AnalogConfig
from .device import build

RULES = ("cl", "p-ep", "n-ep", "c-ep", "p-cpl", "n-cpl", "c-cpl")


def tradeoff_rows(ph, ref: dict, compare, host, net, sigmas, betas, draws: int,
                  seed: int, out_res: float = 0.0) -> list:
    """One row per (rule, β, σ): ``{"rule", "beta", "sigma", "cosine_mean", "cosine_std",
    "rel_error_mean", "draws"}`` (CL once per σ, β None).

    ``ph`` : the ideal :class:`~ebl_ref.rules.Phases` (its relaxations are reused);
    ``ref`` : the reference gradient (host float64 dict); ``compare(g, ref)`` and ``host(g)``
    as in :mod:`ebl_ref.gradcheck`. The read-out noise comes from one Generator seeded with
    ``seed`` (drawn in the order of the rows).
    """
    from ..algorithms import ALGORITHMS  # noqa: PLC0415 (algorithms imports rules)
    rng = np.random.default_rng(seed)
    rows = []
    for sigma in sigmas:
        dev = build(AnalogConfig(out_noise=sigma, out_res=out_res), net, (1.0,) * 5, seed,
                    ph.params).with_rng(rng)
        noisy = ph.read_through(dev)
        for rule in RULES:
            for beta in ([None] if rule == "cl" else betas):
                n = 1 if sigma == 0 and out_res == 0 else draws
                got = [compare(host(ALGORITHMS[rule](noisy, 1.0 if beta is None else beta)),
                               ref) for _ in range(n)]
                cos = np.array([g["cosine"]["all"] for g in got])
                rel = np.array([g["rel_error"]["all"] for g in got])
                rows.append({"rule": rule, "beta": beta, "sigma": sigma,
                             "cosine_mean": float(cos.mean()), "cosine_std": float(cos.std()),
                             "rel_error_mean": float(rel.mean()), "draws": n})
    return rows


def write_csv(path, rows: list) -> None:
    """The rows as CSV (header: the row keys; floats to 6 significant digits), written
    atomically."""
    keys = list(rows[0])
    atomic_write_csv(path, keys, ([("" if r[k] is None else f"{r[k]:.6g}"
                                    if isinstance(r[k], float) else r[k]) for k in keys]
                                  for r in rows), lineterminator="\n")
