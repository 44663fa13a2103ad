"""A backfill beside the live sync under the simulator's enforced quota (the short run of
benchmarks/backfill_live_drill.py): no quota refusal, the backfill gets its share, and
every order placed meanwhile reaches the live sync's records (its lag is printed)."""

from __future__ import annotations

import pytest

from testkit.live_drill import run_drill

pytestmark = pytest.mark.integration


def test_a_backfill_and_the_live_sync_share_the_quota_without_a_refusal() -> None:
    result = run_drill(90.0, orders_per_hour=30.0, backfill_days=1, order_every_seconds=6.0)
    print(f"lag p50 {result.lag(0.5):.1f} s, max {result.lag(1.0):.1f} s; backfill "
          f"{result.backfill_calls_per_minute:.0f}/min, "
          f"live {result.live_calls_per_minute:.0f}/min")  # fmt: skip
    assert result.quota_errors == 0
    assert result.backfill.calls >= 20  # about 30 a minute, less its first seconds
    assert result.backfill.calls + result.live_calls <= 100 * 1.5 + 5  # 90 s of 100/min
    assert result.unseen <= 1 and len(result.lags) >= 13  # the last order may be in flight
