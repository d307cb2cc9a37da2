"""The committed golden trace (data/golden) is what the code computes today: a regression
oracle for us and the reference numbers for ports (docs/PORTING.md)."""
import hashlib
import json
from pathlib import Path

import numpy as np

from ebl_ref.trace import SETTINGS, make_trace

GOLDEN = Path(__file__).resolve().parent.parent / "data" / "golden"


def load_golden():
    with np.load(GOLDEN / "trace.npz", allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def test_golden_trace_files_are_intact():
    manifest = json.loads((GOLDEN / "manifest.json").read_text())
    golden = load_golden()
    assert manifest["settings"] == SETTINGS
    assert set(manifest["arrays"]) == set(golden)
    for k, v in golden.items():
        assert hashlib.sha256(v.tobytes()).hexdigest() == manifest["arrays"][k]["sha256"], k


def test_code_reproduces_the_golden_trace():
    golden, now = load_golden(), make_trace()
    assert set(now) == set(golden)
    for k in golden:
        np.testing.assert_allclose(now[k], golden[k], rtol=1e-10, atol=1e-12, err_msg=k)


def test_trace_objective_descends_in_every_phase():
    golden = load_golden()
    for phase in ("free", "nudged_plus", "nudged_minus"):
        f = np.array([golden[k] for k in sorted(golden)
                      if k.startswith(f"{phase}/") and k.endswith("F_plus_betaC")])
        assert (np.diff(f, axis=0) <= 1e-9 * np.abs(f[1:])).all(), phase
