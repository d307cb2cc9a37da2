"""One analog machine: the settings, the per-device quantities drawn once per run, and the
Generator of the moment, with the five hooks the rest of the package calls.

Where the randomness comes from (STYLE §9, all drawn on the host):

* **per batch** (programming at each write, weight read noise, relaxation noise, read-out
  noise, pulse rounding and cycle-to-cycle noise): the run's one Generator, ``state.rng``
  (:func:`ebl_ref.train.train_batch` passes it; it is checkpointed and rewound with the batch,
  so a resumed run is bit-exact on the CPU);
* **once per run** (the device-to-device gain and step spreads; the first programming of a
  pulsed device): children 0 and 2 of ``numpy.random.SeedSequence(seed).spawn(3)``, so the chip
  is a fixed property of the run's seed, rebuilt identically on resume without being stored;
* **evaluation**: child 1, a fresh Generator at every evaluation, so the test error of a
  checkpoint does not depend on when it is evaluated and the training stream is not touched.

The hooks (each a no-op when its model is off):

=====================  ==========================================  ==============================
hook                   called from                                 model
=====================  ==========================================  ==============================
:meth:`stored`         :func:`ebl_ref.train.train_batch`, evaluate (a) write the digital copy
:meth:`read`           :func:`ebl_ref.minimize.relax` (per phase)  (a) gains, (b) read noise
:meth:`perturb`        :func:`ebl_ref.minimize.half_step`          (c) relaxation noise
:meth:`read_state`     :meth:`ebl_ref.rules.Phases.read`         (d) ADC + read noise
:meth:`update`         :func:`ebl_ref.train.train_batch`           (e) pulsed update
=====================  ==========================================  ==============================
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import models
from .config import AnalogConfig

CHIP, EVALUATION, FIRST_WRITE = 0, 1, 2  # children of SeedSequence(seed)


def child_rng(seed: int, which: int) -> np.random.Generator:
    """Child ``which`` (:data:`CHIP`, :data:`EVALUATION` or :data:`FIRST_WRITE`) of
    ``SeedSequence(seed)``: a Generator that is the same every time it is made."""
    return np.random.default_rng(np.random.SeedSequence(seed).spawn(3)[which])


def weight_scales(net, gains, omega: float) -> dict:
    """``r`` per parameter name: the initial bound of the tensor (``g_k/√fan_in`` for W_k,
    ``0.5/√fan_in`` for b_k, :func:`ebl_ref.network.init_params`) divided by ``omega``, so the
    initial weights fill [−omega, omega] of the normalised range (aihwkit's
    weight_scaling_omega)."""
    return {name: float((gains[int(name[1]) - 1] if name[0] == "W" else 0.5)
                        / np.sqrt(net.fan_in(int(name[1]))) / omega)
            for name in net.param_shapes()}  # Python floats: the arrays keep their dtype


@dataclass(frozen=True)
class AnalogDevice:
    """An analog machine holding a DCHN's parameters (see the module docstring).

    Attributes
    ----------
    cfg : the :class:`~ebl_ref.analog.config.AnalogConfig`
    scales : name -> r (float): θ = r·w
    gain : name -> array like θ (the fixed conductance gain 1 + σ_dtod ξ), or None
    step_up, step_down : name -> array like θ (normalised pulse steps Δw^±), or None
    rng : the Generator the per-call noise is drawn from (:meth:`with_rng`)
    """

    cfg: AnalogConfig
    scales: dict
    gain: dict | None
    step_up: dict | None
    step_down: dict | None
    rng: Any = None

    def with_rng(self, rng: np.random.Generator) -> "AnalogDevice":
        """This machine drawing its noise from ``rng``."""
        return dataclasses.replace(self, rng=rng)

    def _write(self, params: dict) -> dict:
        c = self.cfg
        return {k: self.scales[k] * models.program(v / self.scales[k], self.rng, c.levels,
                                                   c.w_min, c.w_max, c.prog_noise)
                for k, v in params.items()}

    def stored(self, params: dict) -> dict:
        """(a) The weights on the device for this batch: with re-programming (dw_min = 0) the
        digital copy ``params`` written afresh (quantised, programming noise); a pulsed device
        holds ``params`` itself."""
        if self.cfg.pulsed or not self.cfg.programs:
            return params
        return self._write(params)

    def read(self, params: dict) -> dict:
        """(a, b) The weights one relaxation computes with: fixed gains and read noise, drawn
        once per call (once per phase). ``params`` must be a plain dict."""
        if not self.cfg.reads_weights:
            return params
        return {k: models.read_weights(v, self.rng, self.scales[k],
                                       None if self.gain is None else self.gain[k],
                                       self.cfg.w_noise) for k, v in params.items()}

    def perturb(self, a):
        """(c) A pre-activation with the relaxation noise of one layer update."""
        return models.perturb(a, self.rng, self.cfg.relax_noise)

    def read_state(self, s: list) -> list:
        """(d) The state ``[x, s1, …, o]`` as the rule reads it (x, the input, is not read)."""
        c = self.cfg
        if not c.reads_states:
            return s
        return [s[0]] + [models.read_out(v, self.rng, c.out_res, c.out_noise, c.n_reads)
                         for v in s[1:]]

    def update(self, old: dict, new: dict) -> dict:
        """(e) The parameters after an optimiser step from ``old`` to ``new``: on a pulsed
        device the change goes through :func:`~ebl_ref.analog.models.pulsed_update`; else the
        digital copy takes ``new`` (written at the next :meth:`stored`)."""
        c = self.cfg
        if not c.pulsed:
            return new
        out = {}
        for k, theta in old.items():
            r = self.scales[k]
            up = c.dw_min * (1 + c.up_down) if self.step_up is None else self.step_up[k]
            down = c.dw_min * (1 - c.up_down) if self.step_down is None else self.step_down[k]
            w = models.pulsed_update(theta / r, (new[k] - theta) / r, self.rng, up, down,
                                     c.dw_min, c.dw_min_std, c.w_min, c.w_max)
            out[k] = (r * w).astype(theta.dtype, copy=False)
        return out

    def initial(self, params: dict, seed: int) -> dict:
        """The first write of the initial parameters to a pulsed device (clipped to the range,
        quantised, programming noise), drawn from child :data:`FIRST_WRITE` of ``seed`` (the
        same numbers at every call); ``params`` otherwise."""
        if not self.cfg.pulsed:
            return params
        c, rng = self.cfg, child_rng(seed, FIRST_WRITE)
        return {k: self.scales[k] * models.xp_clip(models.program(
            v / self.scales[k], rng, c.levels, c.w_min, c.w_max, c.prog_noise), c.w_min,
            c.w_max) for k, v in params.items()}


def build(cfg: AnalogConfig, net, gains, seed: int, like: dict) -> AnalogDevice:
    """The machine of a run: scales from the network and init gains, the once-per-run draws from
    the chip's Generator (:func:`child_rng`), in the order gains then steps, by parameter name.
    Its ``rng`` is None: set one with :meth:`AnalogDevice.with_rng` before calling a hook.

    ``like`` : the run's parameters (their shapes, dtypes and array module are used).
    """
    rng = child_rng(seed, CHIP)
    names = list(net.param_shapes())
    gain = step_up = step_down = None
    if cfg.w_gain_dtod > 0:
        gain = {k: 1 + cfg.w_gain_dtod * models.gauss(rng, like[k]) for k in names}
    if cfg.pulsed and cfg.dw_min_dtod > 0:
        xi = {k: models.gauss(rng, like[k]) for k in names}
        step_up = {k: models.xp_clip(cfg.dw_min * (1 + cfg.up_down + cfg.dw_min_dtod * xi[k]),
                                     0, None) for k in names}
        step_down = {k: models.xp_clip(cfg.dw_min * (1 - cfg.up_down
                                                     + cfg.dw_min_dtod * xi[k]), 0, None)
                     for k in names}
    return AnalogDevice(cfg, weight_scales(net, gains, cfg.omega), gain, step_up, step_down)
