"""Start-up benchmark: how long ``footfall --help`` takes, and ``footfall serve`` until it answers.

Run from the repository root (after scripts/bootstrap):

    .venv/bin/python bench/startup.py                     # SQLite and PostgreSQL, 7 runs each
    .venv/bin/python bench/startup.py --backend sqlite --runs 11

``--help`` is timed from launch to exit. ``serve`` is timed from launch, on a free loopback port
and an already migrated database (a restart; the first migration is not start-up), to the first
200 from ``GET /health``, polled every 10 ms; then it is stopped with SIGINT. Medians of the
runs, against the targets (issue 9, item 12): ``--help`` within 0.5 s, a listening server within
1.5 s. Start-up is mostly imports, so a busy machine shows in the wall times: the CPU time the
process used (user + system) is printed beside them, as the wall time of an idle machine.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import httpx

from harness import BIN, Server, backend_env, drop_database, free_port

FOOTFALL = str(BIN / "footfall")
HELP_TARGET_S = 0.5
SERVE_TARGET_S = 1.5


TICKS = os.sysconf("SC_CLK_TCK")


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _cpu(pid: int) -> float:
    """CPU seconds (user + system) process ``pid`` has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def time_help() -> tuple[float, float]:
    """Wall and CPU seconds of ``footfall --help``."""
    cpu, started = _children_cpu(), time.perf_counter()
    subprocess.run([FOOTFALL, "--help"], check=True, capture_output=True)
    return time.perf_counter() - started, _children_cpu() - cpu


def time_serve(env: dict[str, str], timeout: float = 60) -> tuple[float, float]:
    """Wall and CPU seconds from launching ``footfall serve`` to its first 200 on /health."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/health"
    started = time.perf_counter()
    process = subprocess.Popen(
        [FOOTFALL, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server = Server(process, url)
    try:
        with httpx.Client(timeout=1) as client:
            while time.perf_counter() - started < timeout:
                try:
                    if client.get(url).status_code == 200:
                        return time.perf_counter() - started, _cpu(process.pid)
                except httpx.TransportError:
                    pass
                if process.poll() is not None:
                    raise RuntimeError(f"footfall serve exited with {process.returncode}")
                time.sleep(0.01)
        raise RuntimeError(f"footfall serve did not answer within {timeout} s")
    finally:
        server.stop()


def report(name: str, runs: list[tuple[float, float]], target: float) -> str:
    wall = statistics.median(r[0] for r in runs)
    cpu = statistics.median(r[1] for r in runs)
    verdict = "met" if wall <= target else "MISSED"
    each = ", ".join(f"{r[0]:.2f}" for r in runs)
    return (
        f"{name:<28} median {wall:.2f} s wall, {cpu:.2f} s CPU "
        f"(target <= {target} s: {verdict}); runs {each}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    time_help()  # warm the file cache and the bytecode once
    lines = [report("footfall --help", [time_help() for _ in range(args.runs)], HELP_TARGET_S)]
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    with tempfile.TemporaryDirectory(prefix="footfall-startup-") as workdir:
        for backend in backends:
            env, name = backend_env(backend, Path(workdir))
            try:
                subprocess.run([FOOTFALL, "migrate"], env=env, check=True, capture_output=True)
                runs = [time_serve(env) for _ in range(args.runs)]
                lines.append(report(f"serve -> /health ({backend})", runs, SERVE_TARGET_S))
            finally:
                drop_database(name)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
