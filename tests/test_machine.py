"""Machine and BLAS description (ebl_ref.machine) and the side-by-side comparison
(ebl_ref.compare), without timing anything."""
import json
import shutil
import subprocess
import sys
import textwrap

import pytest

from ebl_ref import compare, machine

SKYLAKE = [{"library": "openblas", "version": "0.3.31", "kernel": "SkylakeX", "threads": 2,
            "threading": "pthreads", "source": "threadpoolctl"}]
HASWELL = [dict(SKYLAKE[0], kernel="Haswell")]


def test_override_of_the_kernel_is_warned_with_the_fix():
    w = machine.kernel_warnings({"OPENBLAS_CORETYPE": "Haswell"}, SKYLAKE, {"avx512f"})
    assert len(w) == 1
    assert "OPENBLAS_CORETYPE=Haswell" in w[0] and "env -u OPENBLAS_CORETYPE" in w[0]
    w = machine.kernel_warnings({"OPENBLAS_L2_SIZE": "1048576"}, SKYLAKE, {"avx512f"})
    assert len(w) == 1 and "env -u OPENBLAS_L2_SIZE" in w[0]


def test_no_warning_without_override_and_native_kernel():
    assert machine.kernel_warnings({}, SKYLAKE, {"avx512f", "avx2"}) == []
    assert machine.kernel_warnings({}, HASWELL, {"avx2"}) == []  # no AVX-512: Haswell is right


def test_avx2_kernel_on_an_avx512_cpu_is_warned():
    w = machine.kernel_warnings({}, HASWELL, {"avx512f"})
    assert len(w) == 1 and "Haswell kernel" in w[0] and "AVX-512" in w[0]


def test_thread_count_variables_are_recorded_not_warned():
    env = {"OMP_NUM_THREADS": "1", "PATH": "/bin"}
    assert machine.blas_env(env) == {"OMP_NUM_THREADS": "1"}
    assert machine.kernel_warnings(env, SKYLAKE, {"avx512f"}) == []


def test_blas_info_names_library_kernel_and_threads():
    pytest.importorskip("threadpoolctl")
    libs = machine.blas_info()
    assert libs and libs[0]["source"] == "threadpoolctl"
    assert libs[0]["library"] and libs[0]["version"]
    assert isinstance(libs[0]["threads"], int) and libs[0]["threads"] >= 1


def test_blas_info_without_threadpoolctl_falls_back_to_numpy_config(monkeypatch):
    monkeypatch.setitem(sys.modules, "threadpoolctl", None)  # import now raises ImportError
    (lib,) = machine.blas_info()
    assert lib["kernel"] is None and lib["threads"] is None
    assert "threadpoolctl" in lib["source"]


def test_machine_info_is_json_and_describable():
    info = json.loads(json.dumps(machine.machine_info()))
    for key in ("host", "cpu", "cores", "python", "numpy", "blas", "blas_env", "warnings"):
        assert key in info, key
    line = machine.describe(info)
    assert info["cpu"] in line and "threads" in line


# --------------------------------------------------------------------------- compare

def fake_result(free, cep):
    return {"free_phase": {"examples_per_s": free}, "cep_step": {"examples_per_s": cep}}


def test_summary_takes_medians_and_the_ratio_of_medians():
    results = {"A": [fake_result(r, 2 * r) for r in (1.0, 9.0, 2.0)],
               "B": [fake_result(r, 2 * r) for r in (3.0, 4.0, 100.0)]}
    s = compare.summarise(results)
    assert s["free_phase"]["A"]["median"] == 2.0 and s["free_phase"]["B"]["median"] == 4.0
    assert s["free_phase"]["ratio"] == 2.0 and s["cep_step"]["ratio"] == 2.0
    assert s["free_phase"]["B"]["max"] == 100.0


def test_alternate_runs_a_b_a_b(capsys):
    calls = []

    def run(root, flags):
        calls.append((root, tuple(flags)))
        return fake_result(1.0, 1.0)

    out = compare.alternate({"A": ("a", ["--x"]), "B": ("b", [])}, 3, run=run)
    assert calls == [("a", ("--x",)), ("b", ())] * 3
    assert len(out["A"]) == len(out["B"]) == 3
    with pytest.raises(ValueError, match="rounds"):
        compare.alternate({"A": ("a", [])}, 0, run=run)


def write_fake_bench(root, body):
    (root / "ebl_ref").mkdir(parents=True)
    (root / "ebl_ref" / "__init__.py").write_text("")
    (root / "ebl_ref" / "bench.py").write_text(textwrap.dedent(body))


def test_run_side_runs_that_trees_benchmark(tmp_path):
    write_fake_bench(tmp_path, """
        import json, sys
        print("noise")
        print(json.dumps({"argv": sys.argv[1:], "file": __file__}))
    """)
    r = compare.run_side(tmp_path, ["--batch", "4"])
    assert r["argv"] == ["--json", "--batch", "4"]
    assert r["file"].startswith(str(tmp_path))  # that tree's code, not this checkout's


def test_run_side_failure_names_the_error(tmp_path):
    write_fake_bench(tmp_path, "raise SystemExit('unknown flag --conv')\n")
    with pytest.raises(compare.CompareError, match="unknown flag --conv"):
        compare.run_side(tmp_path, [])


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_worktree_checks_out_the_revision_and_cleans_up(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(git + ["init", "-q"], check=True)
    (repo / "f.txt").write_text("one")
    subprocess.run(git + ["add", "f.txt"], check=True)
    subprocess.run(git + ["commit", "-qm", "one"], check=True)
    (repo / "f.txt").write_text("two")  # uncommitted change stays out of the worktree
    with compare.worktree("HEAD", repo) as tree:
        assert (tree / "f.txt").read_text() == "one"
    assert not tree.exists()
    with pytest.raises(compare.CompareError, match="cannot check out 'nope'"):
        with compare.worktree("nope", repo):
            pass
    head = subprocess.run(["git", "-C", str(repo), "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True, check=True).stdout.strip()
    assert compare.describe_tree(repo) == head + "+changes"  # f.txt differs from HEAD
    subprocess.run(git + ["commit", "-qam", "two"], check=True)
    assert compare.describe_tree(repo) == subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "--short", "HEAD"], capture_output=True,
        text=True, check=True).stdout.strip()
    assert compare.describe_tree(tmp_path) == "unknown"  # not a git checkout


def test_main_with_an_unknown_revision_exits_2(capsys):
    assert compare.main(["no-such-revision-xyz", "--rounds", "1"]) == 2
    assert "cannot check out" in capsys.readouterr().err


def test_main_refuses_zero_rounds(capsys):
    with pytest.raises(SystemExit) as e:
        compare.main(["HEAD", "--rounds", "0"])
    assert e.value.code == 2
