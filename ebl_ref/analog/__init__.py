"""Analog non-idealities: what changes when the DCHN runs on a physical machine (issue 14).

Off by default, and then bit-identical to the ideal code. Three modules, read in this order:

* :mod:`.config` — :class:`AnalogConfig` (aihwkit's names where they exist), presets with their
  sources, range checks;
* :mod:`.models` — each non-ideality as a plain function over arrays;
* :mod:`.device` — :class:`AnalogDevice`, a run's machine (per-device draws, the Generator of
  the moment) and the hooks called by ``minimize``, ``rules`` and ``train``.

docs/PORTING.md "Analog non-idealities" maps each model to its physical effect, the equation
where it enters, and how to set it from a datasheet.
"""
from __future__ import annotations

from .config import FIELDS, IDEAL, PRESETS, AnalogConfig, AnalogConfigError, preset, validate
from .device import AnalogDevice, build, child_rng

__all__ = ["FIELDS", "IDEAL", "PRESETS", "AnalogConfig", "AnalogConfigError", "AnalogDevice",
           "build", "child_rng", "from_config", "device_for", "preset", "validate"]


def from_config(config) -> AnalogConfig:
    """The :class:`AnalogConfig` of a run's :class:`~ebl_ref.config.Config` (its ``analog_*``
    fields)."""
    return AnalogConfig(**{name: getattr(config, f"analog_{name}") for name in FIELDS})


_BUILT: dict = {}


def device_for(config, net, params: dict) -> AnalogDevice | None:
    """The run's machine (built once per settings, network and seed, then reused), or None
    when every non-ideality is off: the caller then takes the ideal code path unchanged."""
    cfg = from_config(config)
    if cfg.is_ideal:
        return None
    key = (cfg, net, tuple(config.gains), config.seed,
           tuple((k, v.shape, str(v.dtype), type(v).__module__) for k, v in params.items()))
    if key not in _BUILT:
        if len(_BUILT) > 8:
            _BUILT.clear()
        _BUILT[key] = build(cfg, net, config.gains, config.seed, params)
    return _BUILT[key]
