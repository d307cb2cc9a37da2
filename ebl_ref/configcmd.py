"""``ebl-ref config [PRESET|RUN_DIR] [train flags]``: the resolved settings, without starting
anything — a preset's (with any flags applied, as ``train`` would resolve them) or a run
folder's ``config.json`` — each with where its value comes from, and the run's plan (examples,
iterations, FLOPs; ``train --dry-run`` adds the measured duration)."""
from __future__ import annotations

from pathlib import Path

from .config import FIELDS, flag, resolve
from .data import DataError, dataset_sizes
from .estimate import Plan
from .flags import Parser, add_config_flags, given_settings, show_value
from .jsonfile import dumps
from .presets import PRESETS, default_preset
from .resume import resume_config
from .runfiles import is_run_dir
from .values import UsageError


def parser(prog: str) -> Parser:
    p = Parser(prog=f"{prog} config",
               description="Print the resolved settings of a preset (with any train flags "
                           "applied) or of a run folder, and where each value comes from; then "
                           "the run's plan. Starts nothing.")
    p.add_argument("source", nargs="?", metavar="PRESET|RUN_DIR",
                   help=f"a preset ({', '.join(PRESETS)}) or a run folder (default: the "
                        "preset train would use)")
    p.add_argument("--json", action="store_true",
                   help="print config.json's content (one JSON object) instead")
    add_config_flags(p)
    return p


def resolved(source, settings: dict):
    """``(config, origin)``: the :class:`~ebl_ref.config.Config` and, per field, "flag",
    "preset <name>", "default" or "config.json"."""
    if source is not None and source not in PRESETS:
        if not Path(source).is_dir():
            raise UsageError(f"config: {source!r} is neither a preset ({', '.join(PRESETS)}) "
                             "nor a folder")
        if not is_run_dir(source):
            raise UsageError(f"config: {source} is not a run folder (no config.json there)")
        if settings:
            raise UsageError(f"config {source}: flags apply to presets; a run folder's settings "
                             "are its config.json (change the resumable ones with --resume)")
        config, _ = resume_config(source, {})
        return config, {name: "config.json" for name in FIELDS}
    if source is not None and settings.get("preset") not in (None, source):
        raise UsageError(f"config {source}: --preset {settings['preset']} names another preset")
    preset = source or default_preset(settings.get("preset"), settings.get("dataset"))
    config = resolve(preset, **settings)
    origin = {}
    for name in FIELDS:
        origin[name] = ("flag" if name in settings else f"preset {preset}"
                        if name in PRESETS[preset] or name == "preset" else "default")
    if config.algo == "cl" and "beta" not in settings:
        origin["beta"] = "CL clamps: β = 1"
    return config, origin


def main(argv, prog: str = "ebl-ref") -> int:
    args = parser(prog).parse_args(argv)
    config, origin = resolved(args.source, given_settings(args))
    if args.json:
        print(dumps(config.to_dict()))
        return 0
    where = args.source if args.source and args.source not in PRESETS else \
        f"preset {config.preset}"
    print(f"settings ({where}; flags of train override any of them):")
    width = max(len(flag(n)) for n in FIELDS)
    for name in FIELDS:
        value = show_value(getattr(config, name))
        print(f"  {flag(name):<{width}}  {value:<32} {origin[name]}")
    try:
        sizes = dataset_sizes(config.dataset, config.data_dir)
    except DataError:
        sizes = None  # the registry's sizes
    for line in Plan.of(config, sizes).lines():
        print(line)
    return 0
