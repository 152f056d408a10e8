import pytest

from jupyternetes_operator.machinery.ratelimit import (
    BucketRateLimiter,
    ItemExponentialFailureRateLimiter,
    MaxOfRateLimiter,
    default_controller_rate_limiter,
)

from .fakeclock import FakeClock


def test_exponential_doubles_per_item() -> None:
    limiter = ItemExponentialFailureRateLimiter(0.005, 1000.0)
    assert [limiter.when("a") for _ in range(5)] == [0.005, 0.01, 0.02, 0.04, 0.08]
    assert limiter.num_requeues("a") == 5
    # Another key has its own history.
    assert limiter.when("b") == 0.005
    assert limiter.num_requeues("b") == 1
    assert limiter.num_requeues("never-seen") == 0


def test_exponential_caps_at_max_delay_and_never_overflows() -> None:
    limiter = ItemExponentialFailureRateLimiter()
    delays = [limiter.when("a") for _ in range(3000)]  # 2**3000 would overflow a float
    # 0.005 * 2**17 = 655.36 s is the last uncapped step; 2**18 would be 1310.72 s.
    assert delays[17] == pytest.approx(655.36)
    assert delays[18] == 1000.0
    assert delays[-1] == 1000.0
    assert max(delays) == 1000.0


def test_exponential_forget_resets() -> None:
    limiter = ItemExponentialFailureRateLimiter(0.005, 1000.0)
    for _ in range(4):
        limiter.when("a")
    limiter.when("b")
    limiter.forget("a")
    assert limiter.num_requeues("a") == 0
    assert limiter.when("a") == 0.005
    assert limiter.num_requeues("b") == 1  # untouched
    limiter.forget("unknown")  # no error


def test_bucket_burst_then_qps_spacing() -> None:
    clock = FakeClock()
    limiter = BucketRateLimiter(10, 100, clock=clock)
    assert [limiter.when(i) for i in range(100)] == [0.0] * 100
    # Reservations queue up 1/qps apart.
    assert limiter.when("x") == pytest.approx(0.1)
    assert limiter.when("y") == pytest.approx(0.2)
    assert limiter.when("z") == pytest.approx(0.3)
    # One second refills 10 tokens, 3 of which pay off the reservations above.
    clock.step(1.0)
    assert [limiter.when(i) for i in range(7)] == [0.0] * 7
    assert limiter.when("w") == pytest.approx(0.1)
    assert limiter.num_requeues("w") == 0


def test_bucket_refills_no_further_than_burst() -> None:
    clock = FakeClock()
    limiter = BucketRateLimiter(10, 5, clock=clock)
    clock.step(3600)
    assert [limiter.when(i) for i in range(5)] == [0.0] * 5
    assert limiter.when("over") == pytest.approx(0.1)


def test_bucket_rejects_nonsense() -> None:
    clock = FakeClock()
    with pytest.raises(ValueError, match="qps"):
        BucketRateLimiter(0, 1, clock=clock)
    with pytest.raises(ValueError, match="burst"):
        BucketRateLimiter(1, 0, clock=clock)


def test_max_of_takes_the_longest_and_fans_out() -> None:
    clock = FakeClock()
    fast = ItemExponentialFailureRateLimiter(0.001, 10.0)
    slow = ItemExponentialFailureRateLimiter(1.0, 10.0)
    limiter = MaxOfRateLimiter(fast, slow)
    assert limiter.when("a") == 1.0
    assert limiter.when("a") == 2.0
    assert fast.num_requeues("a") == 2  # every limiter was asked
    assert limiter.num_requeues("a") == 2
    limiter.forget("a")
    assert fast.num_requeues("a") == 0
    assert slow.num_requeues("a") == 0

    bucket = BucketRateLimiter(1, 1, clock=clock)
    limiter = MaxOfRateLimiter(ItemExponentialFailureRateLimiter(0.5, 10.0), bucket)
    assert limiter.when("a") == 0.5  # exponential wins while the bucket has a token
    assert limiter.when("b") == pytest.approx(1.0)  # then the bucket wins
    with pytest.raises(ValueError, match="at least one"):
        MaxOfRateLimiter()


def test_default_controller_rate_limiter() -> None:
    clock = FakeClock()
    limiter = default_controller_rate_limiter(clock)
    assert limiter.when("a") == 0.005
    assert limiter.when("a") == 0.01
    for i in range(98):  # uses up the rest of the burst of 100
        assert limiter.when(i) == 0.005
    assert limiter.when("late") == pytest.approx(0.1)
    for _ in range(40):
        limiter.when("a")
    assert limiter.when("a") == 1000.0
    assert limiter.num_requeues("a") == 43
