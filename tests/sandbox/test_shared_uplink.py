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
