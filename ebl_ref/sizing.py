"""Numbers a chip team sizes hardware with: ``python -m ebl_ref.sizing --data-dir DIR --out DIR``.

Two parts (``docs/PORTING.md`` §9 summarises the committed results in ``results/sizing/``):

* :func:`footprint` — memory and data movement per example, per iteration and per C-EP step,
  counted from the network's shapes alone (no data): values held, values read and written by
  each operation of the minimum-work schedule, multiply-accumulates, weight traffic.
* :func:`measure` — on real images at full width (128, 256, 512, 512), at initialisation and
  after a short C-EP training run: value ranges (percentiles) of states, pooled drives, feedback
  terms, pre-activations, outputs, ∂E/∂θ, gradients and weights; the fraction of saturated
  units; the precision each quantity needs — the C-EP gradient's cosine with the float32
  reference, arg-max flips and prediction changes when the states are held in b bits during the
  relaxation, when only the read-out the rule sees is b bits, and when the weights are b bits —
  and the size of the weight updates relative to the weights (the bits an update needs).

Quantisers (documented in ``results/sizing/README.md``): a state in [0, 1] held in b bits is
rounded to the nearest multiple of 1/(2^b − 1) after every layer update; the output o (signed,
unbounded) to the nearest multiple of ``O_RANGE``/(2^(b−1) − 1), clipped to ±``O_RANGE``; a
weight tensor to the nearest multiple of max|W|/(2^(b−1) − 1) (sign and b − 1 bits, one scale
per tensor, biases likewise).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from .atomic import atomic_write_text
from .minimize import Equilibrium, groups, half_step, relax, zero_state
from .network import (DCHN, HIDDEN, OUTPUT, PARAM_NAMES, all_drives, init_params, one_hot,
                      param_grads, preactivation)
from .optim import sgd_step
from .rules import contrast
from .trace import feedback

FULL_WIDTHS = (128, 256, 512, 512)                  # paper §3
TABLE1 = {"gains": (0.5,) * 5, "beta": 0.25, "free_iters": 60, "train_iters": 15,
          "lr": (0.0625, 0.0375, 0.025, 0.02, 0.0125), "momentum": 0.9,
          "weight_decay": 3e-4}                     # the comparative preset (ebl_ref.presets)
O_RANGE = 2.0                                       # the output's quantiser range (targets 0/1)
PERCENTILES = (0.1, 1, 50, 99, 99.9)


# --------------------------------------------------------------------------- footprint

def _units(net: DCHN) -> dict:
    """Values per example of each layer: s0 = x, s1..s4, o."""
    return {"s0": net.in_channels * net.image_size ** 2,
            **{f"s{k}": int(np.prod(net.state_shape(k, 1))) for k in HIDDEN},
            "o": net.n_classes}


def footprint(net: DCHN, free_iters: int = 60, train_iters: int = 15) -> dict:
    """Memory and data movement of the computation of ``docs/PORTING.md``, from shapes alone.

    Counts **values** (multiply by the bytes of the format chosen) and, apart, **route codes**
    (2 bits each: the arg-max position in a 2×2 window).
    The model: the minimum-work asynchronous schedule of docs/PORTING.md §5 — each pooled
    convolution computed once per change of its input and kept (its pooled values and routes)
    for both roles, conv1(x) once per input; every operation reads its operands once and writes
    its result once (a pre-pooling convolution output never leaves the operator). Weights are
    per batch, so their traffic per example is divided by the batch size; on an analog crossbar
    they do not move at all.

    Returns a dict: ``units``, ``params`` (per layer and total), ``held_per_example`` (what a
    C-EP step keeps per example: the input, the free state s* (both nudged phases start from
    it), the working state, the pooled drives and their routes), ``per_iteration`` (per
    example: MACs, values and route codes read and written, weight reads per batch),
    ``per_cep_step`` (free phase + 2 nudged phases + conv1(x) once + ∂E/∂θ at the two nudged
    states, per example; the gradient accumulator and the SGD update per batch).
    """
    units, C, S = _units(net), net.channels, net.image_size
    side = {k: S >> k for k in range(5)}
    shapes = net.param_shapes()
    params = {name: int(np.prod(shape)) for name, shape in shapes.items()}
    conv_macs = {k: C[k] * C[k - 1] * 9 * side[k - 1] ** 2 for k in HIDDEN}
    dense_macs = units["s4"] * net.n_classes
    state = sum(units[f"s{k}"] for k in HIDDEN) + units["o"]
    routes = sum(units[f"s{k}"] for k in HIDDEN)
    u = {k: units[f"s{k}"] for k in range(5)}
    # Per iteration: conv_k (k = 2..4) reads s_{k-1}, writes drive_k and route_k; its transpose
    # reads s_k and route_k, writes the feedback into s_{k-1}; dense reads s4 and writes a5, its
    # transpose reads o and writes the feedback into s4; each update reads drive and feedback
    # (output: a5) and writes the layer. Routes are counted apart (2-bit codes).
    reads = (sum(u[k - 1] + u[k] for k in (2, 3, 4))                # conv inputs; s_k (transp.)
             + u[4] + units["o"]                                    # dense, dense transpose
             + sum(2 * u[k] for k in HIDDEN) + units["o"])          # updates
    writes = (sum(u[k] + u[k - 1] for k in (2, 3, 4))               # drives; feedback terms
              + units["o"] + u[4] + state)                          # a5, fb into s4; updates
    route_codes = sum(u[k] for k in (2, 3, 4))
    per_iteration = {"macs": 2 * sum(conv_macs[k] for k in (2, 3, 4)) + 2 * dense_macs,
                     "values_read": reads, "values_written": writes,
                     "route_codes_read": route_codes, "route_codes_written": route_codes,
                     "weight_values_read_per_batch": 2 * sum(params[f"W{k}"] for k in
                                                             (2, 3, 4, 5))}
    iterations = free_iters + 2 * train_iters
    grad_macs = sum(conv_macs.values()) + dense_macs                 # ∂E/∂W at one state
    grad_reads = sum(u[k - 1] + u[k] for k in HIDDEN) + u[4] + units["o"]  # at one state
    n_params = sum(params.values())
    per_step = {
        "iterations": iterations,
        "macs": iterations * per_iteration["macs"] + conv_macs[1] + 2 * grad_macs,
        "values_read": iterations * reads + u[0] + 2 * grad_reads,  # + conv1(x) once
        "values_written": iterations * writes + u[1],               # + drive1 once
        "route_codes_read": iterations * route_codes + 2 * sum(u[k] for k in HIDDEN),
        "route_codes_written": iterations * route_codes + u[1],
        "weight_values_read_per_batch": (iterations * per_iteration[
            "weight_values_read_per_batch"] + params["W1"]),
        "gradient_accumulator_values_per_batch": n_params,
        "optimiser_values_read_per_batch": 3 * n_params,   # θ, v, g (d = g + λθ, v, θ)
        "optimiser_values_written_per_batch": 2 * n_params,  # θ, v
    }
    return {"net": {"in_channels": net.in_channels, "widths": list(net.widths),
                    "n_classes": net.n_classes, "image_size": S},
            "units": units, "state_values": state,
            "params": {**params, "total": n_params},
            "held_per_example": {
                "input": units["s0"], "state": state,
                "free_state_kept_for_both_nudged_phases": state,
                "pooled_drives": routes, "route_codes_2bit": routes,
                "values": units["s0"] + 2 * state + routes},
            "per_iteration": per_iteration, "per_cep_step": per_step,
            "conv_macs": conv_macs, "dense_macs": dense_macs}


# --------------------------------------------------------------------------- quantisers

def quantise_unit(a, bits: int):
    """Round values in [0, 1] to the nearest multiple of 1/(2^bits − 1)."""
    levels = 2 ** bits - 1
    return np.round(a * levels) / levels


def quantise_symmetric(a, bits: int, scale: float):
    """Round to the nearest multiple of scale/(2^(bits−1) − 1), clipped to ±scale."""
    step = scale / (2 ** (bits - 1) - 1)
    return np.clip(np.round(a / step) * step, -scale, scale).astype(a.dtype)


def quantise_params(params: dict, bits: int) -> dict:
    """Each tensor to ``bits`` bits over ±max|tensor| (:func:`quantise_symmetric`)."""
    return {k: quantise_symmetric(v, bits, float(np.abs(v).max())) for k, v in params.items()}


def quantise_state(s: list, bits: int, layers) -> list:
    """A copy of ``s`` with the listed layers held in ``bits`` bits."""
    s = list(s)
    for k in layers:
        s[k] = (quantise_symmetric(s[k], bits, O_RANGE) if k == OUTPUT
                else quantise_unit(s[k], bits).astype(s[k].dtype))
    return s


def relax_quantised(params, s, iterations, bits, *, beta=0.0, y=None, mode="async",
                    drives=None) -> Equilibrium:
    """:func:`~ebl_ref.minimize.relax` with every updated layer held in ``bits`` bits after
    each half-step (the pooled drives are recomputed from the held values)."""
    drives = [None] * 5 if drives is None else list(drives)
    previous = s
    for _ in range(iterations):
        previous = s
        for group in groups(mode):
            s, drives = half_step(params, s, drives, group, beta, y)
            s = quantise_state(s, bits, group)
    residual = max(float(np.abs(s[k] - previous[k]).max()) for k in range(1, 6))
    return Equilibrium(s=s, drives=drives, iterations=iterations, residual=residual)


# --------------------------------------------------------------------------- statistics

def stats(a) -> dict:
    """Percentiles, extremes and mean |value| of an array (host floats)."""
    a = np.asarray(a, dtype=np.float64).ravel()
    q = np.percentile(a, PERCENTILES)
    return {"min": float(a.min()), **{f"p{p:g}": float(v) for p, v in zip(PERCENTILES, q)},
            "max": float(a.max()), "max_abs": float(np.abs(a).max()),
            "mean_abs": float(np.abs(a).mean())}


def saturation(s: list) -> dict:
    """Per hidden layer: fractions of units at exactly 0, exactly 1, and strictly between."""
    return {f"s{k}": {"at_0": float((s[k] == 0).mean()), "at_1": float((s[k] == 1).mean()),
                      "inside": float(((s[k] > 0) & (s[k] < 1)).mean())} for k in HIDDEN}


def cosine(a, b) -> float:
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    n = np.linalg.norm(a) * np.linalg.norm(b)
    return float(a @ b / n) if n else float("nan")


def cep(params, net, x, y, cfg, bits=None) -> dict:
    """Free phase, both nudged phases and the C-EP gradient (eq. 6), optionally with the
    states held in ``bits`` bits throughout."""
    beta = cfg["beta"]
    if bits is None:
        free = relax(params, zero_state(net, x), cfg["free_iters"])
        plus, minus = (relax(params, free.s, cfg["train_iters"], beta=b, y=y,
                             drives=free.drives) for b in (beta, -beta))
    else:
        free = relax_quantised(params, zero_state(net, x), cfg["free_iters"], bits)
        plus, minus = (relax_quantised(params, free.s, cfg["train_iters"], bits, beta=b, y=y,
                                       drives=free.drives) for b in (beta, -beta))
    return {"free": free, "plus": plus, "minus": minus,
            "grad": contrast(params, minus, -beta, plus, beta)}


def value_ranges(params: dict, run: dict) -> dict:
    """Ranges of every quantity at the free state (and the nudged ones), the gradients and the
    weights."""
    s = run["free"].s
    drives = all_drives(params, s, run["free"].drives)
    out = {"state_free": {f"s{k}": stats(s[k]) for k in HIDDEN},
           "output_free": stats(s[OUTPUT]),
           "output_nudged_plus": stats(run["plus"].s[OUTPUT]),
           "pooled_drive": {f"s{k}": stats(drives[k][0]) for k in HIDDEN},
           "feedback": {f"s{k}": stats(feedback(params, s, drives, k)) for k in HIDDEN},
           "preactivation": {f"s{k}": stats(preactivation(params, s, drives, k))
                             for k in HIDDEN},
           "nudge_difference": {("o" if k == OUTPUT else f"s{k}"): stats(
               run["plus"].s[k] - run["minus"].s[k]) for k in range(1, 6)},
           "saturation_free": saturation(s),
           "dE_dtheta_free": {k: stats(v) for k, v in param_grads(params, s, drives).items()},
           "grad_c_ep": {k: stats(v) for k, v in run["grad"].items()},
           "weights": {k: stats(v) for k, v in params.items()}}
    out["preactivation"]["o"] = stats(preactivation(params, s, drives, OUTPUT))
    return out


def _routes(params, s) -> list:
    return [None] + [d[1] for d in all_drives(params, s)[1:]]


def precision(params, net, x, y, cfg, ref: dict, bit_list) -> dict:
    """Gradient cosine per tensor, arg-max flips, prediction changes for b-bit states (during
    the relaxation), b-bit read-out of the nudged states only, and b-bit weights."""
    routes_ref = _routes(params, ref["free"].s)
    pred_ref = ref["free"].s[OUTPUT].argmax(axis=1)
    out = {"states": {}, "readout": {}, "weights": {}}
    for bits in bit_list:
        run = cep(params, net, x, y, cfg, bits=bits)
        routes = _routes(params, run["free"].s)
        out["states"][bits] = {
            "grad_cosine": {k: cosine(run["grad"][k], ref["grad"][k]) for k in PARAM_NAMES},
            "argmax_flips_free": {f"conv{k}": float((routes[k] != routes_ref[k]).mean())
                                  for k in HIDDEN},
            "prediction_changed": float((run["free"].s[OUTPUT].argmax(axis=1)
                                         != pred_ref).mean()),
            "max_state_error_free": max(float(np.abs(run["free"].s[k] - ref["free"].s[k]).max())
                                        for k in HIDDEN)}
        read = {b: Equilibrium(quantise_state(e.s, bits, range(1, 6)), [None] * 5, 0, 0.0)
                for b, e in (("plus", ref["plus"]), ("minus", ref["minus"]))}
        g = contrast(params, read["minus"], -cfg["beta"], read["plus"], cfg["beta"])
        out["readout"][bits] = {"grad_cosine": {k: cosine(g[k], ref["grad"][k])
                                                for k in PARAM_NAMES}}
        qp = quantise_params(params, bits)
        run = cep(qp, net, x, y, cfg)
        routes = _routes(qp, run["free"].s)
        out["weights"][bits] = {
            "grad_cosine": {k: cosine(run["grad"][k], ref["grad"][k]) for k in PARAM_NAMES},
            "argmax_flips_free": {f"conv{k}": float((routes[k] != routes_ref[k]).mean())
                                  for k in HIDDEN},
            "prediction_changed": float((run["free"].s[OUTPUT].argmax(axis=1)
                                         != pred_ref).mean())}
    return out


def update_sizes(before: dict, after: dict) -> dict:
    """Per tensor: |Δθ| relative to max|θ| (percentiles), the bits a weight grid over ±max|θ|
    needs to represent the median and 1st-percentile update, and the fraction of updates a
    b-bit grid rounds to nothing (|Δθ| below half a step)."""
    out = {}
    for k in before:
        d = np.abs(np.asarray(after[k], np.float64) - before[k]).ravel()
        scale = float(np.abs(before[k]).max())
        rel = d / scale
        nz = rel[rel > 0]
        out[k] = {"relative_update": stats(rel),
                  "bits_for_median_update": float(1 + np.log2(1 / np.median(nz))),
                  "bits_for_p1_update": float(1 + np.log2(1 / np.percentile(nz, 1))),
                  "lost_below_half_step": {
                      str(b): float((d < scale / (2 ** (b - 1) - 1) / 2).mean())
                      for b in (8, 12, 16, 20, 24)}}
    return out


# --------------------------------------------------------------------------- measurement

def _inputs(split, spec, idx, rng=None):
    from .data import preprocess  # noqa: PLC0415
    return preprocess(split.x[idx], spec, rng, train=rng is not None, dtype=np.float32)


def measure(name: str, data_dir, cfg: dict, log=print) -> dict:
    """Everything :func:`measure` promises for one dataset (see the module docstring)."""
    from .data import DATASETS, load_dataset  # noqa: PLC0415

    spec = DATASETS[name]
    train, test = load_dataset(name, data_dir=data_dir, download=False, log=log)
    net = DCHN(spec.channels, tuple(cfg["widths"]), spec.classes)
    rng = np.random.default_rng(cfg["seed"])
    params = {k: v.astype(np.float32) for k, v in init_params(net, rng, cfg["gains"]).items()}
    probe = np.arange(cfg["probe_batch"])
    x = _inputs(test, spec, probe)
    y = one_hot(test.y[probe], net.n_classes, x)
    result = {"dataset": name, "settings": {**cfg, "widths": list(cfg["widths"])}}
    order = rng.permutation(len(train))[:cfg["train_examples"]]
    for stage in ("init", "trained"):
        if stage == "trained":
            params, result["training"] = _train(params, net, train, test, spec, order, cfg, rng,
                                                log)
        t0 = time.perf_counter()
        ref = cep(params, net, x, y, cfg)
        stage_out = {"value_ranges": value_ranges(params, ref),
                     "free_residual": ref["free"].residual,
                     "probe_error": float((ref["free"].s[OUTPUT].argmax(axis=1)
                                           != test.y[probe]).mean())}
        v0 = {k: g + cfg["weight_decay"] * params[k] for k, g in ref["grad"].items()}
        stepped, _ = sgd_step(params, ref["grad"], None, cfg["lr"], cfg["momentum"],
                              cfg["weight_decay"])
        stage_out["first_step_updates"] = update_sizes(params, stepped)
        stage_out["first_step_direction"] = {k: stats(v) for k, v in v0.items()}
        log(f"{name} {stage}: reference C-EP step on {len(probe)} examples "
            f"{time.perf_counter() - t0:.0f} s; precision sweep {cfg['bits']}")
        stage_out["precision"] = precision(params, net, x, y, cfg, ref, cfg["bits"])
        result[stage] = stage_out
        log(f"{name} {stage}: done in {time.perf_counter() - t0:.0f} s")
    return result


def _train(params, net, train, test, spec, order, cfg, rng, log):
    """C-EP with Table 1's optimiser for one pass over ``order`` (cosine over one epoch: the
    rates stay at their initial values), batch ``cfg['batch']``; returns the parameters and
    what happened (update sizes of every step, test error on ``eval_examples``)."""
    from .algorithms import estimate_gradient  # noqa: PLC0415

    velocity, steps, t0 = None, [], time.perf_counter()
    for start in range(0, len(order), cfg["batch"]):
        idx = order[start:start + cfg["batch"]]
        x = _inputs(train, spec, idx, rng)
        y = one_hot(train.y[idx], net.n_classes, x)
        grads, free = estimate_gradient("c-ep", params, net, x, y, beta=cfg["beta"],
                                        free_iters=cfg["free_iters"],
                                        train_iters=cfg["train_iters"])
        new, velocity = sgd_step(params, grads, velocity, cfg["lr"], cfg["momentum"],
                                 cfg["weight_decay"])
        sizes = update_sizes(params, new)
        steps.append({k: {"median": v["relative_update"]["p50"],
                          "bits_for_median_update": v["bits_for_median_update"]}
                      for k, v in sizes.items()})
        params = new
        err = float((free.s[OUTPUT].argmax(axis=1) != train.y[idx]).mean())
        log(f"  step {len(steps)}: batch error {err:.2f} "
            f"({time.perf_counter() - t0:.0f} s)")
    n_eval = cfg["eval_examples"]
    errors = 0
    for start in range(0, n_eval, 50):
        idx = np.arange(start, min(n_eval, start + 50))
        x = _inputs(test, spec, idx)
        o = relax(params, zero_state(net, x), cfg["free_iters"]).s[OUTPUT]
        errors += int((o.argmax(axis=1) != test.y[idx]).sum())
    return params, {"examples": int(len(order)), "batch": cfg["batch"], "steps": len(steps),
                    "test_error": errors / n_eval, "test_examples": n_eval,
                    "update_medians_per_step": steps,
                    "seconds": time.perf_counter() - t0}


# --------------------------------------------------------------------------- tables

def _row(cells) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _table(head, rows) -> list:
    return [_row(head), _row(["---"] * len(head))] + [_row(r) for r in rows] + [""]


def _g(v) -> str:
    return f"{v:.3g}"


def summary_tables(footprints: dict, results: dict) -> str:
    """Markdown tables of ``footprint.json`` and the measured ``<dataset>.json`` files."""
    out = ["# Sizing tables", "",
           "Generated by `python -m ebl_ref.sizing --tables` from the JSON files beside this "
           "one; see README.md for what is counted and how it was measured.", ""]
    out += ["## Footprint (values per example; routes are 2-bit codes)", ""]
    rows = []
    for name, f in footprints.items():
        it, st, held = f["per_iteration"], f["per_cep_step"], f["held_per_example"]
        rows.append([name, f"{f['params']['total']:,}", f"{f['state_values']:,}",
                     f"{held['values']:,} + {held['route_codes_2bit']:,} routes",
                     f"{it['macs'] / 1e6:.1f} M",
                     f"{it['values_read']:,} / {it['values_written']:,}",
                     f"{it['route_codes_read']:,}", f"{it['weight_values_read_per_batch']:,}",
                     f"{st['macs'] / 1e9:.2f} G",
                     f"{st['values_read'] / 1e6:.1f} M / {st['values_written'] / 1e6:.1f} M"])
    out += _table(["net", "parameters", "state values", "held in a C-EP step",
                   "MACs / iteration", "values read / written per iteration",
                   "route codes read per iteration", "weight reads per iteration (per batch)",
                   "MACs / C-EP step", "values read / written per C-EP step"], rows)
    for name, r in results.items():
        out += [f"## {name}", "",
                f"Probe: the first {r['settings']['probe_batch']} test images; training: "
                f"C-EP on {r['training']['examples']} training images, batch "
                f"{r['training']['batch']}, {r['training']['steps']} steps; test error after it "
                f"{r['training']['test_error']:.3f} on {r['training']['test_examples']} test "
                "images.", ""]
        for stage in ("init", "trained"):
            v = r[stage]["value_ranges"]
            rows = []
            for k in ("s1", "s2", "s3", "s4"):
                sat = v["saturation_free"][k]
                rows.append([k, *(_g(v[q][k][p]) for q in ("preactivation", "pooled_drive",
                                                          "feedback") for p in ("p0.1", "p99.9")),
                             f"{sat['at_0']:.3f}", f"{sat['at_1']:.3f}",
                             _g(v["nudge_difference"][k]["max_abs"])])
            o = v["preactivation"]["o"]
            rows.append(["o", _g(o["p0.1"]), _g(o["p99.9"]), "", "", "", "", "", "",
                         _g(v["nudge_difference"].get("o", v["nudge_difference"].get(
                             "s5", {})).get("max_abs", float("nan")))])
            out += [f"### {name}, {stage}: values at the free state (0.1th–99.9th "
                    "percentiles)", ""]
            out += _table(["layer", "a low", "a high", "drive low", "drive high",
                           "feedback low", "feedback high", "at 0", "at 1",
                           "max |s(+β) − s(−β)|"], rows)
            rows = [[k, _g(v["weights"][k]["max_abs"]), _g(v["dE_dtheta_free"][k]["max_abs"]),
                     _g(v["grad_c_ep"][k]["max_abs"]),
                     _g(v["dE_dtheta_free"][k]["max_abs"]
                        / (2 * r["settings"]["beta"] * v["grad_c_ep"][k]["max_abs"])
                        if v["grad_c_ep"][k]["max_abs"] else float("nan")),
                     _g(r[stage]["first_step_updates"][k]["relative_update"]["p50"]),
                     _g(r[stage]["first_step_updates"][k]["bits_for_median_update"]),
                     _g(r[stage]["first_step_updates"][k]["bits_for_p1_update"]),
                     _g(r[stage]["first_step_updates"][k]["lost_below_half_step"]["16"])]
                    for k in PARAM_NAMES]
            out += [f"### {name}, {stage}: parameters, gradients, updates", ""]
            out += _table(["tensor", "max |θ|", "max |∂E/∂θ(s*)|", "max |g C-EP|",
                           "cancellation max|∂E/∂θ|/(2β max|g|)",
                           "median |Δθ|/max|θ| (first step)", "bits for the median update",
                           "bits for the 1st-percentile update",
                           "updates lost on a 16-bit grid"], rows)
            prec = r[stage]["precision"]
            for variant in ("states", "readout", "weights"):
                rows = []
                for bits, p in prec[variant].items():
                    row = [bits] + [f"{p['grad_cosine'][k]:.3f}" for k in PARAM_NAMES]
                    if variant != "readout":
                        row += [" ".join(f"{p['argmax_flips_free'][f'conv{k}']:.3f}"
                                         for k in HIDDEN), f"{p['prediction_changed']:.2f}"]
                    rows.append(row)
                extra = [] if variant == "readout" else ["route flips conv1..4", "pred. changed"]
                out += [f"### {name}, {stage}: C-EP gradient cosine with float32, b-bit "
                        f"{variant}", ""]
                out += _table(["bits", *PARAM_NAMES, *extra], rows)
    return "\n".join(out) + "\n"


DEFAULTS = {**TABLE1, "widths": FULL_WIDTHS, "seed": 0, "probe_batch": 8,
            "train_examples": 768, "batch": 32, "eval_examples": 200, "bits": [4, 6, 8, 10, 12, 16]}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m ebl_ref.sizing", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data-dir", help="folder holding <dataset>/ (needed for --datasets)")
    p.add_argument("--datasets", default="cifar10,mnist",
                   help="comma-separated (default cifar10,mnist); empty: footprint only")
    p.add_argument("--out", default="results/sizing", help="folder for the JSON files")
    p.add_argument("--tables", action="store_true",
                   help="only (re)write tables.md from the JSON files in --out")
    for key in ("probe_batch", "train_examples", "batch", "eval_examples", "seed"):
        p.add_argument("--" + key.replace("_", "-"), type=int, default=DEFAULTS[key])
    args = p.parse_args(argv)
    out = Path(args.out)
    if args.tables:
        return write_tables(out)
    out.mkdir(parents=True, exist_ok=True)
    cfg = {**DEFAULTS, **{k: getattr(args, k) for k in ("probe_batch", "train_examples",
                                                          "batch", "eval_examples", "seed")}}
    nets = {"cifar10": DCHN(3, FULL_WIDTHS, 10), "mnist": DCHN(1, FULL_WIDTHS, 10)}
    atomic_write_text(out / "footprint.json", json.dumps(
        {k: footprint(n, cfg["free_iters"], cfg["train_iters"]) for k, n in nets.items()},
        indent=1) + "\n")
    for name in filter(None, args.datasets.split(",")):
        from .data import DataError  # noqa: PLC0415
        try:
            result = measure(name, args.data_dir, cfg, log=lambda m: print(m, flush=True))
        except DataError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        atomic_write_text(out / f"{name}.json", json.dumps(result, indent=1) + "\n")
        print(f"wrote {out / (name + '.json')}", flush=True)
    return write_tables(out)


def write_tables(folder: Path) -> int:
    """``tables.md`` from ``footprint.json`` and every measured JSON file in ``folder``."""
    try:
        footprints = json.loads((folder / "footprint.json").read_text())
    except (OSError, ValueError) as exc:
        print(f"error: {folder}/footprint.json: {exc}; run without --tables first",
              file=sys.stderr)
        return 2
    results = {p.stem: json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))
               if p.name != "footprint.json"}
    atomic_write_text(folder / "tables.md", summary_tables(footprints, results))
    print(f"wrote {folder / 'tables.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
