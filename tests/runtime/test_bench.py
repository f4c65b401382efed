import time

import pytest

from graphspec.runtime import bench


def test_measure_interleaves_and_rotates():
    calls = []
    backends = [bench.Backend(k, (lambda k=k: calls.append(k))) for k in ("a", "b", "c")]
    timings = bench.measure(backends, repeat=3, warmup=1, max_seconds=60)
    timed = calls[3:]  # after one warm-up call each
    assert timed == ["a", "b", "c", "b", "c", "a", "c", "a", "b"]
    assert all(len(t.times) == 3 for t in timings.values())


def test_failures_during_warmup_become_unavailable():
    def boom():
        raise RuntimeError("no compiler\nmore")

    timings = bench.measure([bench.Backend("eager", lambda: None), bench.Backend("compile", boom), bench.Backend("ort-cuda", unavailable="no GPU")], repeat=2, warmup=1)
    assert timings["compile"].unavailable == "RuntimeError: no compiler"
    assert timings["ort-cuda"].unavailable == "no GPU"
    assert timings["compile"].stats()["unavailable"] and len(timings["eager"].times) == 2


def test_stats_median_spread_and_ratio():
    t = bench.Timing("ort-cpu", times=[0.001, 0.002, 0.003, 0.004, 0.005])
    s = t.stats(eager_median=6.0)
    assert s["median_ms"] == pytest.approx(3.0)
    assert s["p10_ms"] < s["median_ms"] < s["p90_ms"]
    assert s["ratio_to_eager"] == pytest.approx(0.5)
    assert s["label"] == "onnxruntime CPU"


def test_max_seconds_stops_after_min_rounds():
    timings = bench.measure([bench.Backend("eager", lambda: time.sleep(0.01))], repeat=1000, warmup=0, max_seconds=0.0, min_rounds=4)
    assert len(timings["eager"].times) == 4


def test_the_gap_is_not_timed():
    start = time.perf_counter()
    timings = bench.measure([bench.Backend("eager", lambda: None)], repeat=5, warmup=0, gap=0.02)
    assert time.perf_counter() - start >= 0.1
    assert max(timings["eager"].times) < 0.01
