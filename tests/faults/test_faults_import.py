"""graphspec import on hostile targets: clean errors, documented exit codes, nothing written."""

from __future__ import annotations

from harness import expect, run_cli

MODELS = '''
import torch
from torch import nn

class Good(nn.Module):
    def __init__(self, width=4):
        super().__init__()
        self.fc = nn.Linear(3, width)

    def forward(self, x):
        return torch.relu(self.fc(x))

class Dynamic(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 3)

    def forward(self, x):
        if x.sum() > 0:
            return self.fc(x)
        return x

class ReturnsInt(nn.Module):
    def forward(self, x):
        return 3

class BadKeys(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 3)

    def forward(self, x):
        return {"../evil": self.fc(x)}

class Raises(nn.Module):
    def forward(self, x):
        raise RuntimeError("boom in forward")

class Unmapped(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 3)
        self.bil = nn.Bilinear(3, 3, 3)

    def forward(self, x):
        y = torch.special.erfcx(self.fc(x))
        z = torch.logcumsumexp(y, 1)
        return self.bil(z, z)

def broken():
    raise ValueError("no model today")

NOT_A_MODEL = 3
'''


def _setup(tmp_path):
    (tmp_path / "models_here.py").write_text(MODELS)


def test_import_from_the_current_folder_writes_a_checked_spec(tmp_path):
    _setup(tmp_path)
    r = run_cli("import", "models_here:Good", "--kwargs", '{"width": 5}', "--input", "x=batch,3", "-o", "good.yaml", "--weights", "good.safetensors", cwd=tmp_path)
    expect(r, 0)
    assert (tmp_path / "good.yaml").exists() and (tmp_path / "good.safetensors").exists()
    r = run_cli("validate", "good.yaml", cwd=tmp_path)
    expect(r, 0, names=["good.yaml"])


def test_untraceable_model_exits_10_and_writes_nothing(tmp_path):
    _setup(tmp_path)
    r = run_cli("import", "models_here:Dynamic", "--input", "x=batch,3", "-o", "dyn.yaml", cwd=tmp_path)
    expect(r, 10)
    assert "models_here.py:" in r.stderr and "control flow" in r.stderr
    assert not (tmp_path / "dyn.yaml").exists()


def test_bad_targets_are_usage_errors(tmp_path):
    _setup(tmp_path)
    for target in ("models_here", "no_such_module:X", "models_here:Missing", "models_here:broken", "models_here:NOT_A_MODEL"):
        r = run_cli("import", target, "--input", "x=batch,3", "-o", "out.yaml", cwd=tmp_path)
        expect(r, 2)
    r = run_cli("import", "models_here:Good", "--input", "x=3,,", "-o", "out.yaml", cwd=tmp_path)
    expect(r, 2)
    r = run_cli("import", "models_here:Good", "--args", "{not json", "--input", "x=batch,3", "-o", "out.yaml", cwd=tmp_path)
    expect(r, 2)
    r = run_cli("import", "models_here:Good", "--input", "y=batch,3", "-o", "out.yaml", cwd=tmp_path)
    expect(r, 2)
    assert not (tmp_path / "out.yaml").exists()


def _line(source: str, needle: str) -> int:
    return next(i for i, ln in enumerate(source.splitlines(), 1) if needle in ln)


def test_a_forward_result_that_is_not_tensors_is_located_at_its_return(tmp_path):
    _setup(tmp_path)
    r = run_cli("import", "models_here:ReturnsInt", "--input", "x=batch,3", "-o", "o.yaml", cwd=tmp_path)
    expect(r, 10)
    assert f"models_here.py:{_line(MODELS, 'return 3')}:" in r.stderr and "is int, not a tensor" in r.stderr
    r = run_cli("import", "models_here:BadKeys", "--input", "x=batch,3", "-o", "o.yaml", cwd=tmp_path)
    expect(r, 10)
    assert f"models_here.py:{_line(MODELS, 'evil')}:" in r.stderr and "identifiers" in r.stderr
    assert not (tmp_path / "o.yaml").exists()


def test_an_exception_in_forward_is_reported_with_its_source_line(tmp_path):
    _setup(tmp_path)
    r = run_cli("import", "models_here:Raises", "--input", "x=batch,3", "-o", "o.yaml", cwd=tmp_path)
    expect(r, 10)
    assert f"models_here.py:{_line(MODELS, 'boom in forward')}:" in r.stderr and "boom in forward" in r.stderr
    assert "control flow" not in r.stderr  # that hint is for TraceError only
    assert not (tmp_path / "o.yaml").exists()


def test_every_unmapped_place_is_listed_at_once(tmp_path):
    _setup(tmp_path)
    r = run_cli("import", "models_here:Unmapped", "--input", "x=batch,3", "-o", "o.yaml", cwd=tmp_path)
    expect(r, 10)
    for needle, what in (("erfcx(", "erfcx"), ("logcumsumexp(", "logcumsumexp"), ("self.bil(z, z)", "Bilinear")):
        assert f"models_here.py:{_line(MODELS, needle)}:" in r.stderr and what in r.stderr, what
    assert "3 error(s)" in r.stderr
    assert not (tmp_path / "o.yaml").exists()


def test_a_hostile_name_is_a_usage_error_and_output_problems_are_file_errors(tmp_path):
    _setup(tmp_path)
    for name in ("../../etc/x", "", "a/b", "-rf"):
        r = run_cli("import", "models_here:Good", "--input", "x=batch,3", "--name", name, "-o", "o.yaml", cwd=tmp_path)
        expect(r, 2)
        assert "--name" in r.stderr
    (tmp_path / "adir").mkdir()
    r = run_cli("import", "models_here:Good", "--input", "x=batch,3", "-o", "adir", cwd=tmp_path)
    expect(r, 4, names=["adir"])
    assert not (tmp_path / "o.yaml").exists()


def test_a_full_disk_keeps_the_previous_spec(tmp_path):
    _setup(tmp_path)
    previous = tmp_path / "good.yaml"
    previous.write_text("the previous spec\n")
    r = run_cli("import", "models_here:Good", "--input", "x=batch,3", "-o", "good.yaml", cwd=tmp_path, fsize=64)
    expect(r, 4, names=["good.yaml"])
    assert previous.read_text() == "the previous spec\n"
