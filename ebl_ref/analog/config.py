"""The analog machine's settings: one frozen dataclass, presets with their sources, and checks.

Names and meanings follow IBM aihwkit where a setting exists there (``aihwkit.simulator.configs``
``PulsedDevice`` / ``ConstantStepDevice`` for the update, ``IOParameters`` for the read-out,
``MappingParameter`` for the weight range); the others are ours and say so. Every value in
*normalised device units*: a weight θ of tensor k is stored as ``w = θ / r_k`` on a device whose
conductance range is ``[w_min, w_max]``, with ``r_k = (init bound of tensor k) / omega``
(:func:`ebl_ref.analog.device.weight_scales`); states are read on their own scale (hidden units
lie in [0, 1], the full scale of the read-out).

Every default is *ideal* (the model off): :data:`IDEAL`, and ``AnalogConfig().is_ideal``.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from ..values import AT_LEAST_ONE, NON_NEGATIVE, POSITIVE, Range, UsageError


def _setting(default, doc: str, within: Range):
    return field(default=default, metadata={"help": doc, "within": within})


UNIT = Range(0, 1)
SIGNED_UNIT = Range(-1, 1, lo_open=True, hi_open=True)


@dataclass(frozen=True)
class AnalogConfig:
    """The non-idealities of one analog machine (all off by default).

    Each field's ``help`` (``dataclasses.fields(AnalogConfig)[i].metadata``) is what
    ``--analog-<name>`` shows; its ``within`` is the accepted range (:func:`validate`).
    """

    # (a) weight programming ------------------------------------------------------------------
    levels: int = _setting(0, "programmable conductance levels per device, evenly spaced over "
                           "[w_min, w_max] (0: continuous)", NON_NEGATIVE)
    w_max: float = _setting(1.0, "upper conductance bound, normalised (aihwkit PulsedDevice "
                            "w_max)", POSITIVE)
    w_min: float = _setting(-1.0, "lower conductance bound, normalised (aihwkit PulsedDevice "
                            "w_min)", Range(None, 0, hi_open=True))
    omega: float = _setting(0.5, "where the initial weights' bound lands in [w_min, w_max] "
                            "(aihwkit MappingParameter weight_scaling_omega; ours: 0.5)",
                            Range(0, 1, lo_open=True))
    prog_noise: float = _setting(0.0, "programming noise: std of the written weight, normalised "
                                 "units, redrawn at every write", NON_NEGATIVE)
    w_gain_dtod: float = _setting(0.0, "device-to-device spread of each device's conductance "
                                  "gain, relative std, drawn once per run (ours)", Range(0, 0.5))
    # (b) weight read noise, (c) relaxation noise ---------------------------------------------
    w_noise: float = _setting(0.0, "weight read noise during relaxation, std in normalised "
                              "units, redrawn per phase (aihwkit IOParameters w_noise, additive "
                              "constant type)", NON_NEGATIVE)
    relax_noise: float = _setting(0.0, "noise on every layer update: std added to the "
                                  "pre-activation at each half-step, state units (ours; the "
                                  "analogue of aihwkit's forward out_noise)", NON_NEGATIVE)
    # (d) state read-out ----------------------------------------------------------------------
    out_res: float = _setting(0.0, "ADC resolution of the state read-out the rule sees, as a "
                              "fraction of full scale 1 (aihwkit IOParameters out_res; 0: "
                              "exact)", UNIT)
    out_noise: float = _setting(0.0, "read-out noise of the states the rule sees, std in state "
                                "units (aihwkit IOParameters out_noise)", NON_NEGATIVE)
    n_reads: int = _setting(1, "repeated reads of each state, averaged (ours)", AT_LEAST_ONE)
    # (e) pulsed update -----------------------------------------------------------------------
    dw_min: float = _setting(0.0, "update step of one pulse, normalised (aihwkit PulsedDevice "
                             "dw_min; 0: no pulsed device, the weights are re-programmed from "
                             "a digital copy after each step)", Range(0, 1))
    dw_min_dtod: float = _setting(0.0, "device-to-device spread of dw_min, relative (aihwkit "
                                  "dw_min_dtod)", Range(0, 1))
    dw_min_std: float = _setting(0.0, "cycle-to-cycle spread of each pulse, relative to dw_min "
                                 "(aihwkit dw_min_std)", NON_NEGATIVE)
    up_down: float = _setting(0.0, "up/down asymmetry β: up steps dw_min(1 + β), down steps "
                              "dw_min(1 − β) (aihwkit up_down)", SIGNED_UNIT)

    @property
    def is_ideal(self) -> bool:
        """Whether every non-ideality is off (then no hook changes a single bit)."""
        return self == IDEAL

    @property
    def pulsed(self) -> bool:
        """Updates are pulse trains on the device (dw_min > 0), not re-programming."""
        return self.dw_min > 0

    @property
    def programs(self) -> bool:
        """Writing a weight changes it (quantisation or programming noise)."""
        return self.levels > 0 or self.prog_noise > 0

    @property
    def reads_weights(self) -> bool:
        """The relaxation sees weights other than the stored ones (gain spread, read noise)."""
        return self.w_gain_dtod > 0 or self.w_noise > 0

    @property
    def reads_states(self) -> bool:
        """The rule sees states other than the relaxed ones."""
        return self.out_res > 0 or self.out_noise > 0


IDEAL = AnalogConfig()
FIELDS = {f.name: f for f in dataclasses.fields(AnalogConfig)}

# aihwkit IOParameters defaults (aihwkit/simulator/parameters/io.py): out_res = 1/(2^9 − 2),
# out_noise = 0.06, w_noise = 0; here applied to the state read-out on full scale 1.
_AIHWKIT_IO = {"out_res": 1 / (2**9 - 2), "out_noise": 0.06}

PRESETS = {
    "ideal": {},
    # The read-out alone: aihwkit's default peripheral I/O (9-bit ADC, σ_out = 0.06).
    "aihwkit-io": dict(_AIHWKIT_IO),
    # aihwkit presets/devices.py GokmenVlasovPresetDevice (Gokmen & Vlasov, Front. Neurosci.
    # 2016, doi:10.3389/fnins.2016.00333): 1,200 states over [−1, 1], 30% spreads.
    "gokmen-vlasov": {**_AIHWKIT_IO, "dw_min": 0.0016, "dw_min_dtod": 0.3, "dw_min_std": 0.3,
                      "up_down": 0.0, "w_max": 1.0, "w_min": -1.0},
    # aihwkit presets/devices.py ReRamSBPresetDevice (Gong et al., Nat. Commun. 2018,
    # doi:10.1038/s41467-018-04485-1); its soft bounds are not modelled (hard bounds here).
    "reram-gong": {**_AIHWKIT_IO, "dw_min": 0.002, "dw_min_dtod": 0.3, "dw_min_std": 3.75,
                   "up_down": 0.0, "w_max": 1.25, "w_min": -0.75},
    # aihwkit presets/devices.py EcRamPresetDevice (Tang et al., IEDM 2018,
    # doi:10.1109/IEDM.2018.8614551); its linear step-size slopes (gamma) are not modelled.
    "ecram-tang": {**_AIHWKIT_IO, "dw_min": 0.002, "dw_min_dtod": 0.1, "dw_min_std": 0.3,
                   "up_down": 0.0, "w_max": 1.1724, "w_min": -0.8276},
}


class AnalogConfigError(UsageError):
    """An analog setting out of range: one line naming the flag (exit 2)."""


def validate(c: AnalogConfig, prefix: str = "analog-") -> AnalogConfig:
    """Return ``c`` if every field is in its range and the pair is consistent, else raise
    :class:`AnalogConfigError` naming ``--<prefix><field>``."""
    for name, f in FIELDS.items():
        value, within = getattr(c, name), f.metadata["within"]
        flag = f"--{prefix}{name.replace('_', '-')}"
        if isinstance(f.default, int) and not isinstance(value, int):
            raise AnalogConfigError(f"{flag} must be an integer, got {value!r}")
        if value not in within:
            raise AnalogConfigError(f"{flag} must be {within}, got {value}")
    if c.levels == 1:
        raise AnalogConfigError(f"--{prefix}levels must be 0 (continuous) or >= 2, got 1")
    return c


def preset(name: str, **overrides) -> AnalogConfig:
    """The :data:`PRESETS` entry ``name`` with ``overrides`` applied, validated.

    Raises :class:`AnalogConfigError` for an unknown name or field, or a value out of range.
    """
    if name not in PRESETS:
        raise AnalogConfigError(f"--analog: unknown preset {name!r}: choose one of "
                                f"{', '.join(PRESETS)}")
    unknown = set(overrides) - set(FIELDS)
    if unknown:
        raise AnalogConfigError(f"unknown analog settings: {', '.join(sorted(unknown))}")
    return validate(AnalogConfig(**{**PRESETS[name], **overrides}))
