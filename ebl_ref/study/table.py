"""``study table DIR [--paper] [--json | --markdown]``: a study's results in Table 1's layout.

Rows: the algorithms in Table 1's order (one row per algorithm and value of the study's other
swept fields, e.g. ``c-ep epochs=300`` for ``table2``); columns: the datasets. Each entry is
the final test error in %, mean ± sample standard deviation over the cell's seeds (ddof = 1; no
± for one seed) and n/N: seeds finished of the seeds planned. With ``--paper`` the paper's
number stands beside ours (Table 1, or Table 2 for the ``sota-*`` presets,
:mod:`ebl_ref.study.paper`), and a note lists every setting in which our cells differ from the
paper's. Below the table: the paper's four lessons of §4.1 evaluated on our numbers
(:mod:`ebl_ref.study.lessons`).
"""
from __future__ import annotations

from ..config import resolve
from ..tables import (DATASET_ORDER, IGNORED, ORDER, STD_NOTE, format_stat, grid, group_runs,
                      read_runs, stats)
from . import lessons as lessons_mod
from .paper import TABLE2_PRESETS, paper_value

# Settings left out of the comparison with the paper: how, not what, a run computes.
NOT_COMPARED = set(IGNORED) | {"device", "dtype"}


def _rank(name, order):
    return (order.index(name), "") if name in order else (len(order), str(name))


def collect(study_dir, cells) -> dict:
    """``{(algo, tag, dataset): {"values": [...], "seeds": [...], "planned": N, "cells": [...],
    "config": a cell's config}}`` from the finished cells (final test error in %)."""
    out = {}
    runs, _ = read_runs([study_dir / c.key for c in cells])
    by_path = {r.path: r for r in runs}
    for c in cells:
        algo, dataset = c.config["algo"], c.config["dataset"]
        entry = out.setdefault((algo, c.tag, dataset), {"values": [], "seeds": [], "planned": 0,
                                                        "cells": [], "config": c.config})
        entry["planned"] += 1
        entry["cells"].append(c.key)
        run = by_path.get(str(study_dir / c.key))
        if run is not None and run.summary is not None and run.summary.get("test_error") \
                is not None:
            entry["values"].append(100 * float(run.summary["test_error"]))
            entry["seeds"].append(c.config["seed"])
    return out


def deviations(cells) -> dict:
    """``{field: (ours, paper's)}`` for every compared setting in which a cell differs from the
    paper's settings for it (the comparative preset; the sota presets for Table 2 cells).
    ``ours`` is a sorted list of the distinct values found."""
    found = {}
    for c in cells:
        cfg = c.config
        if cfg["preset"] in TABLE2_PRESETS:
            ref = resolve(cfg["preset"], seed=cfg["seed"], epochs=cfg["epochs"]
                          if cfg["epochs"] in (100, 300) else 100).to_dict()
        else:
            ref = resolve("comparative", algo=cfg["algo"], dataset=cfg["dataset"],
                          seed=cfg["seed"]).to_dict()
        for k, v in cfg.items():
            if k in NOT_COMPARED or ref.get(k) == v:
                continue
            paper = _show(ref.get(k)) if k != "train_subset" or ref.get(k) else "all"
            found.setdefault(k, (set(), paper))[0].add(_show(v))
    return {k: (sorted(ours), paper) for k, (ours, paper) in found.items()}


def _show(v) -> str:
    if isinstance(v, (list, tuple)):
        return ",".join(map(str, v))
    return str(v)


def build(study_dir, cells, paper: bool = False) -> dict:
    """The table, its notes and the lessons, as plain data (also the ``--json`` output)."""
    entries = collect(study_dir, cells)
    datasets = sorted({d for _, _, d in entries}, key=lambda d: _rank(d, DATASET_ORDER))
    rows = sorted({(a, t) for a, t, _ in entries}, key=lambda r: (r[1], _rank(r[0], ORDER)))
    table = []
    for algo, tag in rows:
        row = {"algo": algo, "tag": tag, "datasets": {}}
        for d in datasets:
            e = entries.get((algo, tag, d))
            if e is None:
                continue
            mean, std, n = stats(e["values"])
            item = {"mean": mean, "std": std, "std_ddof": 1, "n": n, "planned": e["planned"],
                    "test_error_percent": e["values"], "seeds": e["seeds"]}
            if paper:
                item["paper"], item["paper_source"] = paper_value(e["config"])
            row["datasets"][d] = item
        table.append(row)
    by_tag = {}
    for (algo, tag, d), e in entries.items():
        by_tag.setdefault(tag, {})[(algo, d)] = e["values"]
    lessons = {tag: [x.to_dict() for x in lessons_mod.evaluate(errors)]
               for tag, errors in sorted(by_tag.items())}
    out = {"note": STD_NOTE, "datasets": datasets, "rows": table, "lessons": lessons}
    if paper:
        out["deviations_from_paper"] = {k: {"ours": o, "paper": p}
                                        for k, (o, p) in deviations(cells).items()}
    return out


def format_text(built: dict, paper: bool = False, markdown: bool = False) -> str:
    datasets = built["datasets"]
    header = ["algo"]
    for d in datasets:
        header += [d, "paper"] if paper else [d]
    rows = [header]
    for row in built["rows"]:
        line = [row["algo"] + (f" {row['tag']}" if row["tag"] else "")]
        for d in datasets:
            item = row["datasets"].get(d)
            if item is None:
                line += ["", ""] if paper else [""]
                continue
            text = format_stat(item["mean"], item["std"], item["n"]) if item["n"] else "—"
            text = text.replace(f"(n={item['n']})", f"(n={item['n']}/{item['planned']})") \
                if item["n"] else f"— (n=0/{item['planned']})"
            line.append(text)
            if paper:
                line.append(item.get("paper") or "")
        rows.append(line)
    parts = [grid(rows, markdown), "", built["note"] + "; n/N = seeds finished / planned."]
    if paper:
        sources = sorted({i["paper_source"] for r in built["rows"]
                          for i in r["datasets"].values() if i.get("paper_source")})
        parts.append("paper: " + ("; ".join(sources) if sources else
                                  "no published number for these datasets and settings"))
        dev = built.get("deviations_from_paper") or {}
        if dev:
            parts.append("our settings differ from the paper's in: " + "; ".join(
                f"{k} {'/'.join(v['ours'])} (paper {v['paper']})" for k, v in dev.items())
                + " — the numbers are not expected to match.")
        else:
            parts.append("our settings are the paper's (apart from device and dtype).")
    for tag, lessons in built["lessons"].items():
        parts.append("")
        if tag:
            parts.append(f"[{tag}]")
        parts.append(lessons_mod.format_lessons([lessons_mod.Lesson(**x) for x in lessons]))
    return "\n".join(parts)


def tag_fields(cells) -> list:
    """The swept fields named in the cells' folder tags (those that vary within a dataset and
    algorithm, :mod:`ebl_ref.study.plan`)."""
    tags = next((c.tag for c in cells if c.tag), "")
    return [part.partition("=")[0] for part in tags.split(",")] if tags else []


def study_groups(runs, cells) -> tuple:
    """``(groups, keys)``: the study's runs grouped by algorithm, dataset and tag fields."""
    keys = tag_fields(cells)
    return group_runs(runs, keys=keys), keys
