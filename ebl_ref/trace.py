"""Golden reference traces for ports: ``python -m ebl_ref.trace --out DIR``.

Writes one small, fully specified C-EP training update in float64 — parameters, input, target,
the state after **every half-step** of the free phase and of both nudged phases, F (+βC) after
each half-step, ∂E/∂θ at the three equilibria, the C-EP gradient and the parameters after one
SGD step — as ``trace.npz`` (``allow_pickle=False``) with ``manifest.json`` (settings, shapes,
sha256 of every array). A port (another language, a simulator of an analog chip) reproduces
the same numbers half-step by half-step; see ``docs/PORTING.md``.

Arrays are stored in the conventional **(B, C, H, W)** layout (not the library's internal
batch-last one) and named ``free/03/s2`` = layer s2 after half-step 3 of the free phase
(half-steps alternate odd group {s1, s3, o}, even group {s2, s4}; the input is ``x``).
"""
from __future__ import annotations

import hashlib
import itertools
import json
import sys
from pathlib import Path

import numpy as np

from .flags import Parser
from .minimize import relax, zero_state
from .network import DCHN, OUTPUT, cost, init_params, one_hot, param_grads, total_energy
from .ops import batch_first, channel_major
from .optim import sgd_step
from .rules import contrast
from .values import UsageError

SETTINGS = {"in_channels": 1, "widths": [2, 3, 4, 4], "n_classes": 3, "image_size": 16,
            "batch": 2, "seed": 0, "gains": [1.0] * 5, "beta": 0.25, "free_iters": 10,
            "train_iters": 5, "mode": "async", "lr": [0.05] * 5, "momentum": 0.9,
            "weight_decay": 3e-4}


def _conventional(a):
    """Internal (C, H, W, B) -> (B, C, H, W); the output (B, M) is left as it is."""
    return batch_first(a) if a.ndim == 4 else np.array(a)


def _recorder(params, beta, y, prefix, out):
    """An ``observe`` for :func:`~ebl_ref.minimize.relax` that writes the state after every
    half-step and F + βC into ``out`` under ``prefix/NN/`` (NN = 01, 02, …)."""
    count = itertools.count(1)

    def record(rec):
        t = next(count)
        for k in range(1, 6):
            out[f"{prefix}/{t:02d}/s{k}" if k < OUTPUT else f"{prefix}/{t:02d}/o"] = (
                _conventional(rec.s_new[k]))
        out[f"{prefix}/{t:02d}/F_plus_betaC"] = (total_energy(params, rec.s_new)
                                                 + beta * cost(rec.s_new[OUTPUT], y))

    return record


def make_trace(settings: dict = SETTINGS) -> dict:
    """Compute the trace; returns name -> float64 array."""
    st = settings
    net = DCHN(st["in_channels"], tuple(st["widths"]), st["n_classes"], st["image_size"])
    rng = np.random.default_rng(st["seed"])
    params = init_params(net, rng, st["gains"])
    images = rng.standard_normal((st["batch"], st["in_channels"], net.image_size,
                                  net.image_size))
    labels = rng.integers(0, net.n_classes, st["batch"])
    x = channel_major(images)
    y = one_hot(labels, net.n_classes, x)
    out = {f"param/{k}": v for k, v in params.items()}
    out.update({"x": images, "labels": labels.astype(np.float64), "y": y})

    beta = st["beta"]
    eq = {0.0: relax(params, zero_state(net, x), st["free_iters"], mode=st["mode"],
                     observe=_recorder(params, 0.0, y, "free", out))}              # eq. (1)
    for b, name in ((beta, "nudged_plus"), (-beta, "nudged_minus")):                 # eq. (4)
        eq[b] = relax(params, eq[0.0].s, st["train_iters"], beta=b, y=y, mode=st["mode"],
                      observe=_recorder(params, b, y, name, out))
    for b, name in ((0.0, "free"), (beta, "nudged_plus"), (-beta, "nudged_minus")):
        out.update({f"dE_dtheta/{name}/{k}": v
                    for k, v in param_grads(params, eq[b].s, eq[b].drives).items()})

    grads = contrast(params, eq[-beta], -beta, eq[beta], beta)  # C-EP, eq. (6)
    out.update({f"grad_c_ep/{k}": v for k, v in grads.items()})
    new_params, _ = sgd_step(params, grads, None, st["lr"], st["momentum"], st["weight_decay"])
    out.update({f"param_after_step/{k}": v for k, v in new_params.items()})
    return {k: np.asarray(v, dtype=np.float64) for k, v in out.items()}


def write_trace(folder: Path, settings: dict = SETTINGS) -> Path:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    trace = make_trace(settings)
    np.savez_compressed(folder / "trace.npz", **trace)
    manifest = {"settings": settings, "layout": "(B, C, H, W) for images and hidden layers",
                "arrays": {k: {"shape": list(v.shape),
                               "sha256": hashlib.sha256(v.tobytes()).hexdigest()}
                           for k, v in trace.items()}}
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return folder / "trace.npz"


def add_arguments(p) -> None:
    """The flags of ``run.py trace``."""
    p.add_argument("--out", default="golden-trace", metavar="DIR",
                   help="folder to write (created if absent; default golden-trace)")


def main(argv=None) -> int:
    """Entry point of ``run.py trace``; bad input raises ``SystemExit("trace: ...")``."""
    p = Parser(prog="run.py trace",
               description="Write a golden reference trace of one tiny C-EP training step in "
                           "float64 (every half-step of every phase, the gradient, the step) as "
                           "trace.npz and manifest.json; see docs/PORTING.md.")
    add_arguments(p)
    try:
        args = p.parse_args(argv)
    except UsageError as exc:
        raise SystemExit(f"trace: {exc}") from None
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise SystemExit(f"trace: --out {out} is a file, not a folder: choose a folder")
    try:
        path = write_trace(out)
    except OSError as exc:
        raise SystemExit(f"trace: cannot write {out}: {exc}") from None
    print(f"wrote {path} and {path.parent / 'manifest.json'}")
    return 0


if __name__ == "__main__":
    from .cli import main as cli_main
    sys.exit(cli_main(["trace", *sys.argv[1:]]))
