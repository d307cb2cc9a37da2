"""Resume policy: the run folder is the single source of truth for a run's settings.

``--resume DIR`` reads ``DIR/config.json``; flags given with it may change only the resumable
settings (:data:`ebl_ref.config.RESUMABLE`: they change how, not what, is computed, and
``--epochs`` sets a new target — the cosine schedule is recomputed for the new length). What
a resume changes is written back to ``config.json`` (atomically) before training continues,
so that the next plain ``--resume DIR`` continues to the same target.
"""
from __future__ import annotations

from pathlib import Path

from .config import RESUMABLE, Config, ConfigError, flag, resolve
from .jsonfile import BadFileError
from .runfiles import CONFIG, read_config


def resume_config(run_dir, overrides: dict) -> tuple[Config, dict]:
    """The settings of the run in ``run_dir`` with ``overrides`` applied.

    Returns ``(config, changed)``, ``changed`` mapping each setting the overrides change to
    ``(old, new)``.

    Raises
    ------
    BadFileError
        config.json is missing, not JSON, or holds values that are not valid settings.
    ConfigError
        An override is invalid, or changes a setting that is not resumable.
    """
    run_dir = Path(run_dir)
    stored = read_config(run_dir)
    preset = stored.pop("preset", "comparative")
    try:
        config = resolve(preset, **stored)
    except ConfigError as exc:
        raise BadFileError(f"{run_dir / CONFIG}: {exc}; fix the file (or restore it), or start "
                           "a new run") from None
    asked = overrides.get("preset")
    if asked is not None and asked != preset:
        raise ConfigError(f"--resume {run_dir}: the run was made with preset {preset!r}, not "
                          f"{asked!r}; drop --preset to continue it, or start a new run")
    proposed = resolve(preset, **{**config.to_dict(), **overrides})
    before, after = config.to_dict(), proposed.to_dict()
    changed = {k: (before[k], after[k]) for k in after if after[k] != before[k]}
    clash = [k for k in changed if k not in RESUMABLE]
    if clash:
        flags = ", ".join(flag(k) for k in clash)
        raise ConfigError(f"--resume {run_dir}: the run was made with a different "
                          f"{', '.join(clash)}; drop {flags} to continue it, or start a new run "
                          f"(only {', '.join(flag(k) for k in RESUMABLE)} may change)")
    return proposed, changed


def check_target(run_dir, config: Config, trained: int) -> None:
    """Refuse an ``--epochs`` below the epochs already trained."""
    if config.epochs < trained:
        raise ConfigError(f"--resume {run_dir}: --epochs {config.epochs} is fewer than the "
                          f"{trained} epochs already trained; give --epochs {trained} or more")
