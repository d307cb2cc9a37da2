"""Compare a port's arrays with a golden trace: ``python -m ebl_ref.trace --compare MINE.npz``.

A port (another language, a simulator, a chip's host code) writes the arrays it computes into
an ``.npz`` under the golden trace's names (``docs/PORTING.md`` §8) — any subset, in float64 or
float32. This tool compares every array present in both, in the order of the computation, and
names the **first** that lies outside its tolerance (phase, half-step, group, layer, quantity,
the worst element), so that a port which cannot match bit for bit still learns where it
diverges first. Arg-max routes and integers must match exactly; a flipped route is reported
with the golden's margin (the gap between the two largest values of the window), which tells a
float32 near-tie from a bug.

Tolerances are per array, in the manifest (``tolerance``: the largest acceptable
``max |mine − golden|`` for a float64 and for a float32 port), derived when the trace was made:
the float32 one is 10× the error of the same computation run in float32 (at least 4 ulps of
the array's largest value), the float64 one 1e-6 of that, at least 1e-12·max(1, max |golden|)
(an absolute 1e-12 for arrays within ±1). ``docs/PORTING.md`` §8 tabulates them and says
where they come from (cancellation in the contrasts makes the bottom layer's gradients ~10⁴
times less accurate than the states).

Converged states (``converged/<schedule>/<phase>/<layer>``): besides the tolerance check, the
tool evaluates each of the port's converged states under the update map of ``docs/PORTING.md``
§5 (its fixed-point residual) and, for the schedule name ``other`` (a relaxation that is
neither A/B nor synchronous), matches each example against both recorded fixed points
(§8, "Acceptance for a different relaxation").

Exit status: 0 all compared arrays within tolerance, 1 a divergence, 2 a usage error (a file
that cannot be read, no array in common).
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import zipfile
from pathlib import Path

import numpy as np

from .minimize import groups, half_step
from .network import OUTPUT
from .ops import channel_major
from .rules import contrast

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = {"tiny": ROOT / "data" / "golden",
          "paper-geometry": ROOT / "data" / "golden" / "paper-geometry"}
PHASES = ("free", "nudged_plus", "nudged_minus", "nudged_zero")
LAYERS = ("s1", "s2", "s3", "s4", "o")
QUANTITY = {"s": "state", "o": "output", "drive": "pooled drive P(W_k * s_{k-1})",
            "argmax": "pooling route (arg-max)", "feedback": "feedback term",
            "a": "pre-activation before the clip", "F_plus_betaC": "F + beta*C", "C": "cost C",
            "change": "largest change"}
# Fixed-point criterion for ports whose relaxation differs (docs/PORTING.md §8): the state's
# residual under the update map, and the distance to a recorded fixed point, per example.
FIXED_POINT = {"float64": {"residual": 1e-9, "distance": 1e-8},
               "float32": {"residual": 1e-5, "distance": 2e-4}}


class UsageError(Exception):
    """A file that cannot be used, with the fix in the message (exit status 2)."""


# --------------------------------------------------------------------------- files

def load_npz(path) -> dict:
    """name -> array of an ``.npz`` file (no pickles); UsageError if it cannot be read."""
    path = Path(path)
    if not path.is_file():
        raise UsageError(f"{path}: no such file (write your arrays with numpy.savez)")
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (zipfile.BadZipFile, ValueError, OSError) as exc:
        raise UsageError(f"{path}: not a readable .npz of plain arrays ({exc})") from None


def load_golden(folder) -> tuple:
    """``(manifest, arrays)`` of the golden trace in ``folder``, each array checked against
    the manifest's sha256 (UsageError if one differs or is missing)."""
    from .trace import digest  # noqa: PLC0415  (trace imports this module's main lazily)

    folder = Path(folder)
    if not (folder / "manifest.json").is_file():
        raise UsageError(f"{folder}: no golden trace here (the traces live in data/golden/ of "
                         "the repository: run from a clone, or pass --golden DIR)")
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
    except (OSError, ValueError) as exc:
        raise UsageError(f"{folder}: no readable manifest.json ({exc})") from None
    arrays = load_npz(folder / "trace.npz")
    for name, entry in manifest["arrays"].items():
        if name not in arrays or digest(arrays[name]) != entry["sha256"]:
            raise UsageError(f"{folder}: {name} does not match its sha256 in manifest.json; "
                             "restore the folder (git checkout) or regenerate it")
    return manifest, arrays


def pick_golden(mine: dict, which: str | None) -> Path:
    """The golden folder: by name, else the trace with the most arrays of the same name and
    shape as in ``mine``."""
    if which is not None:
        return GOLDEN[which]
    overlap = {}
    for name, folder in GOLDEN.items():
        if not (folder / "manifest.json").is_file():
            continue
        manifest = json.loads((folder / "manifest.json").read_text())
        overlap[name] = sum(list(np.shape(mine[k])) == entry["shape"]
                            for k, entry in manifest["arrays"].items() if k in mine)
    if not overlap:
        raise UsageError("no golden trace found beside the package (data/golden/ of the "
                         "repository): run from a clone, or pass --golden DIR")
    return GOLDEN[max(overlap, key=overlap.get)]


# --------------------------------------------------------------------------- names

def describe(name: str, manifest: dict) -> str:
    """A reader's description of an array name, e.g. ``free/05/a2`` -> "free phase,
    half-step 05 (group s2, s4), a2: pre-activation before the clip of layer 2"."""
    parts = name.split("/")
    if len(parts) == 3 and parts[0] in PHASES and parts[1].isdigit():
        t = int(parts[1])
        clamp = False
        schedule = groups(manifest["settings"]["mode"], clamp)
        group = schedule[(t - 1) % len(schedule)]
        layers = ", ".join(LAYERS[k - 1] for k in group)
        leaf = parts[2]
        m = re.fullmatch(r"([a-zA-Z_]+?)(\d?)", leaf)
        kind, k = (m.group(1), m.group(2)) if m else (leaf, "")
        what = QUANTITY.get(kind, leaf) + (f" of layer {k}" if k else "")
        if kind == "argmax":
            what = (f"route of conv {k} (arg-max of W{k} * s{int(k) - 1}), through which "
                    f"s{k} feeds back to s{int(k) - 1}")
        return (f"{parts[0]} phase, half-step {parts[1]} (iteration {(t + 1) // 2}, group "
                f"{layers}), {leaf}: {what}")
    if parts[0] == "dE_dtheta":
        return f"dE/d{parts[2]} at the final state of the {parts[1]} phase (its own routes)"
    if parts[0] == "routes":
        return f"pooling route of conv {parts[2][-1]} at the final state of the {parts[1]} phase"
    if parts[0].startswith("grad_"):
        return f"the {parts[0][5:].replace('_', '-').upper()} gradient estimate of {parts[1]}"
    if parts[0] == "optim":
        return f"optimiser step {parts[1]}: {'/'.join(parts[2:])}"
    if parts[0] == "converged":
        return f"converged reference ({parts[1]} schedule): {'/'.join(parts[2:])}"
    return name


def _where(index: tuple, shape: tuple) -> str:
    index = tuple(int(i) for i in index)
    if len(shape) == 4:
        return "[b={}, c={}, y={}, x={}]".format(*index)
    if len(shape) == 2:
        return "[b={}, j={}]".format(*index)
    return str(list(index))


# --------------------------------------------------------------------------- routes

def _state_before(name: str, golden: dict, settings: dict) -> list | None:
    """The golden state ``[x, s1, …, o]`` (internal layout) that half-step ``name`` read, or
    the final state of the phase for ``routes/<phase>/…``; None if not recorded."""
    parts = name.split("/")
    if parts[0] == "routes":
        phase, t = parts[1], None
    elif parts[0] in PHASES and parts[1].isdigit():
        phase, t = parts[0], int(parts[1]) - 1
    else:
        return None

    def state(prefix):
        s = [golden[f"{prefix}/{layer}"] for layer in LAYERS]
        return [channel_major(golden["x"])] + [channel_major(a) for a in s[:4]] + [s[4]]

    if t is None:
        last = max(int(k.split("/")[1]) for k in golden
                   if k.startswith(f"{phase}/") and k.endswith("/s1"))
        return state(f"{phase}/{last:02d}")
    if t >= 1:
        return state(f"{phase}/{t:02d}")
    if phase == "free":
        x = channel_major(golden["x"])
        zeros = [np.zeros_like(channel_major(golden[f"free/01/s{k}"])) for k in range(1, 5)]
        return [x] + zeros + [np.zeros_like(golden["free/01/o"])]
    last = max(int(k.split("/")[1]) for k in golden if k.startswith("free/") and k.endswith("/s1"))
    return state(f"free/{last:02d}")


def route_margins(name: str, golden: dict, settings: dict, flipped: np.ndarray) -> list:
    """For each flipped window (indices in (B, C, H, W)), the golden's gap between the two
    largest of its four values, relative to the layer's largest |value|."""
    k = int(name[-1])
    s = _state_before(name, golden, settings)
    if s is None:
        return []
    params = {n[6:]: v for n, v in golden.items() if n.startswith("param/")}
    from .ops import conv2d  # noqa: PLC0415
    z = conv2d(s[k - 1], params[f"W{k}"])  # (C, H, W, B)
    scale = float(np.abs(z).max()) or 1.0
    gaps = []
    for b, c, yy, xx in flipped:
        w = np.sort(z[c, 2 * yy:2 * yy + 2, 2 * xx:2 * xx + 2, b].ravel())
        gaps.append(float(w[3] - w[2]) / scale)
    return gaps


# --------------------------------------------------------------------------- comparison

def compare_arrays(manifest: dict, golden: dict, mine: dict, dtype: str) -> list:
    """One result per golden array present in ``mine``, in the manifest's order: dicts with
    ``name``, ``ok``, ``error`` (max abs difference, or the number of differing entries for
    integers), ``tolerance`` and ``detail``."""
    results = []
    for name, entry in manifest["arrays"].items():
        if name not in mine or entry.get("informational"):
            continue
        ref, got = golden[name], np.asarray(mine[name])
        res = {"name": name, "ok": True, "error": 0.0, "tolerance": 0.0, "detail": ""}
        results.append(res)
        if got.shape != ref.shape:
            hint = " (a transposed layout? see the layouts in manifest.json)" if (
                sorted(got.shape) == sorted(ref.shape)) else ""
            res.update(ok=False, error=float("inf"),
                       detail=f"shape {got.shape}, expected {ref.shape}{hint}")
            continue
        if ref.dtype.kind != "f":
            diff = np.argwhere(got != ref)
            res.update(ok=len(diff) == 0, error=float(len(diff)))
            if len(diff):
                res["detail"] = f"{len(diff)} of {ref.size} entries differ, first at " + _where(
                    tuple(diff[0]), ref.shape)
                if "argmax" in name and ref.ndim == 4:
                    gaps = route_margins(name, golden, manifest["settings"], diff[:5])
                    if gaps:
                        res["detail"] += ("; golden margin of the first flipped windows "
                                          + ", ".join(f"{g:.1e}" for g in gaps)
                                          + " (relative; below ~1e-6 a float32 near-tie)")
            continue
        tol = entry.get("tolerance", {}).get(dtype)
        if tol is None:  # a manifest without tolerances: a plain relative bound
            tol = (1e-5 if dtype == "float32" else 1e-10) * max(1.0, float(np.abs(ref).max()))
        d = np.abs(got.astype(np.float64) - ref)
        if not np.isfinite(d).all():
            res.update(ok=False, error=float("inf"), tolerance=tol, detail="non-finite values")
            continue
        worst = float(d.max()) if d.size else 0.0
        res.update(ok=worst <= tol, error=worst, tolerance=tol)
        if d.size and worst > tol:
            i = np.unravel_index(int(d.argmax()), d.shape)
            res["detail"] = (f"max |mine - golden| = {worst:.3g} at {_where(i, d.shape)} "
                             f"(mine {float(got[i]):.9g}, golden {float(ref[i]):.9g}); "
                             f"{int((d > tol).sum())} of {d.size} entries outside {tol:.2g}")
    return results


def fixed_point_residual(params: dict, s: list, beta: float, y) -> np.ndarray:
    """Per example, max over layers of |update(s) − s| for every layer at once (the
    synchronous map; its fixed points are those of the A/B schedule)."""
    (group,) = groups("sync")
    s_new, _ = half_step(params, s, [None] * 5, group, beta, y)
    r = np.zeros(s[OUTPUT].shape[0])
    for k in group:
        d = np.abs(s_new[k] - s[k])
        r = np.maximum(r, d.max(axis=1) if k == OUTPUT else d.max(axis=(0, 1, 2)))
    return r


def _mine_state(mine: dict, prefix: str, x) -> list | None:
    names = [f"{prefix}/{layer}" for layer in LAYERS]
    if not all(n in mine for n in names):
        return None
    s = [x] + [channel_major(np.asarray(mine[n], np.float64)) for n in names[:4]]
    return s + [np.asarray(mine[names[4]], np.float64)]


def _golden_state(golden: dict, prefix: str, x) -> list:
    return ([x] + [channel_major(golden[f"{prefix}/s{k}"]) for k in (1, 2, 3, 4)]
            + [golden[f"{prefix}/o"]])


def _distance(s_a: list, s_b: list, ex: int) -> float:
    """Max |difference| over the layers of example ``ex`` (internal layout)."""
    return max(float(np.abs(s_a[k][..., ex] - s_b[k][..., ex]).max()) if k < OUTPUT
               else float(np.abs(s_a[k][ex] - s_b[k][ex]).max()) for k in range(1, 6))


def _own_gradient(params, s_minus, s_plus, beta, ex) -> dict:
    """C-EP of example ``ex`` computed by ebl-ref from the given nudged states."""
    from .trace import example_state, state_only  # noqa: PLC0415
    return contrast(params, state_only(example_state(s_minus, ex)), -beta,
                    state_only(example_state(s_plus, ex)), beta)


def check_converged(manifest: dict, golden: dict, mine: dict, dtype: str) -> tuple:
    """The converged-state criterion of docs/PORTING.md §8. Returns ``(lines, ok)``.

    Every converged state of ``mine`` must be a fixed point (residual). For the schedule name
    ``other``, each example's free state is matched against the recorded fixed points: if it
    matches one, its nudged states and per-example gradient must match that reference; if it
    matches neither (a third equilibrium), its per-example gradient must equal C-EP computed
    from its own nudged states. Schedules ``async``/``sync`` are compared array by array by
    :func:`compare_arrays`.
    """
    st = manifest["settings"]
    if "converged" not in st:
        return [], True
    crit = FIXED_POINT[dtype]
    params = {n[6:]: v for n, v in golden.items() if n.startswith("param/")}
    x, y, beta = channel_major(golden["x"]), golden["y"], st["beta"]
    refs = st["converged"]["modes"]
    lines, ok = [], True
    phases = (("free", 0.0), ("nudged_plus", beta), ("nudged_minus", -beta))
    for mode in sorted({k.split("/")[1] for k in mine if k.startswith("converged/")}):
        states = {}
        for phase, b in phases:
            s = _mine_state(mine, f"converged/{mode}/{phase}", x)
            if s is None:
                continue
            states[phase] = s
            r = fixed_point_residual(params, s, b, y)
            good = bool((r <= crit["residual"]).all())
            ok &= good
            lines.append(f"converged/{mode}/{phase}: fixed-point residual per example "
                         + ", ".join(f"{v:.1e}" for v in r)
                         + f" ({'within' if good else 'ABOVE'} {crit['residual']:.0e})")
        if mode in refs or "free" not in states:
            continue
        ok &= _match_other(golden, mine, manifest, states, params, x, beta, refs, crit, dtype,
                           lines)
    return lines, ok


def _match_other(golden, mine, manifest, states, params, x, beta, refs, crit, dtype, lines):
    """Per example of ``converged/other``: the nearest recorded fixed point, then the checks
    that apply (see :func:`check_converged`); appends to ``lines``, returns ok."""
    from .network import total_energy  # noqa: PLC0415
    ok = True
    grads = {k.rsplit("/", 1)[1]: np.asarray(v, np.float64) for k, v in mine.items()
             if k.startswith("converged/other/grad_c_ep_per_example/")}
    f_mine = total_energy(params, states["free"])
    for ex in range(states["free"][OUTPUT].shape[0]):
        ref = {m: _golden_state(golden, f"converged/{m}/free", x) for m in refs}
        dist = {m: _distance(states["free"], ref[m], ex) for m in refs}
        best = min(dist, key=dist.get)
        f_refs = ", ".join(f"{m} {float(total_energy(params, ref[m])[ex]):.6f}" for m in refs)
        if dist[best] <= crit["distance"]:
            msg = f"  example {ex}: free state = the {best} fixed point ({dist[best]:.1e})"
            for phase in ("nudged_plus", "nudged_minus"):
                if phase in states:
                    d = _distance(states[phase], _golden_state(
                        golden, f"converged/{best}/{phase}", x), ex)
                    good = d <= crit["distance"]
                    ok &= good
                    msg += f"; {phase} {'matches' if good else 'DIFFERS'} ({d:.1e})"
            want = {k: golden[f"converged/{best}/grad_c_ep_per_example/{k}"][ex] for k in grads}
        else:
            msg = (f"  example {ex}: a third fixed point (nearest: {best} at {dist[best]:.1e}; "
                   f"F = {float(f_mine[ex]):.6f} vs {f_refs}), checked on its residuals"
                   + (" and its own gradient" if grads else ""))
            want = (_own_gradient(params, states["nudged_minus"], states["nudged_plus"], beta,
                                  ex) if grads and "nudged_plus" in states
                    and "nudged_minus" in states else {})
        for k, g in grads.items():
            tol = manifest["arrays"][f"converged/{refs[0]}/grad_c_ep_per_example/{k}"][
                "tolerance"][dtype]
            err = float(np.abs(g[ex] - want[k]).max()) if k in want else float("inf")
            if err > tol:
                ok = False
                msg += f"; gradient {k} DIFFERS by {err:.1e} (tolerance {tol:.0e})"
        if grads and not msg.endswith("gradient"):
            msg += "; gradient " + ("matches" if ok else "not all within tolerance")
        lines.append(msg)
    return ok


def report(results: list, manifest: dict, n_golden: int, dtype: str, missing: list,
           verbose: bool = False) -> list:
    """Lines of the human report."""
    failed = [r for r in results if not r["ok"]]
    if not results:
        return [f"no array of yours has a golden name ({n_golden} in the trace): only your "
                "converged/other/ states are checked, as a different relaxation (below)"]
    lines = [f"compared {len(results)} of {n_golden} golden arrays with {dtype} tolerances"
             + (f" ({len(missing)} not in yours, e.g. {', '.join(missing[:3])})" if missing
                else "")]
    if not failed:
        lines.append("all within tolerance")
        return lines
    first = failed[0]
    lines.append(f"FIRST DIVERGENCE: {first['name']} — {describe(first['name'], manifest)}")
    lines.append(f"  {first['detail']}")
    before = [r for r in results[:results.index(first)]
              if r["name"].rsplit("/", 1)[0] == first["name"].rsplit("/", 1)[0]]
    if before:
        lines.append("  earlier arrays of the same half-step matched: "
                     + ", ".join(r["name"].rsplit("/", 1)[1] for r in before))
    if verbose:
        lines += [f"  {r['name']}: {r['detail']}" for r in failed[1:]]
    elif len(failed) == 1:
        lines.append("1 array outside tolerance in all (this one)")
    else:
        lines.append(f"{len(failed)} arrays outside tolerance in all; the next: "
                     + ", ".join(r["name"] for r in failed[1:6]) + " (--all lists them)")
    return lines


def dtype_hint(results: list, manifest: dict, mine: dict) -> str | None:
    """A hint for a comparison with float64 tolerances that were not asked for (no
    ``--dtype``): the file holds float32 arrays beside float64 ones (one stray float64 array
    makes float64 the default), or the first divergence lies within its float32 tolerance (a
    float32 computation saved as float64). None if neither."""
    failed = [r for r in results if not r["ok"]]
    if not failed:
        return None
    f32 = [k for k, v in mine.items() if np.asarray(v).dtype == np.float32]
    f64 = [k for k, v in mine.items() if np.asarray(v).dtype == np.float64]
    tol32 = manifest["arrays"][failed[0]["name"]].get("tolerance", {}).get("float32")
    if f32 and f64:
        why = (f"{len(f32)} of your arrays are float32 but {len(f64)} "
               f"{'is' if len(f64) == 1 else 'are'} float64 (e.g. {f64[0]})")
    elif tol32 is not None and failed[0]["error"] <= tol32:
        why = (f"the first divergence ({failed[0]['error']:.2g}) is within its float32 "
               f"tolerance ({tol32:.2g})")
    else:
        return None
    return (f"hint: float64 tolerances were applied because your file holds float64 arrays; "
            f"{why}: if your computation ran in float32, pass --dtype float32")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m ebl_ref.trace_compare", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mine", metavar="MINE.npz", help="your arrays, under the golden names")
    p.add_argument("--trace", choices=sorted(GOLDEN),
                   help="which committed trace (default: the one sharing most names)")
    p.add_argument("--golden", metavar="DIR", help="a trace folder instead of a committed one")
    p.add_argument("--dtype", choices=["float64", "float32"],
                   help="tolerances to apply (default: the widest float dtype in MINE.npz)")
    p.add_argument("--all", action="store_true", help="list every array outside tolerance")
    p.add_argument("--json", metavar="OUT", help="also write every result to OUT as JSON")
    args = p.parse_args(argv)
    try:
        mine = load_npz(args.mine)
        folder = Path(args.golden) if args.golden else pick_golden(mine, args.trace)
        manifest, golden = load_golden(folder)
        common = [k for k in manifest["arrays"] if k in mine]
        if not common and not any(k.startswith("converged/other/") for k in mine):
            raise UsageError(f"{args.mine}: no array named as in {folder}/manifest.json "
                             "(e.g. free/01/s1, param/W1); see docs/PORTING.md §8")
        dtype = args.dtype or ("float64" if any(np.asarray(v).dtype == np.float64
                                                for v in mine.values()) else "float32")
        results = compare_arrays(manifest, golden, mine, dtype)
        conv_lines, conv_ok = check_converged(manifest, golden, mine, dtype)
        if not results and not conv_lines:
            raise UsageError(f"{args.mine}: nothing to compare: its converged/other/ arrays "
                             "hold no complete state (converged/other/free/s1, s2, s3, s4 "
                             "and o, in the trace's layouts); see docs/PORTING.md §8")
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    missing = [k for k in manifest["arrays"] if k not in mine]
    print(f"golden: {folder}")
    if not args.dtype:
        print(f"tolerances: {dtype}, inferred from your file ("
              + ("it holds a float64 array" if dtype == "float64"
                 else "its float arrays are all float32") + "); --dtype float32|float64 chooses")
    for line in report(results, manifest, len(manifest["arrays"]), dtype, missing,
                       args.all) + conv_lines:
        print(line)
    hint = None if args.dtype or dtype != "float64" else dtype_hint(results, manifest, mine)
    if hint:
        print(hint)
    unknown = sorted(set(mine) - set(manifest["arrays"]) - {
        k for k in mine if k.startswith("converged/other/")})
    if unknown:
        print(f"{len(unknown)} of your arrays have no golden counterpart (ignored), e.g. "
              + ", ".join(unknown[:3]))
    if args.json:
        Path(args.json).write_text(json.dumps({"golden": str(folder), "dtype": dtype,
                                               "results": results,
                                               "converged": conv_lines}, indent=1) + "\n")
    return 0 if all(r["ok"] for r in results) and conv_ok else 1


if __name__ == "__main__":
    sys.exit(main())
