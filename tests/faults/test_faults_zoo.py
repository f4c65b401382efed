"""Fault corpus for `graphspec zoo` and `graphspec completion`: hostile names and targets.

None of these reach torch, so each case takes well under a second of CPU.
"""

from __future__ import annotations

import os

from harness import assert_intact, expect, leftovers, run_cli, snapshot


def test_mistyped_zoo_names_get_a_hint(tmp_path):
    for name in ("resnt18", "LENET5", "digits-mlp"):
        r = run_cli("inspect", name, cwd=tmp_path)
        expect(r, 4, names=[name], contains=["file-not-found", "did you mean"])


def test_hostile_zoo_names(tmp_path):
    for name in ("", "../../etc/passwd", "a" * 5000, "lenet5\x01", "-"):
        r = run_cli("zoo", name, cwd=tmp_path)
        expect(r, {2, 4})


def test_copy_target_is_a_file_or_below_one(tmp_path):
    (tmp_path / "afile").write_text("x")
    expect(run_cli("zoo", "lenet5", "-o", "afile", cwd=tmp_path), 4, names=["afile"])
    expect(run_cli("zoo", "lenet5", "-o", "afile/sub", cwd=tmp_path), 4)
    assert (tmp_path / "afile").read_text() == "x"


def test_copy_onto_a_fifo_does_not_block_and_keeps_it(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    os.mkfifo(out / "lenet5.yaml")
    r = run_cli("zoo", "lenet5", "-o", "mine", cwd=tmp_path, timeout=60)
    expect(r, 4, names=["lenet5.yaml"], contains=["file-exists", "--force"])
    assert (out / "lenet5.yaml").is_fifo()


def test_copy_over_a_symlink_replaces_the_link_not_its_target(tmp_path):
    target = tmp_path / "precious.yaml"
    target.write_text("keep me\n")
    out = tmp_path / "mine"
    out.mkdir()
    (out / "lenet5.yaml").symlink_to(target)
    expect(run_cli("zoo", "lenet5", "-o", "mine", cwd=tmp_path), 4, contains=["file-exists"])
    r = run_cli("zoo", "lenet5", "-o", "mine", "--force", cwd=tmp_path)
    expect(r, 0)
    assert target.read_text() == "keep me\n"
    assert not (out / "lenet5.yaml").is_symlink() and "LeNet-5" in (out / "lenet5.yaml").read_text()


def test_full_disk_while_copying_leaves_no_torn_files(tmp_path):
    out = tmp_path / "mine"
    assert run_cli("zoo", "resnet18", "-o", "mine", cwd=tmp_path).rc == 0
    (out / "resnet18.yaml").write_text((out / "resnet18.yaml").read_text() + "# edited\n")
    before = snapshot(out.rglob("*.yaml"))
    r = run_cli("zoo", "resnet18", "-o", "mine", "--force", cwd=tmp_path, fsize=512)
    expect(r, 4)
    assert_intact(before)
    assert leftovers(out) == []


def test_unknown_completion_shell_is_a_usage_error(tmp_path):
    expect(run_cli("completion", "fish", cwd=tmp_path), 2)
    expect(run_cli("completion", cwd=tmp_path), 2)
