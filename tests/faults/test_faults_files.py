"""Fault corpus, files read: specs, imports, ONNX models and input arrays.

Every path that is not a readable regular file (FIFO, device, folder, socket,
symlink loop, 100 GiB sparse file ...) is refused at once with the documented
exit code and a message naming it -- never a hang, never a traceback.
None of these cases imports torch.
"""

from __future__ import annotations

import zipfile

import numpy as np
import pytest
from harness import HOSTILE_KINDS, expect, hostile_path, run_cli, tiny_onnx, tiny_spec

# what the message must show: the path as given (a too-long name is shown, but cut here)
def _shown(p) -> str:
    return str(p)[:60]


# ---------------------------------------------------------------- spec files
@pytest.mark.parametrize("kind", HOSTILE_KINDS)
def test_validate_hostile_spec_path(tmp_path, kind):
    p = hostile_path(kind, tmp_path)
    r = run_cli("validate", p, cwd=tmp_path, timeout=30)
    expect(r, 4, names=[_shown(p)])


@pytest.mark.parametrize("kind", ["fifo", "dev_zero", "directory", "sparse_huge", "socket", "missing"])
def test_inspect_hostile_spec_path(tmp_path, kind):
    p = hostile_path(kind, tmp_path)
    expect(run_cli("inspect", p, cwd=tmp_path, timeout=60), 4, names=[_shown(p)])


@pytest.mark.parametrize("kind", ["fifo", "dev_zero", "directory"])
def test_viz_hostile_spec_path(tmp_path, kind):
    p = hostile_path(kind, tmp_path)
    expect(run_cli("viz", p, "-o", tmp_path / "g.dot", cwd=tmp_path, timeout=60), 4, names=[_shown(p)])
    assert not (tmp_path / "g.dot").exists()


SPEC_CONTENTS = {
    "binary_junk": (bytes(range(256)) * 4, 3),
    "empty": (b"", 3),
    "nul_bytes": (b"graphspec: 1\x00\x00\n", 3),
    "utf16": ("graphspec: 1\n".encode("utf-16"), 3),
    "nine_mib": (b"# " + b"x" * (9 * 1024 * 1024) + b"\n", 4),  # over the 8 MiB limit
    "latin1": ("name: caf\xe9\n".encode("latin-1"), 3),
    "only_bom": (b"\xef\xbb\xbf", 3),
    "gzip_magic": (b"\x1f\x8b\x08\x00" + bytes(100), 3),
}


@pytest.mark.parametrize("case", sorted(SPEC_CONTENTS))
def test_validate_hostile_spec_content(tmp_path, case):
    data, code = SPEC_CONTENTS[case]
    p = tmp_path / f"{case}.yaml"
    p.write_bytes(data)
    expect(run_cli("validate", p, cwd=tmp_path, timeout=30), code, names=[p.name])


# ---------------------------------------------------------------- imports
IMPORT_KINDS = ["missing", "directory", "fifo", "dev_zero", "symlink_to_fifo", "symlink_loop", "sparse_huge", "socket"]


def _importer(folder, rel: str) -> object:
    text = (
        "graphspec: 1\nname: imp\nimports: {lib: " + repr(str(rel)) + "}\n"
        "inputs:\n  x: {shape: [batch, 4]}\nnodes:\n  fc: {op: Linear, in: x, out_features: 2}\noutputs: [fc]\n"
    )
    return tiny_spec(folder, "imp.yaml", text)


@pytest.mark.parametrize("kind", IMPORT_KINDS)
def test_import_of_hostile_path(tmp_path, kind):
    p = hostile_path(kind, tmp_path)
    spec = _importer(tmp_path, p.name)
    # the problem is a line of the spec: exit 3 at the import, naming it
    expect(run_cli("validate", spec, cwd=tmp_path, timeout=30), 3, names=["imp.yaml", p.name[:40]])


@pytest.mark.parametrize("rel", ["/etc/passwd", "../outside.yaml", "sub/../../outside.yaml"])
def test_import_may_not_leave_the_spec_folder(tmp_path, rel):
    (tmp_path / "outside.yaml").write_text("graphspec: 1\nblocks: {}\n")
    (tmp_path / "proj" / "sub").mkdir(parents=True)
    spec = _importer(tmp_path / "proj", rel)
    expect(run_cli("validate", spec, cwd=tmp_path, timeout=30), 3, names=["imp.yaml"], contains=["leaves the spec's folder"])


def test_import_through_symlink_out_of_folder(tmp_path):
    (tmp_path / "secret.yaml").write_text("graphspec: 1\nblocks: {}\n")
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj" / "lib.yaml").symlink_to(tmp_path / "secret.yaml")
    spec = _importer(tmp_path / "proj", "lib.yaml")
    expect(run_cli("validate", spec, cwd=tmp_path, timeout=30), 3, contains=["leaves the spec's folder"])


# ---------------------------------------------------------------- ONNX models
MODEL_KINDS = ["missing", "directory", "fifo", "dev_zero", "dev_null", "symlink_loop", "sparse_huge", "socket", "through_a_file"]


@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_infer_hostile_model_path(tmp_path, kind):
    np.save(tmp_path / "in.npy", np.ones((2, 4), np.float32))
    p = hostile_path(kind, tmp_path, ".onnx")
    expect(run_cli("infer", p, "--input", "in.npy", cwd=tmp_path, timeout=60), 4, names=[_shown(p)])


MODEL_CONTENTS = {
    "garbage": b"this is not protobuf" * 10,
    "empty": b"",
    "json": b'{"ir_version": 8}',
    "zip": b"PK\x03\x04" + bytes(60),
}


@pytest.mark.parametrize("case", sorted(MODEL_CONTENTS) + ["truncated"])
def test_infer_corrupt_model(tmp_path, case):
    np.save(tmp_path / "in.npy", np.ones((2, 4), np.float32))
    p = tmp_path / "m.onnx"
    if case == "truncated":
        good = tiny_onnx(tmp_path, "good.onnx").read_bytes()
        p.write_bytes(good[: len(good) // 2])
    else:
        p.write_bytes(MODEL_CONTENTS[case])
    expect(run_cli("infer", p, "--input", "in.npy", cwd=tmp_path, timeout=60), 4, names=["m.onnx"])


@pytest.mark.parametrize("kind", ["fifo", "dev_zero", "directory"])
def test_bench_hostile_model_path(tmp_path, kind):
    p = hostile_path(kind, tmp_path, ".onnx")
    expect(run_cli("bench", p, "--repeat", "1", "--warmup", "0", cwd=tmp_path, timeout=60), 4, names=[_shown(p)])


# ---------------------------------------------------------------- input arrays
INPUT_KINDS = ["missing", "directory", "fifo", "dev_zero", "symlink_to_fifo", "sparse_huge", "socket"]


@pytest.mark.parametrize("kind", INPUT_KINDS)
@pytest.mark.parametrize("suffix", [".npy", ".npz"])
def test_infer_hostile_input_path(tmp_path, kind, suffix):
    model = tiny_onnx(tmp_path)
    p = hostile_path(kind, tmp_path, suffix)
    expect(run_cli("infer", model, "--input", p, cwd=tmp_path, timeout=60), 4, names=[_shown(p)])


def _zip_bomb(path):
    header = np.lib.format.header_data_from_array_1_0(np.zeros(0, np.float32))
    header["shape"] = (1, 32 * 1024**2)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf, zf.open("x.npy", "w", force_zip64=True) as f:
        np.lib.format.write_array_header_1_0(f, header)
        chunk = bytes(16 * 1024**2)
        for _ in range(8):
            f.write(chunk)


def _make_input(case: str, folder) -> str:
    p = folder / ("in.npy" if case.endswith("npy") else "in.npz")
    if case == "object_npy":
        np.save(p, np.array([{"a": 1}] * 2, dtype=object), allow_pickle=True)
    elif case == "object_npz":
        np.savez(p, x=np.array([None, None], dtype=object))
    elif case == "pickle_member_npz":
        with zipfile.ZipFile(p, "w") as zf:
            zf.writestr("x.pkl", b"cos\nsystem\n(S'echo hacked'\ntR.")
    elif case == "zip_bomb_npz":
        _zip_bomb(p)
    elif case == "truncated_npy":
        np.save(p, np.ones((2, 4), np.float32))
        p.write_bytes(p.read_bytes()[:-4])
    elif case == "truncated_npz":
        np.savez(p, x=np.ones((2, 4), np.float32))
        p.write_bytes(p.read_bytes()[:-30])
    elif case == "garbage_npz":
        p.write_bytes(b"PK\x03\x04" + b"junk" * 10)
    elif case == "bad_header_npy":
        p.write_bytes(b"\x93NUMPY\x01\x00\x20\x00{'descr': '<f4', 'shape': (-1,), }\n")
    elif case == "huge_shape_npy":
        p.write_bytes(b"\x93NUMPY\x01\x00\x46\x00" + b"{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999,), }".ljust(70) + bytes(16))
    elif case == "structured_npz":
        np.savez(p, x=np.zeros(2, dtype=[("a", "f4"), ("b", "i4")]))
    return p.name


INPUT_CONTENTS = [
    "object_npy", "object_npz", "pickle_member_npz", "zip_bomb_npz", "truncated_npy", "truncated_npz",
    "garbage_npz", "bad_header_npy", "huge_shape_npy", "structured_npz",
]


@pytest.mark.parametrize("case", INPUT_CONTENTS)
def test_infer_hostile_input_content(tmp_path, case):
    model = tiny_onnx(tmp_path)
    name = _make_input(case, tmp_path)
    expect(run_cli("infer", model, "--input", name, cwd=tmp_path, timeout=60), 4, names=[name])


@pytest.mark.parametrize(
    "arrays",
    [{"x": np.ones((2, 5), np.float32)}, {"wrong": np.ones((2, 4), np.float32)}, {"x": np.array(["a", "b"])}, {}],
    ids=["wrong_shape", "wrong_name", "text_dtype", "empty_npz"],
)
def test_infer_mismatched_inputs_are_data_errors(tmp_path, arrays):
    model = tiny_onnx(tmp_path)
    np.savez(tmp_path / "in.npz", **arrays)
    expect(run_cli("infer", model, "--input", "in.npz", cwd=tmp_path, timeout=60), 5)


# ---------------------------------------------------------------- ONNX external data
def _external_model(folder, location: str):
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.zeros((4, 4), np.float32), "w")
    w.ClearField("raw_data")
    w.data_location = TensorProto.EXTERNAL
    for k, v in (("location", location), ("offset", "0"), ("length", "64")):
        entry = w.external_data.add()
        entry.key, entry.value = k, v
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "g", [x], [y], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    p = folder / "ext.onnx"
    p.write_bytes(model.SerializeToString())
    return p


@pytest.mark.parametrize("where", ["absolute_dev_zero", "climbs_out", "symlink_to_dev_zero", "fifo_beside", "missing"])
def test_external_data_outside_or_hostile(tmp_path, where):
    import os

    np.save(tmp_path / "in.npy", np.ones((2, 4), np.float32))
    location = {"absolute_dev_zero": "/dev/zero", "climbs_out": "../../etc/passwd"}.get(where, "w.bin")
    if where == "symlink_to_dev_zero":
        (tmp_path / "w.bin").symlink_to("/dev/zero")
    elif where == "fifo_beside":
        os.mkfifo(tmp_path / "w.bin")
    model = _external_model(tmp_path, location)
    expect(run_cli("infer", model, "--input", "in.npy", cwd=tmp_path, timeout=60), 4, names=["ext.onnx"])
