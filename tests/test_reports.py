"""``run.py table`` and ``run.py plot`` on hand-made run folders."""
import builtins
import json

import pytest

from ebl_ref import cli
from ebl_ref.tables import collect, format_table


def fake_run(root, name, algo, dataset, seed, errors, val=None):
    d = root / name
    d.mkdir()
    (d / "config.json").write_text(json.dumps({"algo": algo, "dataset": dataset, "seed": seed}))
    metrics = [{"epoch": i + 1, "train_error": e + 0.01, "test_error": e,
                **({"val_error": val[i]} if val else {})} for i, e in enumerate(errors)]
    (d / "metrics.jsonl").write_text("".join(json.dumps(m) + "\n" for m in metrics))
    summary = {"algo": algo, "dataset": dataset, "seed": seed, "epochs": len(errors),
               "test_error": errors[-1], "best_val_error": min(val) if val else None}
    if val:
        summary["test_error_at_best_val"] = errors[val.index(min(val))]
    (d / "summary.json").write_text(json.dumps(summary))
    return d


def test_table_mean_and_std_over_seeds(tmp_path, capsys):
    runs = [fake_run(tmp_path, f"r{s}", "c-ep", "mnist", s, [0.1, e])
            for s, e in enumerate([0.01, 0.03])]
    runs.append(fake_run(tmp_path, "r9", "n-ep", "mnist", 0, [0.2, 0.05], val=[0.3, 0.2]))
    cells = collect(runs)
    assert cells[("c-ep", "mnist")] == pytest.approx([1.0, 3.0])
    text = format_table(cells)
    assert "2.00 ± 1.00 (n=2)" in text and text.index("n-ep") < text.index("c-ep")
    assert collect(runs, use_val=True) == {("n-ep", "mnist"): [pytest.approx(5.0)]}
    assert cli.main(["table", *map(str, runs)]) == 0
    assert "c-ep" in capsys.readouterr().out


def test_table_without_finished_runs_fails_clearly(tmp_path, capsys):
    assert cli.main(["table", str(tmp_path)]) == 2
    assert "no finished runs" in capsys.readouterr().err


def test_plot_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    run = fake_run(tmp_path, "r", "c-ep", "mnist", 0, [0.3, 0.2, 0.1], val=[0.3, 0.2, 0.15])
    out = tmp_path / "curves.png"
    assert cli.main(["plot", str(run), "--out", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_without_matplotlib_names_the_extra(tmp_path, capsys, monkeypatch):
    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    run = fake_run(tmp_path, "r", "c-ep", "mnist", 0, [0.3])
    assert cli.main(["plot", str(run)]) == 2
    assert "ebl-ref[plot]" in capsys.readouterr().err
