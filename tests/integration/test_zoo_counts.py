"""The model zoo (specs/*.yaml) against published figures.

Every zoo spec validates; the models that copy a published network have that
network's exact parameter count and, for the torchvision classifiers, MACs
within 1% of torchvision's "GFLOPS" column (which counts multiply-accumulates)
at 224x224. Module paths follow the reference code's state_dict names, checked
here without torch through the set of modules that own parameters, and fully
(keys and shapes) against torchvision when it is installed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import graphspec

ROOT = Path(__file__).resolve().parents[2]
SPECS = ROOT / "specs"
ZOO = sorted(SPECS.glob("*.yaml"))  # includes digits_*/cartpole_* when present

# (spec, graph) -> exact parameter count of the reference implementation
PARAMS = {
    ("mnist_cnn", "main"): 1_199_882,  # pytorch/examples mnist Net
    ("lenet5", "main"): 61_706,
    ("alexnet", "main"): 61_100_840,  # torchvision
    ("vgg11", "main"): 132_863_336,
    ("resnet18", "main"): 11_689_512,
    ("mobilenet_v2", "main"): 3_504_872,
    ("vae", "vae"): 652_824,  # pytorch/examples vae, the full model
    ("vae", "decoder"): 20 * 400 + 400 + 400 * 784 + 784,
    ("dcgan", "generator"): 3_576_704,  # PyTorch DCGAN tutorial
    ("dcgan", "discriminator"): 2_765_568,
    ("dqn_nature", "main"): 1_686_180,  # Mnih et al. 2015, 4 actions
    # torchvision (issue 10's zoo)
    ("resnet50", "main"): 25_557_032,
    ("densenet121", "main"): 7_978_856,
    ("googlenet", "main"): 6_624_904,  # without the auxiliary heads
    ("shufflenet_v2_x1_0", "main"): 2_278_604,
    ("mobilenet_v3_large", "main"): 5_483_032,
    ("efficientnet_b0", "main"): 5_288_548,
    ("regnet_y_400mf", "main"): 4_344_144,
    ("vit_b_16", "main"): 86_567_656,
    ("convnext_tiny", "main"): 28_589_128,
}

# torchvision's published GFLOPS (multiply-accumulates) at 224x224
MACS = {
    "alexnet": 0.714e9,
    "vgg11": 7.609e9,
    "resnet18": 1.814e9,
    "mobilenet_v2": 0.301e9,
    "resnet50": 4.089e9,
    "densenet121": 2.834e9,
    "googlenet": 1.498e9,
    "shufflenet_v2_x1_0": 0.145e9,
    "mobilenet_v3_large": 0.217e9,
    "efficientnet_b0": 0.386e9,
    "regnet_y_400mf": 0.402e9,
    "vit_b_16": 17.564e9,
    "convnext_tiny": 4.456e9,
}

# specs whose first line points editors at the schema and that carry a doc
OWN_FILES = sorted({SPECS / f"{name}.yaml" for name, _ in PARAMS} | {SPECS / f"{n}.yaml" for n in (
    "mlp", "lstm_classifier", "gru_classifier", "transformer_classifier")})
BLOCK_FILES = sorted((SPECS / "blocks").glob("*.yaml"))


def _load(name: str):
    return graphspec.load(str(SPECS / f"{name}.yaml"))


def _param_modules(graph) -> dict[str, int]:
    """Module path -> parameter count, for the modules that own parameters."""
    out = {}
    for node_id in graph.op_nodes():
        attrs = graph.node(node_id)
        n = attrs["meta"].get("params", 0)
        if n and attrs["module"] == node_id:
            out[node_id] = n
    return out


# -- every zoo file ---------------------------------------------------------------


def test_zoo_is_not_empty():
    names = {p.stem for p in ZOO}
    assert {name for name, _ in PARAMS} <= names
    assert {"mlp", "lstm_classifier", "gru_classifier", "transformer_classifier"} <= names


@pytest.mark.parametrize("path", ZOO, ids=lambda p: p.stem)
def test_zoo_spec_validates(path):
    spec = graphspec.load(str(path))  # raises GraphspecError on any error
    errors = [d for d in spec.warnings if d.severity == "error"]
    assert not errors
    for graph in spec.graphs.values():
        assert graph.total_params > 0
        assert graph.outputs


@pytest.mark.parametrize("path", OWN_FILES + BLOCK_FILES, ids=lambda p: p.relative_to(SPECS).as_posix())
def test_zoo_file_header_and_doc(path):
    text = path.read_text()
    depth = "../../" if path.parent.name == "blocks" else "../"
    assert text.splitlines()[0] == f"# yaml-language-server: $schema={depth}docs/graphspec.schema.json"
    assert "\ndoc: " in text


def test_cli_validate_whole_zoo():
    proc = subprocess.run(
        [sys.executable, "-m", "graphspec", "validate", *map(str, ZOO)],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for path in ZOO:
        assert f"{path}: ok" in proc.stdout


# -- published figures ----------------------------------------------------------


@pytest.mark.parametrize(("name", "graph"), sorted(PARAMS), ids=lambda x: x)
def test_published_parameter_count(name, graph):
    assert _load(name).graph(graph).total_params == PARAMS[(name, graph)]


@pytest.mark.parametrize("name", sorted(MACS))
def test_torchvision_macs_within_one_percent(name):
    macs = _load(name).graph().total_macs
    assert macs == pytest.approx(MACS[name], rel=0.01)


def test_inspect_json_reports_the_same_figures():
    proc = subprocess.run(
        [sys.executable, "-m", "graphspec", "inspect", "--json", str(SPECS / "mobilenet_v2.yaml")],
        capture_output=True, text=True, cwd=ROOT, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["total_params"] == 3_504_872
    assert report["total_macs"] == pytest.approx(0.301e9, rel=0.01)


def test_classes_param_resizes_the_head():
    spec = graphspec.load(str(SPECS / "resnet18.yaml"), set={"params.classes": 10})
    assert spec.graph().total_params == 11_689_512 - 513_000 + (512 * 10 + 10)


# -- module paths (state_dict names) --------------------------------------------


def test_alexnet_and_vgg_keep_sequential_indices():
    alex = _param_modules(_load("alexnet").graph())
    assert list(alex) == [f"features.{i}" for i in (0, 3, 6, 8, 10)] + [f"classifier.{i}" for i in (1, 4, 6)]
    vgg = _param_modules(_load("vgg11").graph())
    assert list(vgg) == [f"features.{i}" for i in (0, 3, 6, 8, 11, 13, 16, 18)] + [f"classifier.{i}" for i in (0, 3, 6)]


def test_resnet18_module_paths():
    mods = _param_modules(_load("resnet18").graph())
    assert len(mods) == 1 + 1 + 4 * 2 * 4 + 3 * 2 + 1  # stem conv+bn, 8 blocks x 4, 3 downsamples x 2, fc
    for path in ("conv1", "bn1", "layer1.0.conv1", "layer1.1.bn2", "layer2.0.downsample.0", "layer2.0.downsample.1",
                 "layer4.1.conv2", "fc"):
        assert path in mods
    assert "layer1.0.downsample.0" not in mods
    assert mods["layer2.0.downsample.0"] == 64 * 128  # 1x1 conv, no bias


def test_mobilenet_v2_module_paths():
    mods = _param_modules(_load("mobilenet_v2").graph())
    for path in ("features.0.0", "features.0.1", "features.1.conv.0.0", "features.1.conv.0.1", "features.1.conv.1",
                 "features.1.conv.2", "features.2.conv.0.0", "features.2.conv.1.0", "features.2.conv.2",
                 "features.2.conv.3", "features.17.conv.3", "features.18.0", "features.18.1", "classifier.1"):
        assert path in mods, path
    assert "features.1.conv.3" not in mods  # expand ratio 1: no expansion conv
    # residual blocks (stride 1, in == out) add their input
    g = _load("mobilenet_v2").graph()
    adds = sorted(int(n.split(".")[1]) for n in g.op_nodes() if g.node(n)["op"].op_name == "Add")
    assert adds == [3, 5, 6, 8, 9, 10, 12, 13, 15, 16]


def test_reference_names_of_small_models():
    assert list(_param_modules(_load("mnist_cnn").graph())) == ["conv1", "conv2", "fc1", "fc2"]
    assert list(_param_modules(_load("dqn_nature").graph())) == [f"network.{i}" for i in (0, 2, 4, 7, 9)]
    dcgan = _load("dcgan")
    assert list(_param_modules(dcgan.graph("generator"))) == [f"main.{i}" for i in (0, 1, 3, 4, 6, 7, 9, 10, 12)]
    assert list(_param_modules(dcgan.graph("discriminator"))) == [f"main.{i}" for i in (0, 2, 3, 5, 6, 8, 9, 11)]


def test_vae_decoder_graph_shares_the_full_models_paths():
    spec = _load("vae")
    full, dec = _param_modules(spec.graph("vae")), _param_modules(spec.graph("decoder"))
    assert list(full) == ["fc1", "fc21", "fc22", "decoder.fc3", "decoder.fc4"]
    assert dec == {k: full[k] for k in ("decoder.fc3", "decoder.fc4")}
    vae = spec.graph("vae")
    assert set(vae.outputs) == {"recon", "mu", "logvar"}
    assert [list(vae.output_type(o).shape) for o in ("recon", "mu", "logvar")] == [["batch", 784], ["batch", 20], ["batch", 20]]


def _state_dict_shapes(graph) -> dict[str, tuple]:
    """state_dict key -> shape, built node by node with each op's torch builder."""
    out = {}
    for node_id in graph.op_nodes():
        attrs = graph.node(node_id)
        if attrs["module"] != node_id:
            continue
        types = [graph.node(s)["meta"]["types"][p] for s, p in attrs["inputs"]]
        for key, value in attrs["op"].build_torch(*types).state_dict().items():
            out[f"{node_id}.{key}"] = tuple(value.shape)
    return out


@pytest.mark.parametrize("name", sorted(MACS))
def test_state_dict_keys_equal_torchvision(name):
    models = pytest.importorskip("torchvision.models")
    reference = {k: tuple(v.shape) for k, v in getattr(models, name)().state_dict().items()}
    assert _state_dict_shapes(_load(name).graph()) == reference
