"""Batch lanes: how a worker renders several videos of one batch at once.

A CPU worker renders `worker.batch_parallel` videos of a batch side by side. Threads of one process share
Python's lock, and the Python part of rendering (the mouth's geometry, the frame loop) holds two renders to
about 1.5 of 2 cores; separate processes fill both. So the extra lanes are processes, forked from a small
server process started once per worker (multiprocessing's forkserver) with the engine already imported: a lane
starts in milliseconds. Each lane opens its own database connection, queue and storage and claims the batch's
queued videos itself; claiming is compare-and-set, so no video runs twice. Where processes cannot be forked
(Windows) or no lane target is given (embedded use, tests), the lanes are threads.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
from collections.abc import Callable
from multiprocessing.connection import wait
from typing import Any

log = logging.getLogger("facecast.worker")

PRELOAD = ["facecast.service.worker", "facecast.engine.pipeline", "facecast.engine.quality", "mediapipe", "huey",
           "httpx", "httpcore", "h11", "threadpoolctl"]
JOIN_POLL_S = 0.2  # how often a worker with lane processes looks at its own stop flag

LaneTarget = Callable[..., None]  # lane_target(*lane_args, job_id, stop): run a batch's queued videos


def lane_codec_threads(lanes: int) -> int:
    """The codec threads one of `lanes` videos rendering at once may use: its share of the cores. Codecs that
    each spread over every core, as they do for a video alone, only hand work back and forth (8-15% more CPU
    for a 240p video, measured with two lanes on two cores)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores // max(lanes, 1))


def forkable() -> bool:
    return "forkserver" in multiprocessing.get_all_start_methods()


def _context() -> Any:
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    return context


class ProcessLanes:
    """Starts a batch's extra lanes as processes running `target(*args, job_id, stop)`."""

    def __init__(self, target: LaneTarget, args: tuple[Any, ...]) -> None:
        self.target, self.args = target, args

    def warm_up(self) -> None:
        """Start the fork server in the background, so the first batch does not wait for its imports."""
        threading.Thread(target=self._start_server, daemon=True, name="facecast-lane-server").start()

    @staticmethod
    def _start_server() -> None:
        from multiprocessing import forkserver

        try:
            _context()
            forkserver.ensure_running()
        except Exception as exc:  # the first batch then starts it
            log.warning("could not start the batch lane server (%s: %s)", type(exc).__name__, exc)

    def run(self, job_id: str, extra: int, own_lane: Callable[[], None], sibling_lane: Callable[[], None],
            stop: threading.Event) -> None:
        """Run `own_lane` here and `extra` lane processes for job `job_id`'s batch; return when all ended.
        A lane stops claiming once `stop` is set here, or once this process has gone. Lanes that cannot be
        started as processes run `sibling_lane` on threads instead."""
        context = _context()
        lane_stop, ended = context.Event(), threading.Event()
        lanes = [context.Process(target=self.target, args=(*self.args, job_id, lane_stop), daemon=True,
                                 name=f"facecast-lane{n + 1}") for n in range(extra)]

        def pass_stop_on() -> None:
            while not ended.is_set():
                if stop.wait(JOIN_POLL_S):
                    lane_stop.set()
                    return

        threading.Thread(target=pass_stop_on, daemon=True, name="facecast-lane-stop").start()
        started = []
        for lane in lanes:
            try:
                lane.start()
                started.append(lane)
            except Exception as exc:  # no fork server (resources, a broken install): the work still gets done
                log.warning("batch lane process could not start (%s: %s); using a thread", type(exc).__name__, exc)
        lanes = started
        try:
            if len(lanes) < extra:
                thread_lanes(extra - len(lanes), own_lane, sibling_lane)
            else:
                own_lane()
        finally:
            for lane in lanes:
                lane.join()
                if lane.exitcode:
                    log.warning("batch lane %s ended with exit code %s", lane.name, lane.exitcode)
            ended.set()


def thread_lanes(extra: int, own_lane: Callable[[], None], sibling_lane: Callable[[], None]) -> None:
    """`own_lane` here and `extra` threads running `sibling_lane`; return when all ended."""
    threads = [threading.Thread(target=sibling_lane, name=f"facecast-lane{n + 1}") for n in range(extra)]
    for thread in threads:
        thread.start()
    own_lane()
    for thread in threads:
        thread.join()


def stop_with_parent(stop: Any) -> None:
    """In a lane process: set `stop` when the worker that started it ends (killed, say), so the lane finishes
    the video in hand and claims no more."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        wait([parent.sentinel])
        stop.set()

    threading.Thread(target=watch, daemon=True, name="facecast-lifeline").start()
