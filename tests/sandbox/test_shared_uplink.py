"""The sandbox's upload bandwidth: per connection, or one uplink all connections share."""

import threading
import time

import pytest

from kaggle_sandbox.faults import FaultInjector, Throttle


def two_uploads(injector: FaultInjector, nbytes: int) -> float:
    def upload():
        throttle = Throttle(injector)
        step = throttle.chunk_size()
        for _ in range(0, nbytes, step):
            throttle.consumed(step)

    threads = [threading.Thread(target=upload) for _ in range(2)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.monotonic() - start


@pytest.mark.parametrize("shared", [False, True], ids=["per-connection", "shared"])
def test_parallel_uploads_share_the_uplink_only_in_shared_mode(shared):
    injector = FaultInjector()
    injector.set_bandwidth(2_000_000, shared=shared)
    elapsed = two_uploads(injector, 400_000)  # each 0.2 s at the limit alone
    if shared:
        assert 0.38 <= elapsed < 0.7  # 800 kB through one 2 MB/s uplink
    else:
        assert 0.18 <= elapsed < 0.35  # side by side, each at the limit


def test_the_mode_stays_when_only_the_rate_changes():
    injector = FaultInjector()
    injector.set_bandwidth(1_000_000, shared=True)
    injector.set_bandwidth(3_000_000)
    assert injector.shared_uplink and injector.upload_bandwidth == 3_000_000


def test_one_connection_gets_the_whole_shared_uplink_but_never_more():
    """A server that spends time on each chunk (here 0.5 ms, about what reading and
    writing one costs) still sees the configured rate on one connection: the link keeps
    sending meanwhile. Before, each chunk's handling was added to its transfer time
    (0.7 × the rate). It never gets more than the rate, give or take the 50 ms catch-up."""
    injector = FaultInjector()
    injector.set_bandwidth(50_000_000, shared=True)
    throttle = Throttle(injector)
    step = throttle.chunk_size()
    start = time.monotonic()
    for _ in range(0, 20_000_000, step):
        time.sleep(0.0005)
        throttle.consumed(step)
    elapsed = time.monotonic() - start
    assert 0.35 <= elapsed < 0.47  # 20 MB at 50 MB/s is 0.4 s
