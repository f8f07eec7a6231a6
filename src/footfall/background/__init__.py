"""Background work: periodic jobs that run once per deployment, not once per process.

The seam the worker runtime will fill. Today it is a ``Runner`` of periodic ``Job``s, each
guarded by a lease in the database (``job:<name>``), so that however many processes run a runner,
a job runs once per period. ``footfall serve`` runs one in each API process, so the embedded
default stays one command; ``footfall serve --no-worker`` leaves background work to
``footfall worker`` processes. What belongs to one API process (the group committer, the type
rules cache) stays in that process's lifespan (bootstrap.Services).
"""

from __future__ import annotations

from footfall.background.jobs import default_jobs, prune_failed_events
from footfall.background.runner import Job, Runner

__all__ = ["Job", "Runner", "default_jobs", "prune_failed_events"]
