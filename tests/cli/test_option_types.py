"""The argparse types of graphspec/cli/common.py: every numeric option range-checked in one place."""

import argparse

import pytest

from graphspec.cli import common


@pytest.mark.parametrize(
    "fn,good,bad",
    [
        (common.threads_type, {"1": 1, " 8 ": 8, "1024": 1024}, ["0", "-2", "1025", "x", "1.5", ""]),
        (common.batches_type, {"1": [1], "1,4, 16": [1, 4, 16]}, ["0", "1,,0", ",", "", "2**40", "-1"]),
        (common.repeat_type, {"1": 1}, ["0", "1000001"]),
        (common.warmup_type, {"0": 0}, ["-1"]),
        (common.tolerance_type, {"0": 0.0, "1e-3": 1e-3}, ["nan", "inf", "-1e-9", "1e7", "tiny"]),
        (common.opset_type, {"18": 18, "23": 23}, ["17", "24", "7", "x"]),
        (common.device_type, {"auto": "auto", "CPU": "cpu", "cuda": "cuda", "cuda:1": "cuda:1"}, ["mps", "xpu", "cuda:", "cuda:x", "cuda:-1", ""]),
        (common.budget_type, {"16G": 16 * 2**30, "512MiB": 512 * 2**20}, ["0", "lots", "1e99", "-1G"]),
    ],
)
def test_option_types(fn, good, bad):
    for text, value in good.items():
        assert fn(text) == value
    for text in bad:
        with pytest.raises(argparse.ArgumentTypeError):
            fn(text)


def test_a_bad_value_is_exit_2_naming_the_option(capsys):
    p = argparse.ArgumentParser(prog="graphspec bench")
    p.add_argument("--threads", type=common.threads_type)
    with pytest.raises(SystemExit) as info:
        p.parse_args(["--threads", "0"])
    assert info.value.code == 2
    assert "argument --threads: expected a thread count from 1 to 1,024, received 0" in capsys.readouterr().err


def test_budget_flag_sets_the_process_budget():
    from graphspec.passes import budget

    try:
        common.apply_budget(argparse.Namespace(budget=2**30))
        assert budget.limit() == 2**30
    finally:
        budget.set_limit(None)
    common.apply_budget(argparse.Namespace())  # commands without the flag: no change
    assert budget.limit() == budget.DEFAULT_BUDGET
