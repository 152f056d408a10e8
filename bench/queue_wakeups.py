"""Micro-benchmark of the work queue's hand-off: CPU per key handed to one of ``W`` idle workers,
against the same with one worker, side by side in one process.

    python -m bench.queue_wakeups [--workers 32] [--keys 5000] [--repeat 3]

Each key is added while every worker waits, and the next only once it is done: what a sustained
spawn rate looks like to the instance queue (32 workers by default, mostly idle). A queue whose add
woke every idle worker paid for each of them (the ratio grew with ``W``); one that wakes a single
worker pays the same whatever ``W`` is (a ratio near 1).
"""

from __future__ import annotations

import argparse
import statistics
import time

import anyio
import anyio.lowlevel

from jupyternetes_operator.machinery.workqueue import WorkQueue


async def per_key(workers: int, keys: int) -> float:
    """CPU seconds per key handed out and done, with ``workers`` waiting for each."""
    queue: WorkQueue[int] = WorkQueue("bench")
    done = 0

    async def worker() -> None:
        nonlocal done
        while True:
            key = await queue.get()
            await anyio.lowlevel.checkpoint()  # the reconcile
            queue.done(key)
            done += 1

    async with anyio.create_task_group() as tg:
        for _ in range(workers):
            tg.start_soon(worker)
        for _ in range(workers + 10):  # every worker reaches get()
            await anyio.lowlevel.checkpoint()
        started = time.process_time()
        for key in range(keys):
            queue.add(key)
            while done <= key:
                await anyio.lowlevel.checkpoint()
        spent = time.process_time() - started
        tg.cancel_scope.cancel()
    return spent / keys


async def main(workers: int, keys: int, repeat: int) -> None:
    one, many = [], []
    for _ in range(repeat):
        one.append(await per_key(1, keys))
        many.append(await per_key(workers, keys))
    a, b = statistics.median(one), statistics.median(many)
    print(f"per key, 1 worker: {a * 1e6:.1f} us; {workers} idle workers: {b * 1e6:.1f} us; "
          f"ratio {b / a:.2f} (median of {repeat})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bench.queue_wakeups", description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=32)
    parser.add_argument("--keys", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    anyio.run(main, args.workers, args.keys, args.repeat)
