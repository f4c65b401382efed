"""Task ``vae``: a variational autoencoder trained on the negative ELBO.

The spec holds two graphs that share node paths (see specs/digits_vae.yaml):
the full model (``train.graph``) with outputs ``recon``, ``mu`` and ``logvar``
(the ``Reparameterize`` op samples z in training), and a ``decoder`` graph
(``train.decoder``) taking z. The decoder's weights *are* the full model's
(same Parameter objects), so what training changes is what samples use.

Loss per example, averaged over the batch::

    reconstruction(recon, x) + beta * KL(N(mu, exp(logvar)) || N(0, I))

with ``reconstruction: bce`` (binary cross-entropy summed over the features:
the Bernoulli negative log-likelihood, so with beta 1 the loss is the negative
ELBO in nats) or ``mse`` (squared error summed over the features).
Validation/test metrics: ``loss``, ``recon``, ``kl`` and (bce) ``neg_elbo``,
estimated with ``eval_samples`` draws of z per example from a fixed seed.
The run folder gets ``reconstructions.png`` (test images, odd rows, and their
reconstructions from the mean code, even rows) and ``samples.png`` (decoder
outputs for z ~ N(0, I)).

The data helpers here (:func:`load_example_splits`) are shared with the gan task.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from graphspec.config.tasks import VAESchema
from graphspec.train.tasks.base import Task, data_error, register_task


# ----------------------------------------------------------------- shared helpers
def load_example_splits(task: Task, graph, data_range: tuple[float, float] = (0.0, 1.0)) -> dict[str, torch.Tensor]:
    """Train/val/test example tensors for the only input of ``graph`` (labels dropped).

    Built-in images are reshaped to the input's shape when the sizes agree
    (digits [N, 1, 8, 8] feed a [batch, 64] input), checked against the input
    type, mapped from [0, 1] onto ``data_range`` and split with train.split_seed.
    """
    from graphspec.train.data import check_against, load_arrays, split_indices

    cfg = task.cfg
    if len(graph.inputs) != 1:
        raise data_error(f"task {task.name!r} feeds one input, but graph {graph.name!r} has {len(graph.inputs)}: {', '.join(graph.inputs)}")
    name = next(iter(graph.inputs))
    itype = graph.inputs[name].type
    inputs, _target, _meta = load_arrays(cfg.data, graph, task.ctx.spec_dir, task.name)
    x = np.asarray(inputs[name])
    want = tuple(itype.shape)[1:]
    if all(isinstance(d, int) for d in want) and tuple(x.shape[1:]) != want and int(np.prod(x.shape[1:])) == int(np.prod(want)):
        x = x.reshape((len(x),) + want)
    x = check_against(name, x, itype, cfg.data.source)
    lo, hi = data_range
    if (lo, hi) != (0.0, 1.0):
        x = (x * (hi - lo) + lo).astype(x.dtype, copy=False)
    if len(x) < 3:
        raise data_error(f"data {cfg.data.source!r} has {len(x)} examples; it needs at least 3 (train, val, test)")
    tr, va, te = split_indices(len(x), cfg.val_split, cfg.test_split, cfg.split_seed)
    return {s: torch.from_numpy(np.ascontiguousarray(x[i])) for s, i in (("train", tr), ("val", va), ("test", te))}


def tie_weights(src: torch.nn.Module, dst: torch.nn.Module, what: str) -> None:
    """Make ``dst``'s parameters and buffers the very tensors of ``src`` at the same paths."""
    from graphspec.errors import GraphspecError

    src_p = dict(src.named_parameters(remove_duplicate=False))
    src_b = dict(src.named_buffers(remove_duplicate=False))
    problems = []
    for table, own in ((src_p, dict(dst.named_parameters(remove_duplicate=False))), (src_b, dict(dst.named_buffers(remove_duplicate=False)))):
        for name, t in own.items():
            other = table.get(name)
            if other is None:
                problems.append(f"{name!r} is not in the trained graph")
                continue
            if other.shape != t.shape:
                problems.append(f"{name!r} is {list(t.shape)} there, {list(other.shape)} in the trained graph")
                continue
            path, _, leaf = name.rpartition(".")
            owner = dst.get_submodule(path) if path else dst
            if leaf in owner._parameters:
                owner._parameters[leaf] = other
            else:
                owner._buffers[leaf] = other
    if problems:
        raise GraphspecError.one(
            "data",
            f"{what}: " + "; ".join(problems[:5]),
            hint="the graphs must use the same node paths for the shared layers (call the same block under the same node name)",
        )


def output_op(graph, output: str) -> str | None:
    """Type name of the op producing ``output`` of ``graph`` (e.g. 'Sigmoid')."""
    node = graph.outputs[output][0]
    op = graph.node(node).get("op")
    return type(op).__name__ if op is not None else None


def latent_shape(graph, what: str) -> tuple[int, ...]:
    """Shape of one example of the only input of ``graph`` (the latent z), all dims known."""
    if len(graph.inputs) != 1:
        raise data_error(f"{what} graph {graph.name!r} must have one input (z); it has {len(graph.inputs)}: {', '.join(graph.inputs)}")
    spec = next(iter(graph.inputs.values()))
    shape = tuple(spec.type.shape)[1:]
    if not all(isinstance(d, int) for d in shape):
        raise data_error(f"{what} graph {graph.name!r}: input {spec.name!r} is [{', '.join(map(str, spec.type.shape))}]; its dims after the batch must be numbers")
    return tuple(int(d) for d in shape)


@contextlib.contextmanager
def seeded(seed: int):
    """Run a block with the global torch RNG seeded, restoring the RNG afterwards."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def kl_per_example(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) summed over the latent dims, one value per example."""
    return -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).flatten(1).sum(1)


# ----------------------------------------------------------------- the task
@register_task
class VAETask(Task, VAESchema):
    """Variational autoencoder: reconstruction + beta * KL, samples from a decoder graph."""

    # ---- setup ----------------------------------------------------------
    def setup(self) -> None:
        cfg, spec = self.cfg, self.spec
        self.graph = spec.graph(self._main_graph(cfg, spec))
        o = cfg.outputs
        if cfg.reconstruction == "bce" and output_op(self.graph, o.recon) != "Sigmoid":
            raise data_error(
                f"train.reconstruction bce needs output {o.recon!r} of graph {self.graph.name!r} in [0, 1], but it comes from {output_op(self.graph, o.recon)}",
                hint="end the decoder with a Sigmoid, or use reconstruction: mse",
            )
        self.data = load_example_splits(self, self.graph, tuple(cfg.data_range))
        self.module = self.compile(self.graph.name, outputs=[o.recon, o.mu, o.logvar])
        self.model = self.add_model("vae", self.module)
        dec_name = self._decoder_graph(cfg, spec, self.graph.name)
        self.decoder = None
        if dec_name is not None:
            dgraph = spec.graph(dec_name)
            self.z_shape = latent_shape(dgraph, "decoder")
            self.decoder = self.compile(dec_name)
            tie_weights(self.module, self.decoder, f"decoder graph {dec_name!r} does not share its weights with graph {self.graph.name!r}")
            self.decoder_graph = dgraph
        self.add_optimizer("main", self.module.parameters())
        self._epoch = 0

    # ---- training -------------------------------------------------------
    def num_train_batches(self) -> int:
        return -(-len(self.data["train"]) // self.cfg.batch_size)

    def has_split(self, split: str) -> bool:
        return len(self.data[split]) > 0

    def train_batches(self, epoch: int, generator: torch.Generator):
        self._epoch = epoch
        return self.batches((self.data["train"],), generator)

    def beta_now(self) -> float:
        w = self.cfg.kl_warmup_epochs
        return self.cfg.beta * (min(1.0, (self._epoch + 1) / w) if w else 1.0)

    def _terms(self, recon: torch.Tensor, x: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(reconstruction, kl) per example."""
        recon, mu, logvar = recon.float(), mu.float(), logvar.float()
        if self.cfg.reconstruction == "bce":
            rec = F.binary_cross_entropy(recon, x, reduction="none").flatten(1).sum(1)
        else:
            rec = (recon - x).pow(2).flatten(1).sum(1)
        return rec, kl_per_example(mu, logvar)

    def train_step(self, batch: tuple) -> dict[str, Any]:
        (x,) = batch
        with self.autocast():
            recon, mu, logvar = self.model(x)
        rec, kl = self._terms(recon, x, mu, logvar)
        rec, kl = rec.mean(), kl.mean()
        loss = rec + self.beta_now() * kl
        self.optimize(loss * self.loss_scale if self.loss_scale != 1.0 else loss)
        return {"loss": loss.detach(), "recon": rec.detach(), "kl": kl.detach()}

    def _sampling_layers(self):
        from graphspec.backends.torch_modules import Reparameterize

        return [m for m in self.module.modules() if isinstance(m, Reparameterize)]

    @torch.no_grad()
    def evaluate(self, split: str) -> dict[str, float]:
        x_all = self.data[split]
        if len(x_all) == 0:
            return {}
        was = self.module.training
        self.module.eval()
        samplers = self._sampling_layers()
        for m in samplers:  # sample z in evaluation too: the metrics estimate the ELBO, not the mean code's loss
            m.train(True)
        bs = self.cfg.eval_batch_size or 4 * self.cfg.batch_size
        rec_sum = kl_sum = 0.0
        k = self.cfg.eval_samples
        try:
            with seeded(1_000_003 + {"val": 1, "test": 2}.get(split, 0)):
                for start in range(0, len(x_all), bs):
                    x = x_all[start : start + bs].to(self.device)
                    for _ in range(k):
                        with self.autocast():
                            recon, mu, logvar = self.module(x)
                        rec, kl = self._terms(recon, x, mu, logvar)
                        rec_sum += float(rec.sum())
                        kl_sum += float(kl.sum())
        finally:
            for m in samplers:
                m.train(False)
            self.module.train(was)
        n = len(x_all) * k
        rec, kl = rec_sum / n, kl_sum / n
        out = {"loss": rec + self.cfg.beta * kl, "recon": rec, "kl": kl}
        if self.cfg.reconstruction == "bce":
            out["neg_elbo"] = rec + kl
        return out

    # ---- artifacts ------------------------------------------------------
    def _image_shape(self) -> tuple[int, ...]:
        from graphspec.train.grids import image_shape_for

        return image_shape_for(self.data["test"].shape[1:], self.cfg.grid.image_shape)

    @torch.no_grad()
    def reconstruction_images(self, n: int) -> torch.Tensor:
        """Test examples and their reconstructions from the mean code, alternating by row."""
        g = self.cfg.grid
        nrow = g.nrow or max(1, int(math.ceil(math.sqrt(n))))
        pairs = max(1, n // (2 * nrow))
        x = self.data["test"][: pairs * nrow].to(self.device)
        was = self.module.training
        self.module.eval()
        try:
            recon = self.module(x)[0].float()
        finally:
            self.module.train(was)
        shape = self._image_shape()
        rows = []
        for r in range(-(-len(x) // nrow)):
            rows += [x[r * nrow : (r + 1) * nrow], recon[r * nrow : (r + 1) * nrow]]
        return torch.cat(rows).reshape((-1,) + shape).cpu()

    @torch.no_grad()
    def sample_images(self, n: int, seed: int = 0) -> torch.Tensor | None:
        """Decoder outputs for n draws of z ~ N(0, I) (None without a decoder graph)."""
        if self.decoder is None:
            return None
        gen = torch.Generator().manual_seed(seed)
        z = torch.randn((n,) + self.z_shape, generator=gen).to(self.device)
        was = self.decoder.training
        self.decoder.eval()
        try:
            out = self.decoder(z)
        finally:
            self.decoder.train(was)
        out = out[0] if isinstance(out, tuple) else out
        return out.float().reshape((n,) + self._image_shape()).cpu()

    def save_artifacts(self, run_dir) -> list[str]:
        from pathlib import Path

        from graphspec.train.grids import save_grid

        g = self.cfg.grid
        vr = tuple(self.cfg.data_range)
        names = [save_grid(Path(run_dir) / "reconstructions.png", self.reconstruction_images(g.samples), nrow=g.nrow, scale=g.scale, value_range=vr)]
        samples = self.sample_images(g.samples, seed=self.cfg.seed)
        if samples is not None:
            names.append(save_grid(Path(run_dir) / "samples.png", samples, nrow=g.nrow, scale=g.scale, value_range=vr))
        return names
