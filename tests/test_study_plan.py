"""Study files, their expansion into cells, and the cost model (no processes, no data)."""
import json

import pytest

from ebl_ref import cli
from ebl_ref.config import resolve
from ebl_ref.network import DCHN
from ebl_ref.study import cost
from ebl_ref.study.builtin import STUDIES
from ebl_ref.study.cli import main as study_main
from ebl_ref.study.cli import makespan
from ebl_ref.study.plan import expand
from ebl_ref.study.spec import StudyError, load_study, parse_study, read_study_file

ALGOS = ["tbp", "rbp", "cl", "p-ep", "n-ep", "c-ep", "p-cpl", "n-cpl", "c-cpl"]


def config_of_argv(argv):
    """What run.py resolves from a cell's flags: the oracle that argv reproduces the cell."""
    if hasattr(cli, "train_parser"):  # the one-CLI version (flags derived from Config)
        from ebl_ref.flags import given_settings
        from ebl_ref.presets import default_preset
        args = cli.train_parser().parse_args(list(argv))
        return resolve(default_preset(args.preset, args.dataset),
                       **given_settings(args)).to_dict()
    from ebl_ref.runner import _overrides, default_preset
    args = cli.build_parser().parse_args(list(argv))
    return resolve(default_preset(args), **_overrides(args)).to_dict()


# --------------------------------------------------------------------------- built-in studies

def test_table1_is_135_cells_in_table_1_layout():
    cells = expand(load_study("table1"))
    assert len(cells) == 135                                    # 9 algos x 5 datasets x 3 seeds
    assert len({c.key for c in cells}) == 135
    assert cells[0].key == "mnist/tbp/seed0" and cells[-1].key == "cifar100/c-cpl/seed2"
    assert {c.config["dataset"] for c in cells} == {"mnist", "fashion-mnist", "svhn", "cifar10",
                                                    "cifar100"}
    assert [c.config["algo"] for c in cells[:9]] == ALGOS
    by_key = {c.key: c for c in cells}
    c = by_key["cifar10/cl/seed2"].config
    # the paper's Table 1 settings (§4.1, comparative preset); CL clamps: beta 1
    assert (c["epochs"], c["batch_size"], c["free_iters"], c["train_iters"], c["beta"]) == \
        (100, 128, 60, 15, 1.0)
    assert c["widths"] == [128, 256, 512, 512] and c["seed"] == 2
    assert by_key["svhn/c-ep/seed1"].config["beta"] == 0.25


def test_table2_sweeps_the_sota_presets_and_epochs_with_a_tag():
    cells = expand(load_study("table2"))
    assert len(cells) == 12
    keys = {c.key for c in cells}
    assert "cifar10/c-ep/epochs=300/seed2" in keys and "cifar100/c-ep/epochs=100/seed0" in keys
    c = next(c for c in cells if c.key == "cifar10/c-ep/epochs=300/seed2").config
    assert (c["preset"], c["epochs"], c["beta"], c["train_iters"]) == ("sota-cifar10", 300, 0.1,
                                                                       20)


def test_cpu_small_is_pinned():
    # README "Study" and results/cpu-small: the evidence the lead runs; change both together
    s = STUDIES["cpu-small"]
    assert s["preset"] == "quick"
    assert s["overrides"] == {"train_subset": 3000, "test_subset": 2000, "epochs": 2}
    assert s["axes"] == {"seed": [0, 1], "dataset": ["mnist", "fashion-mnist"], "algo": ALGOS}
    cells = expand(load_study("cpu-small"))
    assert len(cells) == 36 and cells[0].config["widths"] == [16, 32, 64, 64]


@pytest.mark.parametrize("name", sorted(STUDIES))
def test_every_cell_command_line_reproduces_its_config(name):
    for c in expand(load_study(name)):
        assert config_of_argv(c.argv) == c.config, c.key


# --------------------------------------------------------------------------- study files

def base(**changes):
    study = {"name": "s", "preset": "quick", "overrides": {"epochs": 2},
             "axes": {"seed": [0, 1], "algo": ["c-ep", "n-ep"]}}
    study.update(changes)
    return study


def test_toml_and_json_files_read_alike(tmp_path):
    (tmp_path / "s.toml").write_text(
        'name = "s"\npreset = "quick"\n[overrides]\nepochs = 2\n'
        '[axes]\nseed = [0, 1]\nalgo = ["c-ep", "n-ep"]\n')
    (tmp_path / "s.json").write_text(json.dumps(base()))
    a = read_study_file(tmp_path / "s.toml")
    b = read_study_file(tmp_path / "s.json")
    assert a == b and list(a.axes) == ["seed", "algo"]
    assert [c.key for c in expand(a)] == ["fashion-mnist-sample/c-ep/seed0",
                                          "fashion-mnist-sample/n-ep/seed0",
                                          "fashion-mnist-sample/c-ep/seed1",
                                          "fashion-mnist-sample/n-ep/seed1"]


def test_other_swept_fields_make_a_readable_tag():
    cells = expand(parse_study(base(axes={"beta": [0.1, 0.25], "widths": [[4, 4, 4, 4],
                                                                           [8, 8, 8, 8]]})))
    assert [c.key for c in cells] == [
        "fashion-mnist-sample/c-ep/beta=0.1,widths=4x4x4x4/seed0",
        "fashion-mnist-sample/c-ep/beta=0.1,widths=8x8x8x8/seed0",
        "fashion-mnist-sample/c-ep/beta=0.25,widths=4x4x4x4/seed0",
        "fashion-mnist-sample/c-ep/beta=0.25,widths=8x8x8x8/seed0"]
    assert cells[1].argv[-4:] == ("--beta", "0.1", "--widths", "8,8,8,8")


@pytest.mark.parametrize("study, message", [
    (base(axes={}), "'axes' is empty"),
    (base(axes={"sed": [0]}), "axes.sed is not a config field"),
    (base(overrides={"device": "gpu"}), "pass --device to 'study run'"),
    (base(overrides={"data_dir": "/d"}), "pass --data-dir to 'study run'"),
    (base(overrides={"preset": "quick"}), "top-level key 'preset'"),
    (base(axes={"seed": [0, 0]}), "axes.seed repeats a value"),
    (base(axes={"seed": 3}), "axes.seed must be a non-empty list"),
    (base(overrides={"seed": 1}, axes={"seed": [0]}), "seed both overridden and swept"),
    (base(preset="fastest"), "unknown preset 'fastest'"),
    ({**base(), "preset": None}, "no base 'preset'"),
    (base(name="a b"), "'name' must be a short name"),
    (base(colour="red"), "unknown key(s) colour"),
    (base(axes={"beta": [2.0], "algo": ["c-ep"]}), "--beta must be < 1 for c-ep"),
    (base(axes={"algo": ["ep"]}), "unknown algorithm 'ep'"),
    (base(axes={"dataset": ["../x"]}), "unknown dataset"),
])
def test_bad_studies_are_refused_with_one_line(study, message):
    with pytest.raises(StudyError) as exc:
        expand(parse_study(study))
    assert message in str(exc.value)
    assert "\n" not in str(exc.value)


def test_scalar_for_a_list_field_means_every_layer():
    cells = expand(parse_study(base(overrides={"gains": 0.8})))
    assert cells[0].config["gains"] == [0.8] * 5


def test_cells_sharing_a_folder_are_refused():
    with pytest.raises(StudyError, match="would share the folder"):
        expand(parse_study(base(axes={"gains": [0.5, [0.5]]})))


def test_unknown_study_name_and_bad_files(tmp_path, capsys):
    assert study_main(["plan", "tabel1"]) == 2
    assert "unknown study 'tabel1'" in capsys.readouterr().err
    (tmp_path / "s.toml").write_text("name = \n")
    assert study_main(["plan", str(tmp_path / "s.toml")]) == 2
    err = capsys.readouterr().err
    assert "is not valid TOML" in err and "Traceback" not in err


# --------------------------------------------------------------------------- cost model

def test_flops_per_example_by_hand():
    """C = (1, 2, 3, 4, 5), S = 32, M = 10: conv MACs 18432, 13824, 6912, 2880; dense 200;
    I = 2(2·23616 + 2·200) = 95264; c1 = 36864; G = 2·42248 = 84496; P = 2·66064 = 132128."""
    net = DCHN(in_channels=1, widths=(2, 3, 4, 5), n_classes=10)
    assert cost.conv_macs(net) == [None, 18432, 13824, 6912, 2880, 200]
    assert net.flops_per_iteration() == 95264
    f = lambda algo, z="relaxed": cost.train_flops(algo, net, 10, 4, z)  # noqa: E731
    assert f("c-ep") == f("c-cpl") == f("n-ep") == f("cl") == 36864 + 10 * 95264 + \
        8 * 95264 + 2 * 84496 == 1920608
    assert f("p-ep", "free") == 36864 + 10 * 95264 + 4 * 95264 + 2 * 84496 == 1539552
    assert f("c-ep", "free") == 1920608                      # centred rules have no β = 0 term
    assert f("tbp") == 989504 + 4 * (2 * 95264 + 132128) == 2280128
    assert f("rbp") == 989504 + 4 * 95264 + 132128 == 1502688
    with pytest.raises(ValueError, match="no cost model"):
        f("ep")


def test_cell_cost_counts_training_and_evaluation():
    config = resolve("quick", dataset="mnist", widths=(2, 3, 4, 5), free_iters=10,
                     train_iters=4, epochs=2, train_subset=1000, val_size=100).to_dict()
    k = cost.cell_cost(config)
    assert (k.train_examples, k.eval_examples) == (900, 10100)     # MNIST test set: 10,000
    assert k.flops == 2 * (900 * 1920608 + 10100 * 989504)
    assert k.hours(1.0) == pytest.approx(k.flops / 1e9 / 3600)


def test_makespan_takes_cells_in_order():
    assert makespan([3, 1, 1, 1], 2) == 3
    assert makespan([1, 1, 3], 2) == 4
    assert makespan([2, 2], 1) == 4


def test_plan_prints_every_cell_with_its_cost(capsys):
    assert study_main(["plan", "table1", "--gflops", "36000", "--workers", "9"]) == 0
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if "/seed" in line]
    assert len(lines) == 135
    assert "mnist/c-ep/seed0" in out and "EFLOP" in out and "wall-clock with 9 worker(s)" in out
    assert study_main(["plan", "cpu-small", "--json"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert len(plan["cells"]) == 36 and plan["cells"][0]["eval_examples"] == 2000
    assert study_main(["plan", "table1", "--gflops", "0"]) == 2
    assert "--gflops must be > 0" in capsys.readouterr().err


def test_show_prints_a_study_file_that_reads_back(tmp_path, capsys):
    assert study_main(["show", "table2"]) == 0
    path = tmp_path / "t2.json"
    path.write_text(capsys.readouterr().out)
    assert [c.key for c in expand(read_study_file(path))] == \
        [c.key for c in expand(load_study("table2"))]
