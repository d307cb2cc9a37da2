"""``run.py gradcheck``: the report's numbers, its JSON, and one clear message per bad input."""
import json
import sys

import numpy as np
import pytest

from ebl_ref import gradcheck
from ebl_ref.gradcheck import compare, fitted_slope, main

TINY_ARGS = ["--widths", "2,3,3,2", "--batch", "3", "--free-iters", "8", "--train-iters", "4",
             "--rbp-iters", "10", "--betas", "0.1,0.05"]


def test_main_prints_the_tables_and_writes_json(tmp_path, capsys):
    path = tmp_path / "check.json"
    assert main(TINY_ARGS + ["--json", str(path)]) == 0
    out = capsys.readouterr().out
    for title in ("cosine similarity to RBP", "norm ratio", "relative error", "fitted slope"):
        assert title in out
    report = json.loads(path.read_text())
    rules = [(r["rule"], r["beta"]) for r in report["rows"]]
    assert rules[:2] == [("cl", None), ("tbp", None)]
    assert sorted(rules[2:]) == sorted((rule, b) for b in (0.1, 0.05)
                                       for rule in gradcheck.BETA_RULES)
    for r in report["rows"]:
        assert set(r["cosine"]) == set(report["params"]) | {"all"}
        assert all(c is None or -1 - 1e-12 <= c <= 1 + 1e-12 for c in r["cosine"].values())
    assert report["config"]["dtype"] == "float64"
    assert set(report["active_set_changes"]) == {"0.1", "0.05"}


def test_converged_tbp_agrees_with_rbp(tmp_path):
    """From a converged free state, TBP with many iterations and RBP with many terms agree."""
    path = tmp_path / "check.json"
    main(["--widths", "2,3,3,2", "--batch", "2", "--free-iters", "300", "--train-iters", "150",
          "--rbp-iters", "300", "--betas", "0.1", "--json", str(path)])
    tbp_row = json.loads(path.read_text())["rows"][1]
    assert tbp_row["rule"] == "tbp"
    assert tbp_row["rel_error"]["all"] < 1e-8
    assert tbp_row["cosine"]["all"] > 1 - 1e-12


def test_compare_and_slope():
    rng = np.random.default_rng(0)
    ref = {k: rng.standard_normal(3) for k in gradcheck.PARAM_NAMES}
    same, double = compare(ref, ref), compare({k: 2 * v for k, v in ref.items()}, ref)
    opposite = compare({k: -v for k, v in ref.items()}, ref)
    for name in list(gradcheck.PARAM_NAMES) + ["all"]:
        assert same["cosine"][name] == pytest.approx(1) and same["rel_error"][name] == 0
        assert double["norm_ratio"][name] == pytest.approx(2)
        assert double["rel_error"][name] == pytest.approx(1)
        assert opposite["cosine"][name] == pytest.approx(-1)
    betas = [0.4, 0.2, 0.1]
    assert fitted_slope(betas, [3 * b**2 for b in betas]) == pytest.approx(2)
    assert fitted_slope(betas, [b for b in betas]) == pytest.approx(1)


@pytest.mark.parametrize("argv, message", [
    (["--betas", "big"], "betas"),
    (["--betas", "0.1,-0.1"], "betas"),
    (["--widths", "1,2,3"], "widths"),
    (["--batch", "0"], "--batch must be an integer >= 1"),
    (["--gains", "1,2"], "gains"),
    (["--dataset", "imagenet"], "unknown dataset"),
    (["--device", "tpu"], "unknown device"),
    (["--dtype", "float16"], "float16"),
    (["--batch", "100000"], "exceeds"),
    (["--nonsense"], "unrecognized"),
])
def test_bad_input_is_one_message_and_a_nonzero_exit(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    code = exc.value.code
    assert code not in (0, None)
    text = code if isinstance(code, str) else capsys.readouterr().err
    assert message in text
    assert "Traceback" not in text


def test_missing_dataset_files_are_a_clear_message(tmp_path):
    with pytest.raises(SystemExit) as exc:
        main(["--dataset", "mnist", "--data-dir", str(tmp_path), "--no-download"])
    assert isinstance(exc.value.code, str) and "mnist" in exc.value.code


def test_plot_without_matplotlib_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    with pytest.raises(SystemExit) as exc:
        main(TINY_ARGS + ["--plot", str(tmp_path / "p.png")])
    assert "pip install 'ebl-ref[plot]'" in exc.value.code


def test_unwritable_json_path_is_a_clear_message(tmp_path):
    with pytest.raises(SystemExit) as exc:
        main(TINY_ARGS + ["--json", str(tmp_path / "missing-folder" / "c.json")])
    assert "cannot write" in exc.value.code


def test_plot_draws_every_beta_rule_on_log_log_axes(monkeypatch, tmp_path):
    """With a stand-in matplotlib (the real one is an optional extra): one log-log line per
    β-dependent rule plus the slope-1 and slope-2 guides, saved to the path."""
    from unittest import mock

    pyplot = mock.MagicMock()
    fig, ax = mock.MagicMock(), mock.MagicMock()
    pyplot.subplots.return_value = (fig, ax)
    fake = mock.MagicMock(pyplot=pyplot)
    monkeypatch.setitem(sys.modules, "matplotlib", fake)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", pyplot)
    path = str(tmp_path / "p.png")
    assert main(TINY_ARGS + ["--plot", path]) == 0
    labels = [c.kwargs.get("label") for c in ax.loglog.call_args_list]
    assert labels == list(gradcheck.BETA_RULES) + ["slope 1", "slope 2"]
    assert all(len(c.args[0]) == 2 for c in ax.loglog.call_args_list)  # two betas
    fig.savefig.assert_called_once()
    assert fig.savefig.call_args.args[0] == path
