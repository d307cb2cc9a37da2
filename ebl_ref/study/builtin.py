"""The built-in studies, as data (the same dicts a study file holds, :mod:`ebl_ref.study.spec`).

* ``table1`` — the paper's Table 1 (§4.1): the comparative preset, 9 algorithms × 5 datasets ×
  3 seeds = 135 runs of 100 epochs ("For each of these 45 experiments, we perform three runs").
* ``table2`` — the paper's Table 2 (§4.2): C-EP with the tuned presets ``sota-cifar10`` and
  ``sota-cifar100``, after 100 and after 300 epochs, 3 seeds = 12 runs. (Table 2 also reports
  MNIST; no tuned MNIST preset is known to us, so it is not part of the study.)
* ``cpu-small`` — the paper's comparison at CPU scale, for this repository's evidence
  (``results/cpu-small/``): all 9 algorithms on MNIST and Fashion-MNIST, 2 seeds, the quick
  preset's small network on the first 3,000 training images, 2 epochs, evaluated on the first
  2,000 test images; sized to about an hour on a 2-core machine with ``--executor local
  --workers 2`` (README "Studies", docs/STUDY.md).
* ``smoke`` — every algorithm for one short epoch on the embedded Fashion-MNIST sample: checks
  the whole pipeline offline in a few minutes.

Seeds are the first axis (varying slowest), so a study run in plan order completes a whole
seed before starting the next, and a partial study already fills every cell of the table.
"""
from __future__ import annotations

# Table 1's row order (TBP and RBP first, then the seven rules in the paper's order).
ALGOS = ["tbp", "rbp", "cl", "p-ep", "n-ep", "c-ep", "p-cpl", "n-cpl", "c-cpl"]
DATASETS = ["mnist", "fashion-mnist", "svhn", "cifar10", "cifar100"]

STUDIES = {
    "table1": {
        "name": "table1",
        "description": "Table 1 of Scellier et al. (2023): 9 algorithms x 5 datasets x 3 seeds, "
                       "comparative preset, 100 epochs",
        "preset": "comparative",
        "overrides": {},
        "axes": {"seed": [0, 1, 2], "dataset": DATASETS, "algo": ALGOS},
    },
    "table2": {
        "name": "table2",
        "description": "Table 2 of Scellier et al. (2023): C-EP with the tuned CIFAR-10 and "
                       "CIFAR-100 presets, 100 and 300 epochs, 3 seeds",
        "overrides": {},
        "axes": {"seed": [0, 1, 2], "preset": ["sota-cifar10", "sota-cifar100"],
                 "epochs": [100, 300]},
    },
    "cpu-small": {
        "name": "cpu-small",
        "description": "Table 1's comparison at CPU scale: 9 algorithms x MNIST, Fashion-MNIST "
                       "x 2 seeds; quick preset (widths 16-32-64-64, 20/8 iterations), "
                       "first 3,000 training images, first 2,000 test images, 2 epochs",
        "preset": "quick",
        "overrides": {"train_subset": 3000, "test_subset": 2000, "epochs": 2},
        "axes": {"seed": [0, 1], "dataset": ["mnist", "fashion-mnist"], "algo": ALGOS},
    },
    "smoke": {
        "name": "smoke",
        "description": "every algorithm, one short epoch on the embedded Fashion-MNIST sample",
        "preset": "quick",
        "overrides": {"dataset": "fashion-mnist-sample", "train_subset": 512, "epochs": 1},
        "axes": {"algo": ALGOS},
    },
}
