"""``run.py table`` and ``run.py plot`` on hand-made run folders: runs are grouped by the
settings that differ, seeds aggregated with the sample std, duplicates counted once, n = 1
without ±; curves have markers, one colour per algorithm, distinct labels, and never land in
the current directory."""
import builtins
import json
import math

import pytest

from ebl_ref import cli
from ebl_ref.tables import differing, format_stat, group_runs, read_runs, stats


def fake_run(root, name, algo="c-ep", dataset="mnist", seed=0, errors=(0.1,), val=None,
             finished=True, **config):
    d = root / name
    d.mkdir(parents=True)
    cfg = {"algo": algo, "dataset": dataset, "seed": seed, "widths": [16, 32, 64, 64],
           "epochs": len(errors), "data_dir": f"/data/{name}", **config}
    (d / "config.json").write_text(json.dumps(cfg))
    metrics = [{"epoch": i + 1, "train_error": e + 0.01, "test_error": e,
                **({"val_error": val[i]} if val else {})} for i, e in enumerate(errors)]
    (d / "metrics.jsonl").write_text("".join(json.dumps(m) + "\n" for m in metrics))
    if finished:
        summary = {"algo": algo, "dataset": dataset, "seed": seed, "epochs": len(errors),
                   "test_error": errors[-1], "best_val_error": min(val) if val else None}
        if val:
            summary["test_error_at_best_val"] = errors[val.index(min(val))]
        (d / "summary.json").write_text(json.dumps(summary))
    return d


def test_stats_use_the_sample_standard_deviation():
    assert stats([1.0, 3.0]) == (2.0, math.sqrt(2), 2)          # ddof = 1: sqrt(2), not 1
    assert stats([4.0]) == (4.0, None, 1)
    assert format_stat(2.0, math.sqrt(2), 2) == "2.00 ± 1.41 (n=2)"
    assert format_stat(4.0, None, 1) == "4.00 (n=1)"               # never "± 0.00"


def test_runs_that_differ_are_not_pooled(tmp_path, capsys):
    runs = [fake_run(tmp_path, "a", errors=(0.2, 0.1)),                      # 2 epochs
            fake_run(tmp_path, "b", errors=(0.3,)),                          # 1 epoch
            fake_run(tmp_path, "c", errors=(0.05,), widths=[8, 8, 8, 8]),    # other widths
            fake_run(tmp_path, "d", seed=1, errors=(0.07,), widths=[8, 8, 8, 8])]
    records, _ = read_runs(runs)
    assert differing(records) == ["epochs", "widths"]        # data_dir differs but is ignored
    assert cli.main(["table", *map(str, runs)]) == 0
    out = capsys.readouterr().out
    assert "settings that differ between these runs (one block each): epochs, widths" in out
    assert "epochs=2, widths=16,32,64,64:" in out and "10.00 (n=1)" in out
    assert "epochs=1, widths=8,8,8,8:" in out and "6.00 ± 1.41 (n=2)" in out
    assert "± 0.00" not in out
    assert "sample standard deviation over seeds (ddof = 1" in out


def test_duplicate_seeds_are_counted_once_and_listed(tmp_path, capsys):
    runs = [fake_run(tmp_path, f"r{i}", errors=(e,)) for i, e in enumerate((0.01, 0.03, 0.05))]
    runs.append(fake_run(tmp_path, "s1", seed=1, errors=(0.02,)))
    groups = group_runs(read_runs(runs)[0])
    assert len(groups) == 1
    assert groups[0].values == pytest.approx([1.0, 2.0]) and groups[0].seeds == [0, 1]
    assert cli.main(["table", *map(str, runs)]) == 0
    out = capsys.readouterr().out
    assert "1.50 ± 0.71 (n=2)" in out
    assert out.count("duplicate:") == 2 and f"repeats the settings and seed of {runs[0]}" in out


def test_order_val_json_markdown_and_unfinished_runs(tmp_path, capsys):
    runs = [fake_run(tmp_path, "c", "c-ep", errors=(0.2, 0.1)),
            fake_run(tmp_path, "n", "n-ep", errors=(0.2, 0.05), val=[0.3, 0.2]),
            fake_run(tmp_path, "u", "tbp", errors=(0.2, 0.1), finished=False)]
    assert cli.main(["table", *map(str, runs)]) == 0
    out = capsys.readouterr().out
    assert out.index("n-ep") < out.index("c-ep")                 # Table 1's row order
    assert f"skipped {runs[2]}: unfinished (no summary.json)" in out
    assert cli.main(["table", "--val", *map(str, runs)]) == 0
    assert "5.00 (n=1)" in capsys.readouterr().out
    assert cli.main(["table", "--json", *map(str, runs)]) == 0
    data = json.loads(capsys.readouterr().out)
    c_ep = next(g for g in data["groups"] if g["algo"] == "c-ep")
    assert (c_ep["mean"], c_ep["std"], c_ep["n"], c_ep["std_ddof"]) == (10.0, None, 1, 1)
    assert cli.main(["table", "--markdown", *map(str, runs)]) == 0
    assert "| algo | mnist |" in capsys.readouterr().out


def test_table_without_finished_runs_fails_clearly(tmp_path, capsys):
    assert cli.main(["table", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "no finished runs" in err and "is not a run folder" in err
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "config.json").write_text("{not json")
    assert cli.main(["table", str(tmp_path / "r")]) == 2
    assert "config.json is not valid JSON" in capsys.readouterr().err


# --------------------------------------------------------------------------- plot

@pytest.fixture
def captured_figure(monkeypatch):
    """Record the figure ``run.py plot`` saves (and still write it)."""
    pytest.importorskip("matplotlib")
    import matplotlib
    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    seen = {}
    real = Figure.savefig

    def savefig(self, path, *args, **kwargs):
        seen["figure"], seen["path"] = self, path
        return real(self, path, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", savefig)
    return seen


def test_plot_groups_colours_by_algorithm_and_marks_every_epoch(tmp_path, monkeypatch,
                                                                captured_figure, capsys):
    runs_dir = tmp_path / "runs"
    runs = [fake_run(runs_dir, "a0", "c-ep", errors=(0.3, 0.2)),
            fake_run(runs_dir, "a1", "c-ep", seed=1, errors=(0.4, 0.3)),
            fake_run(runs_dir, "b", "c-ep", errors=(0.3, 0.2), beta=0.5),
            fake_run(runs_dir, "t", "tbp", errors=(0.25,)),               # one epoch
            fake_run(runs_dir, "f", "tbp", dataset="fashion-mnist", errors=(0.5, 0.4))]
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert cli.main(["plot", *map(str, runs)]) == 0
    out = capsys.readouterr().out
    assert list(elsewhere.iterdir()) == []                  # nothing in the current directory
    assert (runs_dir / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"wrote {runs_dir / 'curves.png'}" in out
    fig = captured_figure["figure"]
    assert [ax.get_title() for ax in fig.axes] == ["mnist", "fashion-mnist"]
    lines = [line for ax in fig.axes for line in ax.get_lines()]
    labels = [line.get_label() for line in lines]
    assert len(labels) == len(set(labels)) == 4
    assert all(line.get_marker() == "o" for line in lines)
    by_label = {line.get_label(): line for line in lines}
    seeds = next(k for k in labels if k.startswith("c-ep") and "n=2" in k)
    assert list(by_label[seeds].get_ydata()) == pytest.approx([35.0, 25.0])   # mean of seeds
    one_epoch = next(k for k in labels if k.startswith("tbp") and "epochs=1" in k)
    assert len(by_label[one_epoch].get_xdata()) == 1
    colours = {k.split()[0]: set() for k in labels}
    for k, line in by_label.items():
        colours[k.split()[0]].add(line.get_color())
    assert all(len(c) == 1 for c in colours.values())       # one colour per algorithm
    assert colours["c-ep"] != colours["tbp"]


def test_plot_without_matplotlib_names_the_extra(tmp_path, capsys, monkeypatch):
    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    run = fake_run(tmp_path, "r", errors=(0.3,))
    assert cli.main(["plot", str(run)]) == 2
    assert "ebl-ref[plot]" in capsys.readouterr().err
