"""Optional TensorBoard logging (``--tensorboard``, the ``tensorboard`` extra: tensorboardX,
which needs no TensorFlow).

Every number of an epoch's ``metrics.jsonl`` record is written as a scalar at step = epoch,
under ``train/``, ``val/``, ``test/`` and ``time/`` (the learning rate per layer as
``lr/layer1`` ..), into ``RUN_DIR/tensorboard/``. A resumed run purges the steps after the
last recorded epoch, so TensorBoard shows one curve, not the lost epochs twice. View with
``tensorboard --logdir RUN_DIR`` (or the parent of many run folders).
"""
from __future__ import annotations

from pathlib import Path

from .values import UsageError

FOLDER = "tensorboard"
INSTALL_HINT = "pip install 'ebl-ref[tensorboard]' (tensorboardX)"


def check_tensorboard(enabled: bool) -> None:
    """Refuse ``--tensorboard`` without tensorboardX, before anything is written."""
    if not enabled:
        return
    try:
        import tensorboardX  # noqa: F401, PLC0415 (optional extra)
    except ImportError:
        raise UsageError(f"--tensorboard needs tensorboardX, which is not installed: "
                         f"{INSTALL_HINT}; or leave --tensorboard out (metrics.jsonl has the "
                         "same numbers)") from None


def scalars(metrics: dict) -> dict:
    """The tag -> value pairs of one epoch's record (None and non-numbers left out)."""
    out = {}
    for key, value in metrics.items():
        if key == "epoch" or value is None or isinstance(value, bool):
            continue
        if key == "lr":
            out.update({f"lr/layer{i}": v for i, v in enumerate(value, 1)})
            continue
        if not isinstance(value, (int, float)):
            continue
        split, _, name = key.partition("_")
        if split in ("train", "val", "test"):
            out[f"{split}/{name}"] = value
        elif key.endswith("seconds") or key == "examples_per_s":
            out[f"time/{key}"] = value
        else:
            out[f"train/{key}"] = value  # residual
    return out


class TensorBoard:
    """A tensorboardX writer on ``run_dir/tensorboard`` (see the module docstring)."""

    def __init__(self, run_dir, last_epoch: int):
        from tensorboardX import SummaryWriter  # noqa: PLC0415 (optional extra)
        self.writer = SummaryWriter(logdir=str(Path(run_dir) / FOLDER),
                                    purge_step=last_epoch + 1 if last_epoch else None)

    def epoch(self, metrics: dict) -> None:
        for tag, value in scalars(metrics).items():
            self.writer.add_scalar(tag, value, metrics["epoch"])
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
