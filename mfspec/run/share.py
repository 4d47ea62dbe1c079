"""The (width, seed) records of a sweep split over the processes of a job, and gathered by process 0.

The finite runs of a sweep are independent, so in a multi-process job (``mfspec run
--distributed``) each process trains a share of them — record k of the (width-major) list of
runs still to train goes to process k mod N, so every process gets some of every width when there
are enough seeds — and publishes each finished record in the coordination service's key-value store
(``jax.distributed``'s own, reached through its client); process 0 takes them from there in sweep
order and alone writes results.json. The record travels as JSON text: Python writes a float's
shortest repr and reads back the same double, so a gathered curve is bitwise the curve its process
trained (tests/test_sweep_share.py).

Process 0 also decides which records an existing results.json already holds (only it is sure to
see the file) and publishes that list, so that every process splits the same remaining work.

In one process all of this is the identity: every record is this process's.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import jax
from jax.errors import JaxRuntimeError

from mfspec.common.peers import client

_WAIT_MS = 1000  # one blocking read of the store; between reads the caller checks for interrupts
_calls = [0]  # sweeps so far in this job: each sweep has its own keys


class Share:
    """Which records this process trains, and the key-value traffic of one sweep."""

    def __init__(self):
        self.n, self.me = jax.process_count(), jax.process_index()
        self.prefix = f"mfspec/sweep/{_calls[0]}"
        _calls[0] += 1

    @property
    def alone(self) -> bool:
        return self.n == 1

    def agree(self, reused: Callable[[], list]) -> list:
        """The keys of the records kept from results.json: ``reused()`` in process 0, published;
        the same list read in the others. An error in process 0 (a results.json of another run)
        is raised, with its message, in every process."""
        if self.alone:
            return reused()
        key = f"{self.prefix}/reused"
        if self.me == 0:
            try:
                keys = reused()
            except ValueError as err:
                self._client().key_value_set(key, json.dumps({"error": str(err)}))
                raise
            self._client().key_value_set(key, json.dumps({"keys": keys}))
            return keys
        got = json.loads(self._get(key, lambda: None))
        if "error" in got:
            raise ValueError(got["error"])
        return [tuple(k) for k in got["keys"]]

    def mine(self, todo: list) -> set:
        """The items of ``todo`` (the runs still to train, in sweep order) that this process trains."""
        return {item for k, item in enumerate(todo) if k % self.n == self.me}

    def publish(self, item, record: dict) -> None:
        """Hand a finished record to process 0 (nothing to do in process 0 or alone)."""
        if not self.alone and self.me != 0:
            self._client().key_value_set(self._key(item), json.dumps(record))

    def collect(self, item, check: Callable[[], None]) -> dict:
        """The record of ``item`` trained by another process (process 0 only), waiting for it;
        ``check()`` runs between reads (an interrupt raises there)."""
        return json.loads(self._get(self._key(item), check))

    def _key(self, item) -> str:
        return f"{self.prefix}/record/{json.dumps(item)}"

    def _get(self, key: str, check: Callable[[], None]) -> str:
        while True:
            try:
                return self._client().blocking_key_value_get(key, _WAIT_MS)
            except JaxRuntimeError as err:
                if "DEADLINE_EXCEEDED" not in str(err):
                    raise
            check()

    @staticmethod
    def _client():
        return client()
