"""Comparative studies: a grid of runs as data, run idempotently on this machine or on a SLURM
cluster, with status, the paper's Table 1 layout and lessons, and learning curves.

==============  =================================================================
module          holds
==============  =================================================================
``spec``        the study file (TOML/JSON): base preset, overrides, axes
``builtin``     the built-in studies: table1, table2, cpu-small, smoke
``plan``        expansion into cells: resolved config, folder, command line
``cost``        FLOPs and hours of each cell
``folder``      the study folder: study.json, logs, locks
``cells``       a cell's state on disk: done, running, interrupted, failed, pending
``worker``      runs one cell (fresh or resumed) and records the attempt
``executors``   the local executor: worker processes, BLAS threads split
``slurm``       the SLURM executor through submitit (job array, requeue on preemption)
``status``      ``study status``
``paper``       the paper's Table 1 and Table 2, as data
``lessons``     the four lessons of §4.1, decided by written rules
``table``       ``study table``: Table 1 layout, the paper beside, the lessons
``cli``         ``python run.py study ...``
==============  =================================================================

See docs/STUDY.md.
"""
