"""Codes projected to two dimensions, without labels: PCA, t-SNE, and t-SNE in a child
process that can be killed.

Why a child process: scikit-learn's t-SNE is a few seconds of compiled code that checks no
stop flag, so a thread running it cannot be stopped. The app asks for a new map at every
new encoder and must close at once; a t-SNE for codes that are already stale has to end
now, not seconds later. A process can be killed. `TsneProcess` starts one ("spawn", never
"fork": a forked copy of a process with torch's and Qt's threads can deadlock), reports
when its result is ready and kills it on `cancel()`.

This module imports numpy only (scikit-learn inside `tsne`), never torch: the child imports
it, and each t-SNE would otherwise pay for loading torch (1-2 s) before it starts.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import sys
from multiprocessing.connection import Connection

import numpy as np

from engine.errors import UserError

TSNE_SEED = 0  # every t-SNE of the same codes gives the same picture
TSNE_INPUT_DIMS = 50  # larger codes are cut to this many principal components first
TSNE_ITERATIONS = 500  # scikit-learn's minimum is 250; 500 settles MNIST-like codes
CHILD_NICE = 10  # the child yields the CPU to the window and to training
KILL_WAIT_SECONDS = 5.0  # how long `cancel` waits for a killed child to be reaped


def pca(codes: np.ndarray, dims: int = 2) -> np.ndarray:
    """The codes' coordinates on their first `dims` principal axes (exact SVD, float64).

    Each axis's sign is fixed so that its largest loading is positive, so the same codes
    always give the same picture (an SVD may flip any axis).
    """
    x = np.asarray(codes, dtype=np.float64)
    x = x - x.mean(0)
    _, _, vh = np.linalg.svd(x, full_matrices=False)
    axes = vh[:dims]
    signs = np.sign(axes[np.arange(len(axes)), np.abs(axes).argmax(1)])
    signs[signs == 0] = 1
    points = x @ (axes * signs[:, None]).T
    if points.shape[1] < dims:  # fewer code dimensions than asked for: pad with zeros
        points = np.concatenate([points, np.zeros((len(points), dims - points.shape[1]))], 1)
    return points.astype(np.float32)


def tsne(codes: np.ndarray, seed: int = TSNE_SEED) -> np.ndarray:
    """A 2-D t-SNE embedding of the codes (scikit-learn, Barnes-Hut, PCA start), seeded.

    On one OpenMP thread: with the cores busy (training, other work) scikit-learn's
    threads wait on each other, and 300 codes took 7-20 s on two threads against
    0.6-2.5 s on one (timed once, under load).
    """
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    x = np.asarray(codes, dtype=np.float32)
    n = len(x)
    if n < 3 or float(np.ptp(x)) == 0.0:  # nothing to spread out: t-SNE would fail
        return np.zeros((n, 2), dtype=np.float32)
    if x.shape[1] > TSNE_INPUT_DIMS:
        x = pca(x, TSNE_INPUT_DIMS)
    method = TSNE(
        n_components=2,
        perplexity=min(30.0, (n - 1) / 3),  # must stay below n
        init="pca",
        max_iter=TSNE_ITERATIONS,
        random_state=seed,
    )
    with threadpool_limits(limits=1, user_api="openmp"):
        embedding = method.fit_transform(x)
    return embedding.astype(np.float32)


class ProjectionError(UserError):
    """The t-SNE child failed or died without a result; the message says which, in a
    line the latent map panel shows as it is."""


def _tsne_child(codes: np.ndarray, seed: int, send: Connection) -> None:
    """The child process's whole work: one t-SNE, its result (or error) sent back."""
    if sys.platform != "win32":
        with contextlib.suppress(OSError):
            os.nice(CHILD_NICE)
    try:
        outcome: tuple[bool, object] = (True, tsne(codes, seed))
    except Exception as exc:  # sent as text: the parent shows it
        outcome = (False, f"t-SNE failed: {type(exc).__name__}: {exc}")
    send.send(outcome)
    send.close()


class TsneProcess:
    """`tsne(codes, seed)` computed in a child process that `cancel()` kills.

    Not thread-safe: one thread starts, polls and cancels it. A daemon process, so even a
    forgotten one is killed when the parent exits normally.
    """

    def __init__(self, codes: np.ndarray, seed: int = TSNE_SEED) -> None:
        context = multiprocessing.get_context("spawn")
        self._receive, send = context.Pipe(duplex=False)
        self._process = context.Process(
            target=_tsne_child,
            args=(np.ascontiguousarray(codes, dtype=np.float32), seed, send),
            name="t-SNE",
            daemon=True,
        )
        self._process.start()
        send.close()  # only the child holds the sending end now: its death reads as EOF
        self._result: np.ndarray | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def is_alive(self) -> bool:
        return self._process.is_alive()

    def result(self, timeout: float = 0.0) -> np.ndarray | None:
        """The embedding, or None if it is not ready within `timeout` seconds. Raises
        ProjectionError when the child failed, was killed or died without a result."""
        if self._result is not None:
            return self._result
        if self._receive.closed:
            raise ProjectionError("the t-SNE was cancelled")
        if not self._receive.poll(timeout):
            return None
        try:
            ok, payload = self._receive.recv()
        except (EOFError, OSError):
            self.cancel()
            raise ProjectionError(
                f"the t-SNE process ended without a result (exit code {self._process.exitcode})"
            ) from None
        self.cancel()  # done: reap the child and close the pipe
        if not ok:
            raise ProjectionError(str(payload))
        self._result = payload
        return self._result

    def cancel(self) -> None:
        """Kill the child if it still runs, and wait until it is gone (milliseconds)."""
        if self._process.is_alive():
            self._process.kill()
        self._process.join(KILL_WAIT_SECONDS)
        self._receive.close()
