"""Batch lanes: how a worker renders several videos of one batch at once.

A CPU worker renders `worker.batch_parallel` videos of a batch side by side. Threads of one process share
Python's lock, and the Python part of rendering (the mouth's geometry, the frame loop) holds two renders to
about 1.5 of 2 cores; separate processes fill both. So the extra lanes are processes, forked from a small
server process started once per worker (multiprocessing's forkserver) with the engine already imported. A lane
process is started at the worker's first batch and kept for the next ones: its first video costs about twice
the CPU of the later ones (pages copied from the fork server, face models and codecs set up), which a batch of
short videos would otherwise pay every time. Each lane opens its own database connection, queue and storage
once and claims the batch's queued videos itself; claiming is compare-and-set, so no video runs twice. Where
processes cannot be forked (Windows) or no lane target is given (embedded use, tests), the lanes are threads.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

log = logging.getLogger("facecast.worker")

PRELOAD = ["facecast.service.worker", "facecast.engine.pipeline", "facecast.engine.quality", "mediapipe", "huey",
           "httpx", "httpcore", "h11", "threadpoolctl"]
JOIN_POLL_S = 0.2  # how often a worker with lane processes looks at its own stop flag

LaneTarget = Callable[..., None]  # lane_target(*lane_args, stop, batches): run each batch's queued videos


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


@dataclass
class _Lane:
    process: Any           # multiprocessing's Process
    connection: Connection  # job ids go out, each comes back once the lane is done with that batch


class ProcessLanes:
    """A worker's extra lane processes, each running `target(*args, stop, batches)`: `batches` yields the job id
    of every batch the worker shares with it. Started at the first batch, kept until close()."""

    def __init__(self, target: LaneTarget, args: tuple[Any, ...]) -> None:
        self.target, self.args = target, args
        self._lanes: list[_Lane] = []
        self._stop: Any = None  # the lanes' stop flag (a multiprocessing Event), made with the first lane

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
        """Run `own_lane` here and `extra` lane processes on job `job_id`'s batch; return when all are done with it.
        Once `stop` is set here, or this process has gone, the lanes claim no more videos and end. Lanes that
        cannot be started as processes run `sibling_lane` on threads instead."""
        lanes = [lane for lane in self._started(extra) if _send(lane.connection, job_id)]
        ended = threading.Event()

        def pass_stop_on() -> None:
            while not ended.is_set():
                if stop.wait(JOIN_POLL_S):
                    self._stop.set()
                    return

        threading.Thread(target=pass_stop_on, daemon=True, name="facecast-lane-stop").start()
        try:
            if len(lanes) < extra:
                thread_lanes(extra - len(lanes), own_lane, sibling_lane)
            else:
                own_lane()
        finally:
            for lane in lanes:
                self._wait_done(lane, job_id)
            ended.set()

    def close(self) -> None:
        """Tell the lane processes to end (each finishes the video in hand) and wait for them."""
        if self._stop is not None:
            self._stop.set()
        for lane in self._lanes:
            _send(lane.connection, None)
            lane.connection.close()
        for lane in self._lanes:
            lane.process.join()
        self._lanes = []

    def _started(self, count: int) -> list[_Lane]:
        """`count` running lanes, started where fewer are alive (as many as could be)."""
        context = _context()
        if self._stop is None:
            self._stop = context.Event()
        self._lanes = [lane for lane in self._lanes if lane.process.is_alive()]
        while len(self._lanes) < count:
            here, there = context.Pipe()
            process = context.Process(target=_lane_process, args=(self.target, self.args, self._stop, there),
                                      daemon=True, name=f"facecast-lane{len(self._lanes) + 1}")
            try:
                process.start()
            except Exception as exc:  # no fork server (resources, a broken install): the work still gets done
                log.warning("batch lane process could not start (%s: %s); using a thread", type(exc).__name__, exc)
                break
            finally:
                there.close()
            self._lanes.append(_Lane(process, here))
        return self._lanes[:count]

    def _wait_done(self, lane: _Lane, job_id: str) -> None:
        """Until `lane` says it is done with the batch, or has ended (then it is forgotten, and started afresh
        at the next batch)."""
        while True:
            ready = wait([lane.connection, lane.process.sentinel])
            if lane.connection in ready:
                try:
                    if lane.connection.recv() == job_id:
                        return
                    continue
                except (EOFError, OSError):
                    pass
            lane.process.join()
            log.warning("batch lane %s ended with exit code %s", lane.process.name, lane.process.exitcode)
            self._lanes = [kept for kept in self._lanes if kept is not lane]
            return


def _send(connection: Connection, message: str | None) -> bool:
    try:
        connection.send(message)
        return True
    except (OSError, ValueError):  # the lane has ended (its end of the pipe is closed)
        return False


def _lane_process(target: LaneTarget, args: tuple[Any, ...], stop: Any, connection: Connection) -> None:
    """In a lane process: run `target` over the batches the worker sends, until it says stop or goes."""
    target(*args, stop, _batches(connection, stop))


def _batches(connection: Connection, stop: Any) -> Iterator[str]:
    """The job ids the worker sends; each is answered once the lane asks for the next (its batch is done)."""
    while not stop.is_set():
        try:
            job_id = connection.recv()
        except (EOFError, OSError):  # the worker has gone
            return
        if job_id is None:
            return
        yield job_id
        if not _send(connection, job_id):
            return


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
