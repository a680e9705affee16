import pytest

from ansible_collections.llmsec.hardening.plugins.module_utils import ratelimit as rl


def test_bucket_allows_burst_then_refills():
    bucket = rl.TokenBucket(5, 60, now=0.0)
    assert [bucket.take(0.0) for _attempt in range(5)] == [0.0] * 5
    wait = bucket.take(0.0)
    assert wait == pytest.approx(12.0)  # one request per 12 s
    assert bucket.take(11.9) > 0
    assert bucket.take(12.0) == 0.0


def test_bucket_never_exceeds_capacity():
    bucket = rl.TokenBucket(3, 3, now=0.0)
    bucket.take(1000.0)
    assert bucket.level == pytest.approx(2.0)


def test_budget_goes_negative_and_says_when():
    budget = rl.TokenBucket(1000, 3600, now=0.0)
    assert budget.available(0.0) == 0.0
    budget.debit(0.0, 1500)  # a long answer overdraws the budget
    wait = budget.available(0.0)
    assert wait == pytest.approx(500 * 3.6, rel=1e-6)
    assert budget.available(wait + 0.01) == 0.0


def test_retry_after_is_whole_seconds():
    assert rl.retry_after_header(0.2) == "1"
    assert rl.retry_after_header(12.01) == "13"


def test_keyed_buckets_are_separate_and_bounded():
    keyed = rl.KeyedBuckets(1, 60, max_keys=2)
    assert keyed.get("a", 0).take(0) == 0
    assert keyed.get("a", 0).take(0) > 0
    assert keyed.get("b", 0).take(0) == 0
    keyed.get("c", 0)
    assert list(keyed.buckets) == ["b", "c"]


def test_bad_parameters():
    with pytest.raises(ValueError):
        rl.TokenBucket(0, 60, now=0)
