"""Activator bookkeeping: one scale-up per burst, bounded holding, asking again if nothing came."""

from __future__ import annotations

from wisp.gateway.coldstart import RESCALE_AFTER, ColdStart


def test_one_scale_up_per_burst() -> None:
    cold = ColdStart(max_held=10)
    asks = [cold.should_scale_up(now=0.1 * i) for i in range(50)]
    assert asks.count(True) == 1 and asks[0]


def test_asks_again_after_a_failure_or_a_long_silence() -> None:
    cold = ColdStart(max_held=10)
    assert cold.should_scale_up(0.0)
    cold.scale_failed()
    assert cold.should_scale_up(1.0)
    assert not cold.should_scale_up(1.0 + RESCALE_AFTER - 0.1)
    assert cold.should_scale_up(1.0 + RESCALE_AFTER)
    cold.endpoints_ready()
    assert cold.should_scale_up(100.0)  # a later burst (after scale to zero) asks again


def test_holding_is_bounded() -> None:
    cold = ColdStart(max_held=2)
    assert cold.admit() and cold.admit()
    assert not cold.admit()
    cold.leave()
    assert cold.admit()
    assert cold.held == 2
