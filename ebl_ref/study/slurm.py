"""The SLURM executor, through submitit (``pip install 'ebl-ref[cluster]'``).

The cells to run are submitted as **one job array** (``#SBATCH --array=0-<n−1>%<limit>``,
``--max-parallel``) with the partition, time, GPUs, CPUs and memory given to ``study run``.
Each array task runs one :class:`CellJob`: it starts the study worker
(:mod:`ebl_ref.study.worker`) as a child process, exactly as the local executor does, with
``--cpus`` BLAS threads, and waits for it. Logs per cell: ``DIR/logs/<cell>.log`` (the run's
output, every attempt) and submitit's own ``DIR/slurm/<job>_<task>_0_log.out/.err``.

**Preemption and walltime.** submitit asks SLURM to send ``SIGUSR2`` ``signal_delay_s``
seconds (``--signal-delay``, default 120) before the time limit, and on preemption. Its
handler calls :meth:`CellJob.checkpoint`, which sends the worker SIGTERM and waits for it to
exit — the run saves its position and stops (it has a checkpoint at least from its last epoch
otherwise) — and returns a fresh CellJob, which submitit stores before it requeues the task
(``scontrol requeue``). The requeued task runs the worker again, which resumes the run from its
checkpoint, bit-exactly on the CPU. A job requeued after a *time-out* counts against
``--max-requeues`` (submitit's ``max_num_timeout``); preemptions do not. The worker ignores
SIGUSR2 itself, so a signal sent to the whole process group reaches it only as the SIGTERM
forwarded here. A cell that is killed without the signal (scancel, node failure) is left
interrupted: re-running ``study run`` submits it again and it resumes.

``--executor submitit-local`` runs this same code path through submitit's LocalExecutor on this
machine (how the tests exercise it; it needs no cluster).
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import submitit

from .cells import read_attempt
from .executors import finish_record, package_on_path, worker_command, worker_env
from .folder import log_path, write_json
from .worker import EXIT_BUSY


class CellFailed(RuntimeError):
    """A cell whose run did not finish (the message holds its state and last error line)."""


def _preempt_signal():
    return getattr(signal, "SIG" + os.environ.get("SUBMITIT_PREEMPT_SIGNAL", "USR2"))


def _ignore_preempt_signal():  # pragma: no cover - runs in the child between fork and exec
    signal.signal(_preempt_signal(), signal.SIG_IGN)


class CellJob(submitit.helpers.Checkpointable):
    """One cell as a submitit job: run the worker, forward the preemption signal as SIGTERM.

    Parameters
    ----------
    study_dir : the study folder (a path every node can reach)
    key : the cell's key
    runtime_argv : run.py flags for every attempt (``--device``, ``--data-dir``, ...)
    threads : BLAS threads of the worker (None: ``$SLURM_CPUS_PER_TASK`` if set)
    grace_s : seconds the worker may take to save after SIGTERM before it is killed
    """

    def __init__(self, study_dir, key, runtime_argv=(), threads=None, grace_s=100.0):
        self.study_dir, self.key = str(study_dir), key
        self.runtime_argv, self.threads, self.grace_s = list(runtime_argv), threads, grace_s
        self._child = None

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_child"] = None  # a process handle does not travel to the requeued job
        return state

    def __call__(self) -> dict:
        threads = self.threads or os.environ.get("SLURM_CPUS_PER_TASK")
        path = log_path(Path(self.study_dir), self.key, ".log")
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "ab") as logf:
            self._child = subprocess.Popen(
                worker_command(self.study_dir, self.key, self.runtime_argv), stdout=logf,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=worker_env(int(threads) if threads else None),
                preexec_fn=_ignore_preempt_signal)
            # poll, never wait(): the preemption handler runs in this thread and must be
            # able to wait for the child itself
            while self._child.poll() is None:
                time.sleep(0.25)
        code = self._child.returncode
        if code == EXIT_BUSY:  # submitted twice: the other job runs the cell
            return {"key": self.key, "state": "running elsewhere"}
        record = finish_record(Path(self.study_dir), self.key, code)
        if record.get("state") == "done" or code == 0:
            return {"key": self.key, "state": "done"}
        raise CellFailed(f"cell {self.key}: {record.get('state')} (exit {code}): "
                         f"{record.get('last_error')}")

    def checkpoint(self, *args, **kwargs):
        """Called by submitit on the preemption / walltime signal: stop the worker (SIGTERM,
        then SIGKILL after ``grace_s``) and return the job to requeue."""
        child = self._child
        if child is not None and child.poll() is None:
            child.send_signal(signal.SIGTERM)
            deadline = time.time() + self.grace_s
            while child.poll() is None and time.time() < deadline:
                time.sleep(0.2)
            if child.poll() is None:
                child.kill()
                child.wait()
        if child is not None:
            finish_record(Path(self.study_dir), self.key, child.returncode)
        fresh = CellJob(self.study_dir, self.key, self.runtime_argv, self.threads, self.grace_s)
        return submitit.helpers.DelayedSubmission(fresh)


def slurm_parameters(name: str, *, partition=None, time_min=None, gpus=None, cpus=None,
                     mem_gb=None, max_parallel=None, signal_delay_s=120, setup=(),
                     extra=None) -> dict:
    """submitit ``SlurmExecutor.update_parameters`` keywords for ``study run``'s options."""
    params = {"job_name": f"ebl-{name}", "signal_delay_s": int(signal_delay_s)}
    if partition:
        params["partition"] = partition
    if time_min:
        params["time"] = int(time_min)
    if gpus:
        params["gpus_per_node"] = int(gpus)
    if cpus:
        params["cpus_per_task"] = int(cpus)
    if mem_gb:
        params["mem"] = f"{int(mem_gb)}GB"
    if max_parallel:
        params["array_parallelism"] = int(max_parallel)
    if setup:
        params["setup"] = list(setup)
    if extra:
        params["additional_parameters"] = dict(extra)
    return params


def submit(study_dir: Path, keys: list, runtime_argv, params: dict, *, local=False,
           max_requeues=3, threads=None, log=print):
    """Submit ``keys`` as one job array; returns the submitit jobs (in ``keys`` order).

    ``local=True`` uses submitit's LocalExecutor (same code path, this machine); there
    ``params["time"]`` (minutes) is the timeout after which it sends the preemption signal.
    """
    study_dir = Path(study_dir).resolve()
    folder = study_dir / "slurm" / "%j"
    grace = max(5.0, params.get("signal_delay_s", 120) - 20.0)
    if local:
        executor = submitit.LocalExecutor(folder=folder, max_num_timeout=max_requeues)
        executor.update_parameters(timeout_min=params.get("time", 60),
                                   signal_delay_s=params.get("signal_delay_s", 120))
    else:
        executor = submitit.SlurmExecutor(folder=folder, max_num_timeout=max_requeues)
        executor.update_parameters(**params)
    cpus = threads or params.get("cpus_per_task")
    jobs_file = study_dir / "slurm" / "jobs.json"
    with package_on_path():
        jobs = executor.submit_array([CellJob(study_dir, k, runtime_argv, cpus, grace)
                                      for k in keys])
    known = json.loads(jobs_file.read_text()) if jobs_file.is_file() else {}
    known.update({k: j.job_id for k, j in zip(keys, jobs)})
    write_json(jobs_file, known)
    log(f"submitted {len(jobs)} cell(s) as job array {jobs[0].job_id.split('_')[0]} "
        f"({'submitit LocalExecutor' if local else 'SLURM'}); logs in {study_dir / 'logs'}, "
        f"submitit's in {study_dir / 'slurm'}")
    return jobs


def wait(jobs, keys, study_dir: Path, log=print) -> int:
    """Wait for every job; one line per cell; 0 if all are done, else 1."""
    bad = 0
    for key, job in zip(keys, jobs):
        try:
            job.result()
            log(f"done        {key}")
        except Exception as exc:  # noqa: BLE001 - submitit re-raises the job's failure
            bad += 1
            record = read_attempt(Path(study_dir), key) or {}
            log(f"{record.get('state', 'failed'):<11s} {key}: "
                f"{record.get('last_error') or str(exc).strip().splitlines()[-1]}")
    return 0 if bad == 0 else 1
