"""Task vae: config checks, a tiny training run, shared decoder weights, grids, resume."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import graphspec
from graphspec.errors import GraphspecError
from graphspec.train import checkpoint as ck
from graphspec.train.engine import RunOptions, resolve_config, train

from _recipe import Recipe, messages

SPEC = Path(__file__).resolve().parents[2] / "specs" / "digits_vae.yaml"
TINY = {"train.epochs": 2, "train.batch_size": 128, "params.hidden": 16, "train.schedule": {"name": "constant"}}  # constant: a resume with more epochs keeps the same lr


_RECIPE = Recipe(SPEC.stem, TINY)
load = _RECIPE.load
run = _RECIPE.run


def test_config_defaults_and_errors():
    cfg, cls = resolve_config(load())
    assert cls.name == "vae" and cfg.reconstruction == "bce" and cfg.beta == 1.0 and cfg.decoder == "decoder"
    assert any("unknown field 'betta'" in m for m in messages(load, **{"train.betta": 1}))
    assert any("reconstruction" in m for m in messages(load, **{"train.reconstruction": "l1"}))
    assert any("takes no train.loss" in m for m in messages(load, **{"train.loss": "MSELoss"}))
    assert any("no graph 'dec'" in m for m in messages(load, **{"train.decoder": "dec"}))
    assert any("no output 'mean'" in m for m in messages(load, **{"train.outputs": {"mu": "mean"}}))
    assert any("cannot use data 'sine'" in m for m in messages(load, **{"train.data": "sine"}))


def test_bce_needs_sigmoid_output(tmp_path):
    text = SPEC.read_text().replace("      sigmoid: {op: Sigmoid, in: fc4}\n    outputs: sigmoid", "    outputs: fc4")
    spec = graphspec.load("v.yaml", text=text, set={**TINY, "train.epochs": 1})
    with pytest.raises(GraphspecError) as exc:
        train(spec, RunOptions(name="x", runs_dir=str(tmp_path), quiet=True))
    d = exc.value.diagnostics[0]
    assert d.code == "data" and "comes from Linear" in d.message and "Sigmoid" in d.hint


def test_tiny_run_metrics_grids_and_shared_decoder(tmp_path):
    res = run(tmp_path)
    for k in ("train_recon", "train_kl", "val_neg_elbo", "test_neg_elbo", "test_kl", "test_recon"):
        assert k in res and res[k] == res[k], k
    assert res["test_neg_elbo"] == pytest.approx(res["test_recon"] + res["test_kl"])
    d = tmp_path / "r"
    assert {"reconstructions.png", "samples.png"} <= set(res["artifacts"])
    assert (d / "samples.png").stat().st_size > 100 and (d / "reconstructions.png").stat().st_size > 100
    weights, _ = ck.load_weights(d / "best.safetensors")
    spec = load()
    full = spec.to_torch("vae")
    assert set(weights) == set(full.state_dict())
    # the decoder graph loads its part of the checkpoint by the same keys
    dec = spec.to_torch("decoder")
    dec.load_state_dict({k: weights[k] for k in dec.state_dict()}, strict=True)
    full.load_state_dict(weights)
    full.eval()
    x = torch.rand(5, 64)
    with torch.no_grad():
        recon, mu, _ = full(x)
        assert torch.allclose(dec(mu), recon)


def test_decoder_is_tied_to_the_trained_weights():
    from graphspec.train.tasks.base import TrainContext
    from graphspec.train.tasks.vae import VAETask

    torch.set_num_threads(1)  # as the engine does for small models
    spec = load()
    cfg, _ = resolve_config(spec)
    task = VAETask(TrainContext(spec=spec, cfg=cfg, device=torch.device("cpu")))
    task.setup()
    assert task.decoder.get_parameter("decoder.fc3.weight") is task.module.get_parameter("decoder.fc3.weight")
    assert set(task.weights()) == set(task.module.state_dict())
    a = task.sample_images(4, seed=1)
    with torch.no_grad():
        task.module.get_parameter("decoder.fc4.bias").add_(1.0)
    assert not torch.equal(a, task.sample_images(4, seed=1))
    assert a.shape == (4, 8, 8)


def test_mse_and_kl_warmup(tmp_path):
    res = run(tmp_path, **{"train.reconstruction": "mse", "train.kl_warmup_epochs": 2, "train.beta": 0.5})
    assert "test_neg_elbo" not in res and res["test_loss"] == pytest.approx(res["test_recon"] + 0.5 * res["test_kl"])


def test_resume_is_exact(tmp_path):
    straight = run(tmp_path, name="a", **{"train.epochs": 3})
    run(tmp_path, name="b", **{"train.epochs": 2})
    resumed = run(tmp_path, name="b", resume=True, **{"train.epochs": 3})
    wa, _ = ck.load_weights(tmp_path / "a" / "last.safetensors")
    wb, _ = ck.load_weights(tmp_path / "b" / "last.safetensors")
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert resumed["test_neg_elbo"] == straight["test_neg_elbo"]


@pytest.mark.slow
def test_quality_recipe_reaches_target(tmp_path):
    """The zoo recipe as written (300 epochs, about 30 s of CPU): test negative ELBO <= 26 nats."""
    res = train(graphspec.load(str(SPEC)), RunOptions(name="q", runs_dir=str(tmp_path), quiet=True))
    assert res["test_neg_elbo"] <= 26.0
