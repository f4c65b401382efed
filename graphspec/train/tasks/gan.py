"""Task ``gan``: a generator and a discriminator, two graphs of one spec, trained in alternation.

Each role names its graph and may have its own optimizer (and schedule);
without one it uses ``train.optimizer`` (``train.schedule``)::

    train:
      task: gan
      data: digits
      data_range: [-1, 1]          # the generator ends in Tanh
      roles:
        generator:     {graph: generator, optimizer: {name: Adam, lr: 0.0002, betas: [0.5, 0.999]}}
        discriminator: {graph: discriminator, optimizer: {name: Adam, lr: 0.0002, betas: [0.5, 0.999]}, steps: 1}

Per batch of real examples: ``discriminator.steps`` discriminator updates on
real vs. generated examples (labels 1 - label_smoothing and 0), then
``generator.steps`` generator updates. ``gan_loss: non_saturating`` (default)
trains the generator to maximise log D(G(z)); ``minimax`` minimises
log(1 - D(G(z))). The discriminator may end in logits (recommended) or a
Sigmoid (detected from its output op). The latent z has the shape of the
generator's input (without the batch dim), drawn from N(0, I).

Validation/test metrics (from a fixed z, the same every epoch): ``d_loss``,
``g_loss``, ``d_real``/``d_fake`` (mean D probability on real/generated
examples) and ``mmd``, the squared maximum mean discrepancy (Gaussian
kernels at 0.5, 1 and 2 times the median distance between real examples)
between ``eval_samples`` generated and the split's real examples: lower is
closer. ``best.safetensors`` follows ``val_mmd`` unless ``best_metric`` says
otherwise. With ``judge`` (a trained classifier spec and its weights), also
``class_coverage`` (classes taking at least ``judge.min_share`` of the
generated examples), ``min_class_share`` and ``mean_confidence`` (mean top-class
softmax probability). A sample grid from a fixed z is written every
``grid.every`` epochs to ``samples/epoch_NNNN.png``, and ``samples.png`` at the end.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from graphspec.config.tasks import GANSchema, JudgeConfig
from graphspec.train.tasks.base import Task, data_error, register_task
from graphspec.train.tasks.vae import latent_shape, load_example_splits, output_op


def _bce(out: torch.Tensor, target: float, logits: bool) -> torch.Tensor:
    out = out.float().flatten()
    t = torch.full_like(out, target)
    if logits:
        return F.binary_cross_entropy_with_logits(out, t)
    return F.binary_cross_entropy(out.clamp(1e-7, 1 - 1e-7), t)


def mmd2(x: torch.Tensor, y: torch.Tensor, scale: float) -> float:
    """Unbiased squared MMD between samples x [n, d] and y [m, d], Gaussian kernels at 0.5/1/2 x ``scale``.

    >>> g = torch.Generator().manual_seed(0)
    >>> a, b = torch.randn(200, 4, generator=g), torch.randn(200, 4, generator=g)
    >>> abs(mmd2(a, b, 2.0)) < 0.02, mmd2(a, b + 3, 2.0) > 0.5
    (True, True)
    """
    x, y = x.double().flatten(1), y.double().flatten(1)
    n, m = len(x), len(y)

    def k(a, b):
        d2 = torch.cdist(a, b).pow(2)
        return sum(torch.exp(-d2 / (2 * (s * scale) ** 2)) for s in (0.5, 1.0, 2.0))

    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    sxx = (kxx.sum() - kxx.diagonal().sum()) / (n * (n - 1))
    syy = (kyy.sum() - kyy.diagonal().sum()) / (m * (m - 1))
    return float(sxx + syy - 2 * kxy.mean())


@register_task
class GANTask(Task, GANSchema):
    """Generative adversarial network: generator and discriminator graphs, an optimizer each."""

    # ---- setup ----------------------------------------------------------
    def setup(self) -> None:
        cfg, spec = self.cfg, self.spec
        r = cfg.roles
        self.g_graph = spec.graph(r.generator.graph or "generator")
        self.d_graph = spec.graph(r.discriminator.graph or "discriminator")
        self.g_out = r.generator.output or next(iter(self.g_graph.outputs))
        self.d_out = r.discriminator.output or next(iter(self.d_graph.outputs))
        self.z_shape = latent_shape(self.g_graph, "generator")
        if len(self.d_graph.inputs) != 1:
            raise data_error(f"discriminator graph {self.d_graph.name!r} must have one input; it has {len(self.d_graph.inputs)}")
        self.data = load_example_splits(self, self.d_graph, tuple(cfg.data_range))
        g_type, d_in = self.g_graph.output_type(self.g_out), next(iter(self.d_graph.inputs.values())).type
        if [str(d) for d in g_type.shape[1:]] != [str(d) for d in d_in.shape[1:]]:
            raise data_error(
                f"the generator's output {self.g_out!r} is [{', '.join(map(str, g_type.shape))}] but the discriminator's input {d_in!r} is "
                f"[{', '.join(map(str, d_in.shape))}]; they must agree after the batch dim"
            )
        self.d_logits = output_op(self.d_graph, self.d_out) != "Sigmoid"
        self.G_module = self.compile(self.g_graph.name, outputs=[self.g_out])
        self.D_module = self.compile(self.d_graph.name, outputs=[self.d_out])
        shared = set(self.G_module.state_dict()) & set(self.D_module.state_dict())
        if shared:
            raise data_error(
                f"generator and discriminator graphs share node paths with weights: {', '.join(sorted(shared)[:5])}",
                hint="give the two networks different node names (e.g. one Sequential called G and one called D)",
            )
        self.ema = r.generator.ema
        self._ema_steps = 0
        self._g_params = {n for n, _ in self.G_module.named_parameters()}
        if self.ema is not None:
            # the average is what samples, metrics and the saved "generator" weights use;
            # the trained weights travel in the task state (for resume)
            self.G_train = self.G_module
            self.G = self.add_model("generator_train", self.G_train, save=False)
            self.G_module = self.compile(self.g_graph.name, outputs=[self.g_out])
            self.G_module.load_state_dict(self.G_train.state_dict())
            for p in self.G_module.parameters():
                p.requires_grad_(False)
            self.models["generator"] = self.G_module
        else:
            self.G_train = self.G_module
            self.G = self.add_model("generator", self.G_module)
        self.D = self.add_model("discriminator", self.D_module)
        self.d_has_bn = any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in self.D_module.modules())
        self.add_optimizer("generator", self.G_train.parameters(), r.generator.optimizer, r.generator.schedule)
        self.add_optimizer("discriminator", self.D_module.parameters(), r.discriminator.optimizer, r.discriminator.schedule)
        self._gen = None
        self._real_scale = None
        self._judge = None
        self._fixed_z = torch.randn((cfg.grid.samples,) + self.z_shape, generator=torch.Generator().manual_seed(cfg.seed + 7)).to(self.device)
        if cfg.judge is not None:
            self._judge = self._load_judge(cfg.judge)

    def _load_judge(self, jc: JudgeConfig):
        import graphspec
        from graphspec.train import checkpoint as ck
        from graphspec.train.data import resolve_path

        spec_path = jc.spec
        if self.ctx.spec_dir is not None and (Path(self.ctx.spec_dir) / spec_path).exists():
            spec_path = str(Path(self.ctx.spec_dir) / spec_path)
        jspec = graphspec.load(spec_path)
        graph = jspec.graph(jc.graph) if jc.graph or len(jspec.graphs) > 1 else jspec.graph()
        out = jc.output or next(iter(graph.outputs))
        module = jspec.to_torch(graph.name, outputs=[out]).to(self.device)
        weights, _meta = ck.load_weights(resolve_path(jc.weights, self.ctx.spec_dir))
        missing = sorted(set(module.state_dict()) - set(weights))
        if missing:
            raise data_error(f"judge weights {jc.weights!r} do not fit spec {jspec.name!r}: missing {', '.join(missing[:5])}")
        module.load_state_dict({k: weights[k] for k in module.state_dict()}, strict=True)
        module.eval()
        for p in module.parameters():
            p.requires_grad_(False)
        itype = next(iter(graph.inputs.values())).type
        shape = tuple(itype.shape)[1:]
        if not all(isinstance(d, int) for d in shape) or math.prod(shape) != math.prod(self.data["test"].shape[1:]):
            raise data_error(f"judge input [{', '.join(map(str, itype.shape))}] does not hold one generated example of shape {list(self.data['test'].shape[1:])}")
        return module, tuple(int(d) for d in shape)

    # ---- training -------------------------------------------------------
    def _drop_last(self) -> bool:
        return len(self.data["train"]) >= self.cfg.batch_size

    def num_train_batches(self) -> int:
        n, bs = len(self.data["train"]), self.cfg.batch_size
        return n // bs if self._drop_last() else -(-n // bs)

    def has_split(self, split: str) -> bool:
        return len(self.data[split]) > 0

    def train_batches(self, epoch: int, generator: torch.Generator):
        self._gen = generator  # z draws come from the epoch's generator: a resumed run draws the same
        return self.batches((self.data["train"],), generator, drop_last=self._drop_last())

    def _z(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.randn((n,) + self.z_shape, generator=generator if generator is not None else self._gen).to(self.device)

    def _d(self, real: torch.Tensor, fake: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """D's outputs on real and fake examples (one concatenated call unless D uses BatchNorm)."""
        if self.d_has_bn and not self.ctx.distributed:
            return self.D(real), self.D(fake)
        out = self.D(torch.cat([real, fake]))
        return out[: len(real)], out[len(real) :]

    def train_step(self, batch: tuple) -> dict[str, Any]:
        (x,) = batch
        n = len(x)
        scale = self.loss_scale
        roles = self.cfg.roles
        real_t = 1.0 - self.cfg.label_smoothing
        for _ in range(roles.discriminator.steps):
            with torch.no_grad(), self.autocast():
                fake = self.G(self._z(n))
            with self.autocast():
                d_real, d_fake = self._d(x, fake.to(x.dtype))
            d_loss = _bce(d_real, real_t, self.d_logits) + _bce(d_fake, 0.0, self.d_logits)
            self.optimize(d_loss * scale if scale != 1.0 else d_loss, name="discriminator")
        freeze = not self.ctx.distributed  # DDP expects a gradient for every parameter it wraps
        for p in self.D_module.parameters():
            p.requires_grad_(not freeze)
        try:
            for _ in range(roles.generator.steps):
                with self.autocast():
                    out = self.D(self.G(self._z(n)))
                if self.cfg.gan_loss == "non_saturating":
                    g_loss = _bce(out, 1.0, self.d_logits)
                else:
                    g_loss = -_bce(out, 0.0, self.d_logits)
                self.optimize(g_loss * scale if scale != 1.0 else g_loss, name="generator")
                if self.ema is not None:
                    self._ema_update()
        finally:
            for p in self.D_module.parameters():
                p.requires_grad_(True)
        prob = torch.sigmoid if self.d_logits else (lambda t: t)
        return {
            "loss": (d_loss + g_loss).detach(),
            "d_loss": d_loss.detach(),
            "g_loss": g_loss.detach(),
            "d_real": prob(d_real.detach().float()).mean(),
            "d_fake": prob(d_fake.detach().float()).mean(),
        }

    @torch.no_grad()
    def _ema_update(self) -> None:
        self._ema_steps += 1
        t = self._ema_steps
        d = min(self.ema, (1 + t) / (10 + t))  # warm-up: early averages do not drag the initial weights along
        avg = self.G_module.state_dict()
        for k, v in self.G_train.state_dict().items():
            if k in self._g_params:
                avg[k].mul_(d).add_(v, alpha=1 - d)
            else:  # BatchNorm statistics and counters follow the trained network
                avg[k].copy_(v)

    def extra_state(self) -> dict[str, Any]:
        if self.ema is None:
            return {}
        return {"generator_train": {k: v.detach().cpu().clone() for k, v in self.G_train.state_dict().items()}, "ema_steps": self._ema_steps}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        if self.ema is not None and state.get("generator_train") is not None:
            self.G_train.load_state_dict(state["generator_train"])
            self._ema_steps = int(state.get("ema_steps", 0))

    # ---- evaluation -----------------------------------------------------
    @torch.no_grad()
    def generate(self, n: int, seed: int = 0, batch: int = 1024) -> torch.Tensor:
        """n generated examples (generator in eval mode) from a seeded z, on the CPU."""
        gen = torch.Generator().manual_seed(seed)
        was = self.G_module.training
        self.G_module.eval()
        try:
            outs = []
            for start in range(0, n, batch):
                outs.append(self.G_module(self._z(min(batch, n - start), gen)).float().cpu())
        finally:
            self.G_module.train(was)
        return torch.cat(outs)

    @torch.no_grad()
    def judge(self, fake: torch.Tensor) -> dict[str, float]:
        """Class coverage and confidence of the judge classifier on generated examples ``fake``."""
        module, shape = self._judge
        jc = self.cfg.judge
        lo, hi = self.cfg.data_range
        jlo, jhi = jc.input_range
        x = (fake - lo) / (hi - lo) * (jhi - jlo) + jlo
        x = x.reshape((len(x),) + shape).to(self.device)
        probs = torch.cat([torch.softmax(module(x[i : i + 1024]).float(), -1) for i in range(0, len(x), 1024)])
        top, cls = probs.max(-1)
        k = probs.shape[-1]
        share = torch.bincount(cls, minlength=k).double() / len(cls)
        return {
            "class_coverage": float((share >= jc.min_share).sum()),
            "min_class_share": float(share.min()),
            "mean_confidence": float(top.mean()),
        }

    @torch.no_grad()
    def evaluate(self, split: str) -> dict[str, float]:
        real = self.data[split]
        if len(real) == 0:
            return {}
        n_fake = self.cfg.eval_samples
        fake = self.generate(n_fake, seed=10_007 + {"val": 1, "test": 2}.get(split, 0))
        was = self.D_module.training
        self.D_module.eval()
        try:
            bs = self.cfg.eval_batch_size or 4 * self.cfg.batch_size
            d_r = torch.cat([self.D_module(real[i : i + bs].to(self.device)).float().flatten().cpu() for i in range(0, len(real), bs)])
            d_f = torch.cat([self.D_module(fake[i : i + bs].to(self.device)).float().flatten().cpu() for i in range(0, len(fake), bs)])
        finally:
            self.D_module.train(was)
        real_t = 1.0 - self.cfg.label_smoothing
        d_loss = float(_bce(d_r, real_t, self.d_logits) + _bce(d_f, 0.0, self.d_logits))
        g_loss = float(_bce(d_f, 1.0, self.d_logits) if self.cfg.gan_loss == "non_saturating" else -_bce(d_f, 0.0, self.d_logits))
        prob = torch.sigmoid if self.d_logits else (lambda t: t)
        flat_real = real.float().flatten(1)
        if self._real_scale is None:
            d = torch.cdist(self.data["val"].float().flatten(1), self.data["val"].float().flatten(1)) if len(self.data["val"]) > 1 else torch.cdist(flat_real, flat_real)
            self._real_scale = float(d[d > 0].median()) if (d > 0).any() else 1.0
        out = {
            "d_loss": d_loss,
            "g_loss": g_loss,
            "d_real": float(prob(d_r).mean()),
            "d_fake": float(prob(d_f).mean()),
            "mmd": mmd2(fake.flatten(1), flat_real, self._real_scale),
        }
        if self._judge is not None:
            out.update(self.judge(self.generate(self.cfg.judge.samples, seed=20_011 + {"val": 1, "test": 2}.get(split, 0))))
        return out

    # ---- artifacts ------------------------------------------------------
    @torch.no_grad()
    def sample_grid_images(self) -> torch.Tensor:
        from graphspec.train.grids import image_shape_for

        was = self.G_module.training
        self.G_module.eval()
        try:
            out = self.G_module(self._fixed_z).float().cpu()
        finally:
            self.G_module.train(was)
        return out.reshape((len(out),) + image_shape_for(out.shape[1:], self.cfg.grid.image_shape))

    def _save_samples(self, path: Path) -> str:
        from graphspec.train.grids import save_grid

        g = self.cfg.grid
        return save_grid(path, self.sample_grid_images(), nrow=g.nrow, scale=g.scale, value_range=tuple(self.cfg.data_range))

    def on_epoch_end(self, epoch: int, metrics: dict[str, float]) -> None:
        super().on_epoch_end(epoch, metrics)
        every = self.cfg.grid.every
        if every and self.ctx.is_main and self.ctx.run_dir is not None and (epoch + 1) % every == 0:
            try:
                self._save_samples(Path(self.ctx.run_dir) / "samples" / f"epoch_{epoch + 1:04d}.png")
            except Exception as exc:  # a figure never fails a run
                self.ctx.log(f"warning: could not write the sample grid: {exc}")

    def save_artifacts(self, run_dir) -> list[str]:
        names = [self._save_samples(Path(run_dir) / "samples.png")]
        if self.cfg.grid.every:
            names.append("samples/")
        return names
