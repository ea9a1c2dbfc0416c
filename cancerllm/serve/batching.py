"""Micro-batching, fairly, for the HTTP service (`cancerllm.serve.http`).

Every request's prompts wait in their own queue; a collector fills batches round-robin,
one prompt per waiting request in turn, and runs each batch in one worker thread. The
rules (admission, 413/429, withdrawal) are in `cancerllm.serve.http`'s module doc.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field


class Busy(Exception):
    """The queue is full: the request is refused (429) rather than left waiting."""


class TooLarge(Exception):
    """One request asks for more prompts than a request may (413)."""


@dataclass(eq=False)
class _Work:
    """One request's prompts: handed out in order, a few per batch, until all are answered."""
    key: str
    inputs: list
    future: asyncio.Future
    results: list = field(default_factory=list)
    next: int = 0          # first input not yet handed to a batch
    answered: int = 0

    @property
    def left(self) -> int:
        return len(self.inputs) - self.next


@dataclass
class MicroBatcher:
    """Shares one worker thread fairly among concurrent requests.

    Every request's prompts wait in its own queue. Each batch (up to `max_batch` prompts,
    one task) is filled round-robin, one prompt per waiting request of that task in turn,
    and the request served first rotates from batch to batch; so a request with thousands
    of prompts gets its turn like the others and holds the worker for one batch at a
    time, never for its whole length. A request that ends early (deadline, client gone)
    is withdrawn: its prompts not yet in a batch are dropped (at most the batch running
    now finishes for nothing). `max_request` caps one request's prompts (`TooLarge`),
    `max_queued` the prompts admitted and unanswered over all requests (`Busy`).
    """

    run_batch: Callable[[str, list], list]
    max_batch: int = 64
    max_wait_ms: float = 5.0
    max_request: int = 1024
    max_queued: int = 4096
    batches: int = 0
    requests: int = 0
    refused: int = 0
    withdrawn: int = 0
    dropped_prompts: int = 0
    _works: list = field(default_factory=list)
    _queued: int = 0
    _wake: asyncio.Event | None = None
    _task: asyncio.Task | None = None
    _executor: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(1, "cancerllm-gen"))

    def start(self) -> None:
        self._wake = asyncio.Event()
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        self._executor.shutdown(wait=False, cancel_futures=True)

    @property
    def queued(self) -> int:
        """Prompts admitted and not yet answered."""
        return self._queued

    def admit(self, n: int) -> None:
        """Raise `TooLarge` / `Busy` if `n` more prompts may not be queued now."""
        if n > self.max_request:
            self.refused += 1
            raise TooLarge(f"this request makes {n} prompts; one request may make at most {self.max_request}")
        if self._queued + n > self.max_queued:
            self.refused += 1
            raise Busy(f"busy: {self._queued} prompts queued, this request adds {n}, the limit is "
                       f"{self.max_queued}; retry later")

    async def submit(self, key: str, inputs: list) -> list:
        """The outputs for `inputs`, in order. Cancelling the awaiting task withdraws them."""
        if not inputs:
            return []
        self.admit(len(inputs))
        work = _Work(key, list(inputs), asyncio.get_running_loop().create_future(), [None] * len(inputs))
        self._works.append(work)
        self._queued += len(inputs)
        self.requests += 1
        self._wake.set()
        try:
            return await work.future
        finally:
            if not work.future.done() or work.future.cancelled():
                self._withdraw(work)

    def _withdraw(self, work: _Work) -> None:
        if work in self._works:
            self._works.remove(work)
            self.withdrawn += 1
            self.dropped_prompts += work.left
            self._queued -= work.left
            work.next = len(work.inputs)
        work.future.cancel()

    def _take(self) -> tuple[str, list[tuple[_Work, int, int]]]:
        """(task, [(work, start, count)]) for the next batch, round-robin from the front."""
        key = self._works[0].key
        mine = [w for w in self._works if w.key == key]
        share = {id(w): 0 for w in mine}
        size, grew = 0, True
        while size < self.max_batch and grew:
            grew = False
            for w in mine:
                if size < self.max_batch and w.left > share[id(w)]:
                    share[id(w)] += 1
                    size, grew = size + 1, True
        plan = []
        for w in mine:
            n = share[id(w)]
            if n:
                plan.append((w, w.next, n))
                w.next += n
        self._works = [w for w in self._works if w.left]   # fully handed out: leaves the queue
        rotated = [w for w in self._works if w not in mine[:1]] + [w for w in self._works if w in mine[:1]]
        self._works = rotated                              # the front request goes to the back
        return key, plan

    async def _gather_more(self) -> None:
        """Wait up to `max_wait_ms` for other requests to batch with, while there is room."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.max_wait_ms / 1000
        while sum(w.left for w in self._works) < self.max_batch:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), remaining)
            except asyncio.TimeoutError:
                return

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            while not self._works:
                self._wake.clear()
                await self._wake.wait()
            await self._gather_more()
            if not self._works:
                continue
            key, plan = self._take()
            flat = [x for w, start, n in plan for x in w.inputs[start:start + n]]
            self.batches += 1
            try:
                outputs = await loop.run_in_executor(self._executor, self.run_batch, key, flat)
            except Exception as exc:  # every request in the batch gets the failure, the loop goes on
                for w, start, n in plan:
                    self._queued -= n
                    if w in self._works:
                        self._works.remove(w)
                        self._queued -= w.left
                        w.next = len(w.inputs)
                    if not w.future.done():
                        w.future.set_exception(exc)
                continue
            for w, start, n in plan:
                self._queued -= n
                w.results[start:start + n], outputs = outputs[:n], outputs[n:]
                w.answered += n
                if w.answered == len(w.inputs) and not w.future.done():
                    w.future.set_result(w.results)
