"""Golden reference traces for ports: ``python -m ebl_ref.trace --trace NAME --out DIR``.

Two traces, each a ``trace.npz`` (``allow_pickle=False``) with a ``manifest.json`` (settings,
layouts, every array's shape, dtype and sha256); ``docs/PORTING.md`` §8 says how to use them,
and ``python -m ebl_ref.trace --compare MINE.npz`` (:mod:`ebl_ref.trace_compare`) checks a
port's arrays against them with stated tolerances.

``tiny`` (``data/golden/``) — one small C-EP training update in float64: parameters, input,
target, the state after **every half-step** of the free phase and of both nudged phases, F (+βC)
after each half-step, ∂E/∂θ at the three final states, the C-EP gradient and the parameters
after one SGD step. Kept exactly as first committed (its labels are stored as float64).

``paper-geometry`` (``data/golden/paper-geometry/``) — the paper's geometry (32×32 inputs,
3 channels, s4 of 2×2, 10 classes) at small widths, float64, with exact-zero blocks in the
input so that pooling windows tie, some partially: every half-step's block-level
intermediates (pooled drives, the arg-max routes read, feedback terms, pre-activations before
the clip, the state, F + βC, C, the largest change), the default β = 0 state, the gradients of
C-EP, P-EP and N-EP, the pooling routes at every final state, converged references for both
schedules, a three-step optimiser segment, and the input pipeline on synthetic images.

Arrays are stored in the conventional **(B, C, H, W)** layout (not the library's internal
batch-last one) and named ``free/03/s2`` = layer s2 after half-step 3 of the free phase
(half-steps alternate odd group {s1, s3, o}, even group {s2, s4}; the input is ``x``).
"""
from __future__ import annotations

import copy
import hashlib
import itertools
import json
import sys
from pathlib import Path

import numpy as np

from .algorithms import estimate_gradient
from .atomic import atomic_write_bytes, atomic_write_text
from .flags import Parser
from .minimize import Equilibrium, convs_read, relax, zero_state
from .network import (DCHN, HIDDEN, OUTPUT, cost, init_params, one_hot, param_grads,
                      pooled_drive, preactivation, total_energy)
from .ops import batch_first, channel_major, conv2d_transpose, dense_transpose, unpool2x2
from .optim import cosine_lr, sgd_step
from .rules import contrast
from .values import UsageError

SETTINGS = {"in_channels": 1, "widths": [2, 3, 4, 4], "n_classes": 3, "image_size": 16,
            "batch": 2, "seed": 0, "gains": [1.0] * 5, "beta": 0.25, "free_iters": 10,
            "train_iters": 5, "mode": "async", "lr": [0.05] * 5, "momentum": 0.9,
            "weight_decay": 3e-4}

# The paper-geometry trace. Widths are small (and all different, so that a transposed axis
# shows) to keep the file small; everything else is the paper's CIFAR geometry (§3, §4). The
# learning rates are Table 1's per-layer rates; the weight decay is larger than Table 1's 3e-4
# on purpose, so that its term (on the biases too) is visible above float32 round-off.
PAPER_SETTINGS = {
    "in_channels": 3, "widths": [3, 4, 5, 6], "n_classes": 10, "image_size": 32, "batch": 2,
    "seed": 2023, "gains": [1.0] * 5, "beta": 0.25, "free_iters": 12, "train_iters": 4,
    "mode": "async",
    # [example, row0, row1, col0, col1]: x[b, :, row0:row1, col0:col1] = 0 exactly (odd
    # offsets, an L shape, a block on the image border): pooling ties of conv1, some partial.
    "zero_blocks": [[0, 5, 14, 3, 12], [0, 20, 29, 19, 24], [0, 25, 29, 19, 31],
                    [1, 17, 30, 9, 26], [1, 0, 7, 0, 5]],
    "converged": {"modes": ["async", "sync"], "tol": 1e-13, "tol_float32": 1e-6,
                  "max_iters": 3000},
    "optimiser": {"steps": 3, "epochs": 3, "lr": [0.0625, 0.0375, 0.025, 0.02, 0.0125],
                  "momentum": 0.9, "weight_decay": 0.01, "eta_min": 2e-6},
    "pipeline": {"datasets": ["mnist", "cifar10"], "batch": 2},
}

HASH_COVERS = ("sha256 of the array's bytes exactly as stored in trace.npz: C order, "
               "little-endian, the dtype listed (numpy: hashlib.sha256(np.ascontiguousarray(a)"
               ".tobytes())); it covers the values only, not the shape or dtype, which are listed "
               "beside it")

LAYOUT = {
    "x, s1..s4, drive_k, feedback_k, a_k": "(B, C_k, S/2^k, S/2^k), k = 0 for x: batch, "
                                            "channel, row, column",
    "argmax_k": "int8, shaped like s_k: position 0..3 of the maximum in its 2x2 window of "
                "W_k * s_{k-1} (0 = (0,0), 1 = (0,1), 2 = (1,0), 3 = (1,1), (row, column) "
                "offsets from (2Y, 2X)); first maximum wins",
    "o, a5, y": "(B, M)",
    "labels": "(B,) integers",
    "F_plus_betaC, C": "(B,) per example",
    "change": "() the largest |s_new - s_old| over the layers of the half-step",
    "W1..W4": "(C_k, C_{k-1}, 3, 3): [out channel, in channel, kernel row, kernel column]",
    "W5": "(C4, S/16, S/16, M): [c, y, x, j], s4 flattened in (c, y, x) order",
    "b1..b5": "(C_k,), b5 (M,)",
    "gradients": "shaped like the parameter; per_example arrays have a leading (B,) axis",
}


def _conventional(a):
    """Internal (C, H, W, B) -> (B, C, H, W); the output (B, M) is left as it is."""
    return batch_first(a) if a.ndim == 4 else np.array(a)


def _layer(k: int) -> str:
    return "o" if k == OUTPUT else f"s{k}"


# --------------------------------------------------------------------------- the tiny trace

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


def make_trace(settings: dict = SETTINGS, dtype=np.float64) -> dict:
    """Compute the tiny trace; returns name -> float64 array (``dtype=np.float32``: the same
    computation in float32, parameters and input drawn in float64 then cast)."""
    st = settings
    net = DCHN(st["in_channels"], tuple(st["widths"]), st["n_classes"], st["image_size"])
    rng = np.random.default_rng(st["seed"])
    params = {k: v.astype(dtype) for k, v in init_params(net, rng, st["gains"]).items()}
    images = rng.standard_normal((st["batch"], st["in_channels"], net.image_size,
                                  net.image_size)).astype(dtype)
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
    return {k: np.asarray(v, dtype=dtype) for k, v in out.items()}


# --------------------------------------------------------------------------- paper geometry

def feedback(params: dict, s: list, drives: list, k: int):
    """The top-down term of a_k (paper §3): ``W_{k+1} ⋆ᵀ U(s_{k+1})`` through the arg-max of
    ``drives[k+1]`` for k = 1..3, ``W5 · o`` for k = 4; shaped like s_k."""
    if k == 4:
        return dense_transpose(s[OUTPUT], params["W5"])
    return conv2d_transpose(unpool2x2(s[k + 1], drives[k + 1][1]), params[f"W{k + 1}"],
                            s[k].shape)


def _same(recomputed, recorded, name: str) -> None:
    if not np.array_equal(recomputed, recorded):
        raise RuntimeError(f"{name}: recomputing the half-step differs from the relaxation "
                           "(the trace would not describe the code)")


def _block_recorder(params, beta, y, prefix, out):
    """An ``observe`` that writes, for half-step NN under ``prefix/NN/``: for each updated
    layer k its pooled drive ``drive{k}``, the route ``argmax{k+1}`` its feedback went through,
    ``feedback{k}``, the pre-activation ``a{k}`` before the clip (``a5`` before the nudge); then
    the whole state after the half-step, F + βC, C and the largest change. Everything is
    recomputed from the record's state before the half-step and checked against what the
    relaxation wrote."""
    count = itertools.count(1)

    def record(rec):
        p = f"{prefix}/{next(count):02d}/"
        drives = [None] * 5
        for k in convs_read(rec.group):
            drives[k] = pooled_drive(params, rec.s, k)
            _same(drives[k][1], rec.idx[k], f"{p}argmax{k}")
        for k in rec.group:
            a = preactivation(params, rec.s, drives, k)
            if k in HIDDEN:
                out[p + f"drive{k}"] = _conventional(drives[k][0])
                if k < 4:
                    out[p + f"argmax{k + 1}"] = _conventional(drives[k + 1][1])
                out[p + f"feedback{k}"] = _conventional(feedback(params, rec.s, drives, k))
                _same(np.clip(a, 0.0, 1.0), rec.s_new[k], f"{p}s{k}")
            out[p + f"a{k}"] = _conventional(a)
        for k in range(1, 6):
            out[p + _layer(k)] = _conventional(rec.s_new[k])
        c = cost(rec.s_new[OUTPUT], y)
        out[p + "F_plus_betaC"] = total_energy(params, rec.s_new) + beta * c
        out[p + "C"] = c
        out[p + "change"] = np.array(max(float(abs(rec.s_new[k] - rec.s[k]).max())
                                         for k in rec.group))

    return record


def _final(params, eq, name, out):
    """The routes (arg-max of W_k ⋆ s_{k−1} at the final state, k = 1..4) and ∂E/∂θ there."""
    for k in HIDDEN:
        out[f"routes/{name}/argmax{k}"] = _conventional(eq.drives[k][1] if eq.drives[k]
                                                        else pooled_drive(params, eq.s, k)[1])
    out.update({f"dE_dtheta/{name}/{k}": v
                for k, v in param_grads(params, eq.s, eq.drives).items()})


def example_state(s: list, b: int) -> list:
    """The state of example ``b`` alone (a batch of one)."""
    return [a[..., b:b + 1] for a in s[:OUTPUT]] + [s[OUTPUT][b:b + 1]]


def state_only(s: list) -> Equilibrium:
    """An :class:`~ebl_ref.minimize.Equilibrium` holding a state alone (drives recomputed)."""
    return Equilibrium(s=s, drives=[None] * 5, iterations=0, residual=float("nan"))


def _per_example_contrast(params, s_a, beta_a, s_b, beta_b, batch) -> dict:
    """The contrast of each example on its own (a batch of one), stacked: (B,) + shape."""
    per = [contrast(params, state_only(example_state(s_a, b)), beta_a,
                    state_only(example_state(s_b, b)), beta_b) for b in range(batch)]
    return {k: np.stack([g[k] for g in per]) for k in per[0]}


def _converged(params, net, x, y, st, out):
    """For each schedule: the free fixed point reached from zero, the nudged fixed points at
    ±β reached from it (same schedule), and the C-EP gradient there, batch mean and per
    example."""
    cv, beta = st["converged"], st["beta"]
    tol = cv["tol"] if x.dtype == np.float64 else cv["tol_float32"]
    for mode in cv["modes"]:
        p = f"converged/{mode}/"
        free = relax(params, zero_state(net, x), cv["max_iters"], mode=mode, tol=tol)
        eq, counts = {}, [free.iterations]
        for b in (beta, -beta):
            eq[b] = relax(params, free.s, cv["max_iters"], beta=b, y=y, mode=mode,
                          tol=tol, drives=free.drives)
            counts.append(eq[b].iterations)
        for e, name in ((free, "free"), (eq[beta], "nudged_plus"), (eq[-beta], "nudged_minus")):
            if e.residual > tol:
                raise RuntimeError(f"{p}{name} did not converge: residual {e.residual:.2e}")
            for k in range(1, 6):
                out[f"{p}{name}/{_layer(k)}"] = _conventional(e.s[k])
        out[p + "iterations"] = np.array(counts, dtype=np.int64)
        g = contrast(params, eq[-beta], -beta, eq[beta], beta)
        out.update({f"{p}grad_c_ep/{k}": v for k, v in g.items()})
        per = _per_example_contrast(params, eq[-beta].s, -beta, eq[beta].s, beta, x.shape[-1])
        out.update({f"{p}grad_c_ep_per_example/{k}": v for k, v in per.items()})


def _optimiser(params, net, x, y, st, out):
    """``steps`` C-EP steps on the trace's batch, one per epoch of a cosine schedule of
    ``epochs`` epochs: the rates, gradient, momentum buffer and parameters of each step."""
    opt, velocity = st["optimiser"], None
    for n in range(1, opt["steps"] + 1):
        p = f"optim/{n:02d}/"
        lrs = [cosine_lr(lr0, n, opt["epochs"], opt["eta_min"]) for lr0 in opt["lr"]]
        grads, free = estimate_gradient("c-ep", params, net, x, y, beta=st["beta"],
                                        free_iters=st["free_iters"],
                                        train_iters=st["train_iters"], mode=st["mode"])
        params, velocity = sgd_step(params, grads, velocity, lrs, opt["momentum"],
                                    opt["weight_decay"])
        out[p + "lr"] = np.array(lrs)
        out[p + "o_free"] = free.s[OUTPUT]
        for group, d in (("grad", grads), ("velocity", velocity), ("param", params)):
            out.update({f"{p}{group}/{k}": v for k, v in d.items()})


def _pipeline(rng, st, out):
    """Synthetic uint8 images through :func:`ebl_ref.data.preprocess`, for evaluation and for
    training (with the crop offsets and flips the augmentation drew)."""
    from .data import DATASETS, preprocess  # noqa: PLC0415  (the data package is optional)

    n = st["pipeline"]["batch"]
    for name in st["pipeline"]["datasets"]:
        spec, p = DATASETS[name], f"pipeline/{name}/"
        side = spec.image_size
        raw = rng.integers(0, 256, size=(n, side, side, spec.channels), dtype=np.uint8)
        raw[:, : side // 4] = 0                       # a black band: the 28 -> 32 border shows
        raw = raw[..., 0] if spec.channels == 1 else raw
        out[p + "raw"] = raw
        out[p + "x"] = batch_first(preprocess(raw, spec, dtype=np.float64))
        draws = copy.deepcopy(rng)                     # what preprocess is about to draw
        offsets = draws.integers(0, 2 * spec.crop_pad + 1, size=(n, 2))
        flips = draws.random(n) < 0.5 if spec.flip else np.zeros(n, dtype=bool)
        out[p + "x_train"] = batch_first(preprocess(raw, spec, rng, train=True,
                                                    dtype=np.float64))
        out[p + "crop_offsets"] = offsets.astype(np.int64)
        out[p + "flips"] = flips.astype(np.int64)


def make_paper_trace(settings: dict = PAPER_SETTINGS, dtype=np.float64) -> dict:
    """Compute the paper-geometry trace; returns name -> array (float ``dtype``, int8 routes,
    int64 labels and counts, uint8 raw images). ``dtype=np.float32`` runs the same computation
    in float32 (parameters drawn in float64, then cast) to measure its round-off."""
    st = settings
    net = DCHN(st["in_channels"], tuple(st["widths"]), st["n_classes"], st["image_size"])
    rng = np.random.default_rng(st["seed"])
    params64 = init_params(net, rng, st["gains"])
    images = rng.standard_normal((st["batch"], net.in_channels, net.image_size,
                                  net.image_size))
    for b, r0, r1, c0, c1 in st["zero_blocks"]:
        images[b, :, r0:r1, c0:c1] = 0.0
    labels = rng.integers(0, net.n_classes, st["batch"])
    params = {k: v.astype(dtype) for k, v in params64.items()}
    x = channel_major(images.astype(dtype))
    y = one_hot(labels, net.n_classes, x)
    out = {f"param/{k}": v for k, v in params.items()}
    out.update({"x": batch_first(x), "labels": labels.astype(np.int64), "y": y})

    beta, it = st["beta"], st["train_iters"]
    eq = {"free": relax(params, zero_state(net, x), st["free_iters"], mode=st["mode"],
                        observe=_block_recorder(params, 0.0, y, "free", out))}      # eq. (1)
    for b, name in ((beta, "nudged_plus"), (-beta, "nudged_minus"), (0.0, "nudged_zero")):
        eq[name] = relax(params, eq["free"].s, it, beta=b, y=y, mode=st["mode"],  # eq. (4)
                         drives=eq["free"].drives,
                         observe=_block_recorder(params, b, y, name, out))
    for name, e in eq.items():
        _final(params, e, name, out)
    rules = {"c_ep": ("nudged_minus", -beta, "nudged_plus", beta),    # eq. (6)
             "p_ep": ("nudged_zero", 0.0, "nudged_plus", beta),       # eq. (5), β = 0 relaxed
             "n_ep": ("nudged_minus", -beta, "nudged_zero", 0.0)}     # eq. (5), −β
    for rule, (a, beta_a, b, beta_b) in rules.items():
        g = contrast(params, eq[a], beta_a, eq[b], beta_b)
        out.update({f"grad_{rule}/{k}": v for k, v in g.items()})
    _converged(params, net, x, y, st, out)
    _optimiser(params, net, x, y, st, out)
    _pipeline(rng, st, out)
    return {k: np.asarray(v, dtype=dtype) if np.asarray(v).dtype.kind == "f" else np.asarray(v)
            for k, v in out.items()}


# --------------------------------------------------------------------------- files

TRACES = {"tiny": (SETTINGS, make_trace), "paper-geometry": (PAPER_SETTINGS, make_paper_trace)}
GOLDEN = {"tiny": "data/golden", "paper-geometry": "data/golden/paper-geometry"}


def digest(a: np.ndarray) -> str:
    """The manifest's hash of an array (see :data:`HASH_COVERS`)."""
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


def _round_up(v: float) -> float:
    """``v`` rounded up to one significant digit (0 stays 0)."""
    if v <= 0:
        return 0.0
    unit = 10.0 ** np.floor(np.log10(v))
    return float(f"{np.ceil(v / unit * (1 - 1e-12)) * unit:.0e}")


def tolerances(trace: dict, trace32: dict) -> dict:
    """name -> ``{"float64": t, "float32": t}``, the largest acceptable max |port − golden|
    of every float array: float32 10× the error of the same computation in float32, at least 4
    ulps of the array's largest value (of 1 for ``change``, a difference of states); float64
    1e-6 of that, at least 1e-12·max(1, scale) (absolute 1e-12 for an array within ±1) —
    rounded up to one digit."""
    eps32 = float(np.finfo(np.float32).eps)
    out = {}
    for k, ref in trace.items():
        if ref.dtype.kind != "f":
            continue
        scale = float(np.abs(ref).max()) if ref.size else 0.0
        if k.endswith("/change"):  # a difference of states: its round-off is theirs (≥ 1)
            scale = max(scale, 1.0)
        err32 = float(np.abs(trace32[k].astype(np.float64) - ref).max()) if ref.size else 0.0
        t32 = _round_up(max(10 * err32, 4 * eps32 * scale))
        out[k] = {"float64": _round_up(max(1e-6 * t32, 1e-12 * max(scale, 1.0))),
                  "float32": t32}
    return out


def manifest_of(trace: dict, which: str, settings: dict, tolerance: dict) -> dict:
    """The manifest of a trace: settings, layouts, what the hash covers, and name -> shape,
    dtype, sha256 (and, for floats, the tolerances of :func:`tolerances`) of every array in
    the order of the computation."""
    labels = ("float64 (integer values), as first committed" if which == "tiny"
              else "int64")
    return {"trace": which, "settings": settings,
            "command": f"python -m ebl_ref.trace --trace {which} --out {GOLDEN[which]}",
            "layout": "(B, C, H, W) for images and hidden layers", "layouts": LAYOUT,
            "labels": labels, "hash": HASH_COVERS,
            "informational": ("iteration counts depend on the relaxation and the dtype: "
                              "not compared"),
            "tolerance": ("per float array: the largest acceptable max |port - golden| for a "
                          "float64 and a float32 port (10x this computation's own float32 "
                          "error; docs/PORTING.md section 8)"),
            "arrays": {k: {"shape": list(v.shape), "dtype": str(v.dtype), "sha256": digest(v),
                           **({"tolerance": tolerance[k]} if k in tolerance else {}),
                           **({"informational": True} if k.endswith("/iterations") else {})}
                       for k, v in trace.items()}}


def manifest_text(manifest: dict) -> str:
    """The manifest as JSON text, one line per setting, layout and array (readable, diffable)."""
    def block(value, indent):
        if not isinstance(value, dict):
            return json.dumps(value)
        rows = ",\n".join(f"{indent} {json.dumps(k)}: {json.dumps(v)}" for k, v in value.items())
        return f"{{\n{rows}\n{indent}}}"

    rows = ",\n".join(f" {json.dumps(k)}: {block(v, ' ')}" for k, v in manifest.items())
    return f"{{\n{rows}\n}}\n"


def write_trace(folder: Path, settings: dict | None = None, which: str = "tiny") -> Path:
    """Compute trace ``which`` and write ``trace.npz`` and ``manifest.json`` into ``folder``
    (created if missing; each file written atomically). Returns the npz's path."""
    settings, make = (TRACES[which][0] if settings is None else settings), TRACES[which][1]
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    trace = make(settings)
    atomic_write_bytes(folder / "trace.npz", lambda f: np.savez_compressed(f, **trace))
    manifest = manifest_of(trace, which, settings,
                           tolerances(trace, make(settings, dtype=np.float32)))
    atomic_write_text(folder / "manifest.json", manifest_text(manifest))
    return folder / "trace.npz"


def add_arguments(p) -> None:
    """The flags of ``run.py trace``."""
    p.add_argument("--out", default="golden-trace", metavar="DIR",
                   help="folder to write (created if absent; default golden-trace)")
    p.add_argument("--trace", choices=sorted(TRACES),
                   help="which trace to write (default tiny; the committed ones: "
                        + ", ".join(f"{k} in {v}/" for k, v in GOLDEN.items()) + ")")
    p.add_argument("--compare", metavar="MINE.npz",
                   help="instead of writing, compare a port's arrays with a committed trace; "
                        "further flags go to python -m ebl_ref.trace_compare (--dtype, --all, "
                        "--golden, --json)")


def main(argv=None) -> int:
    """Entry point of ``run.py trace``; bad input raises ``SystemExit("trace: ...")``."""
    p = Parser(prog="run.py trace",
               description="Write a golden reference trace (tiny: one small C-EP training step; "
                           "paper-geometry: the paper's geometry at small widths with every "
                           "half-step's intermediates) as trace.npz and manifest.json, or "
                           "compare a port's arrays with one (--compare); see docs/PORTING.md.")
    add_arguments(p)
    try:
        args, rest = p.parse_known_args(argv)
    except UsageError as exc:
        raise SystemExit(f"trace: {exc}") from None
    if args.compare:
        from .trace_compare import main as compare_main  # noqa: PLC0415
        return compare_main([args.compare] + (["--trace", args.trace] if args.trace else [])
                            + rest)
    if rest:
        raise SystemExit(f"trace: unrecognized arguments: {' '.join(rest)} "
                         "(see run.py trace --help)")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise SystemExit(f"trace: --out {out} is a file, not a folder: choose a folder")
    try:
        path = write_trace(out, which=args.trace or "tiny")
    except OSError as exc:
        raise SystemExit(f"trace: cannot write {out}: {exc}") from None
    print(f"wrote {path} and {path.parent / 'manifest.json'}")
    return 0


if __name__ == "__main__":
    from .cli import main as cli_main
    sys.exit(cli_main(["trace", *sys.argv[1:]]))
