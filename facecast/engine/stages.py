"""Run the stages of a frame stream in their own threads, joined by bounded queues.

Decoding (PyAV), rendering (OpenCV, numpy) and encoding (x264) release the GIL for most of their work, so
on two cores a stage running in a thread overlaps the others instead of waiting for them. Each queue holds a
few frames, so memory stays flat however long the video is. An exception in a stage thread is raised again
in the thread reading the stream; closing the stream (an error or cancel downstream) stops the stage thread
and closes its source there, so no decoder is left open and nothing runs after the caller has returned.
"""

from __future__ import annotations

import contextlib
import os
import queue
import threading
from collections.abc import Iterator
from typing import TypeVar

Item = TypeVar("Item")

QUEUE_FRAMES = 4     # frames waiting between two stages: enough to absorb jitter, a few MB at 1080p
ENCODER_QUEUE_BYTES = 64 << 20  # rendered frames waiting for the encoder (see frames_for_the_encoder)
ENCODER_QUEUE_MAX = 48
_POLL_S = 0.05       # how often a blocked stage looks whether the stream was closed
_JOIN_S = 5.0        # how long closing waits for a stage to finish the frame it is on
FEEDER_NICENESS = 19  # added to a stage thread's niceness (see yield_to_the_encoder)


class _Failed:
    """Carries a stage thread's exception to the reading thread."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


_DONE = object()


def frames_for_the_encoder(width: int, height: int) -> int:
    """How many rendered RGB frames may wait for the encoder: a renderer at the lowest priority falls behind
    while x264 has both cores and catches up while x264 waits on its own thread chain, so a longer queue keeps
    the encoder fed through those swings. For 60 s of a mouth bank at 720p, 24 frames against 4 made the runs
    steadier (median of 3 about 7% faster, the fastest 1%). Bounded in bytes, so a 1080p queue holds fewer."""
    return int(max(QUEUE_FRAMES, min(ENCODER_QUEUE_MAX, ENCODER_QUEUE_BYTES // max(width * height * 3, 1))))


def in_thread(source: Iterator[Item], name: str, maxsize: int = QUEUE_FRAMES) -> Iterator[Item]:
    """Iterate `source` in a thread of its own, `maxsize` items ahead of the reader.

    Returns a generator: the thread starts on the first next() and stops when the generator ends or is closed.
    """
    items: queue.Queue[object] = queue.Queue(maxsize=maxsize)
    closed = threading.Event()

    def put(item: object) -> bool:
        while not closed.is_set():
            try:
                items.put(item, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        yield_to_the_encoder()
        try:
            for item in source:
                if not put(item):
                    break
            else:
                put(_DONE)
        except BaseException as error:  # noqa: BLE001 - re-raised in the reading thread
            put(_Failed(error))
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()

    return _read(items, closed, threading.Thread(target=produce, name=f"facecast-{name}", daemon=True))


def yield_to_the_encoder() -> None:
    """Give the calling stage thread (and the decoder threads it starts) the lowest CPU priority in the process.

    x264 runs its frames on a chain of threads that cannot use two cores fully; when decoding or rendering
    takes a core from that chain, the whole stream waits for the encoder. At the lowest priority the feeding
    stages use the time the encoder leaves, and stay ahead of it through their queues (about 7% less wall
    time for the same frames on two cores). Linux sets niceness per thread; elsewhere this does nothing.
    """
    if not hasattr(os, "getpriority"):
        return
    try:
        thread = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, thread, min(19, os.getpriority(os.PRIO_PROCESS, thread) + FEEDER_NICENESS))
    except OSError:  # not permitted in some sandboxes: the stream still runs, only slower
        pass


def _read(items: queue.Queue[object], closed: threading.Event, thread: threading.Thread) -> Iterator[Item]:
    thread.start()
    try:
        while True:
            item = items.get()
            if item is _DONE:
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item  # type: ignore[misc]
    finally:
        closed.set()
        thread.join(timeout=_JOIN_S)


_opencv_lock = threading.Lock()
_opencv_users = [0, 0]  # [streams running, OpenCV's thread count before the first of them]


@contextlib.contextmanager
def one_opencv_thread() -> Iterator[None]:
    """OpenCV calls run on the calling thread alone while frames stream through the stages.

    The stages already keep every core busy (decoder threads, the renderer, x264's threads); OpenCV splitting
    each small warp or blend across the cores too only adds hand-offs and spinning, about 5% more CPU for the
    same video. The previous setting comes back when the last stream running ends.
    """
    import cv2

    with _opencv_lock:
        if _opencv_users[0] == 0:
            _opencv_users[1] = cv2.getNumThreads()
            cv2.setNumThreads(1)
        _opencv_users[0] += 1
    try:
        yield
    finally:
        with _opencv_lock:
            _opencv_users[0] -= 1
            if _opencv_users[0] == 0:
                cv2.setNumThreads(_opencv_users[1])
