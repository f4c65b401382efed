"""Supervised tasks: classify, regress and sequence (sequence labels or next-token LM).

- ``classify``: output [batch, classes] logits (or log-probabilities: a graph
  ending in LogSoftmax defaults to NLLLoss), integer targets [N].
- ``sequence``: like classify for a label per sequence; with a target per
  step ([N, T] against an output [batch, T, classes]) it is next-token
  prediction (the char LM over ``text:PATH``), and reports perplexity.
- ``regress``: float targets shaped like the output per example (a [N] target
  fits a [batch, 1] output), MSELoss by default.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, ClassVar

import torch

from graphspec.train.data import Splits, load_splits
from graphspec.config.tasks import ClassifySchema, RegressSchema, SequenceSchema
from graphspec.train.tasks.base import Task, data_error, register_task


class _Supervised(Task):
    kind: ClassVar[str] = "classify"

    def setup(self) -> None:
        spec, cfg = self.spec, self.cfg
        self.graph = spec.graph(cfg.graph) if cfg.graph or len(spec.graphs) == 1 else spec.graph(self._default_graph())
        outs = list(self.graph.outputs)
        self.output = cfg.output or outs[0]
        if self.output not in outs:
            raise data_error(f"train.output {self.output!r} is not an output of graph {self.graph.name!r}; outputs: {', '.join(outs)}")
        self.out_type = self.graph.output_type(self.output)
        self.splits: Splits = load_splits(cfg, self.graph, self.ctx.spec_dir, self.name)
        self.meta = self.splits.meta
        self.per_step = False
        for part in (self.splits.train, self.splits.val, self.splits.test):
            part.target = self.check_target(part.target)
        self.input_names = list(self.graph.inputs)
        module = self.compile(self.graph.name, outputs=[self.output])
        self.module = module
        self.model = self.add_model("model", module)
        self.loss_fn = self.make_loss()
        self.add_optimizer("main", module.parameters())

    def _default_graph(self) -> str:
        return "main" if "main" in self.spec.graphs else next(iter(self.spec.graphs))

    @property
    def default_loss(self) -> str:  # type: ignore[override]
        if self.kind == "regress":
            return "MSELoss"
        node = self.graph.outputs[self.output][0]
        op = self.graph.node(node).get("op")
        return "NLLLoss" if op is not None and type(op).__name__ == "LogSoftmax" else "CrossEntropyLoss"

    # ---- data checks ----------------------------------------------------
    def check_target(self, target: torch.Tensor | None) -> torch.Tensor:
        src = self.cfg.data.source
        out = self.out_type
        if target is None:
            raise data_error(f"data {src!r} has no target; task {self.name!r} needs one")
        if self.kind == "regress":
            want = [d for d in out.shape[1:]]
            got = list(target.shape[1:])
            if target.dim() == 1 and want == [1]:
                target = target[:, None]
                got = [1]
            if len(got) != len(want) or any(isinstance(w, int) and w != g for w, g in zip(want, got)):
                raise data_error(
                    f"data {src!r} gives targets of shape {got} per example, but output {self.output!r} is [{', '.join(map(str, out.shape))}]",
                    hint="the target must have the output's shape without the batch dim",
                )
            if not target.is_floating_point():
                target = target.float()
            return target.float()
        if target.is_floating_point():
            if not torch.all(target == torch.round(target)):
                raise data_error(f"data {src!r} gives non-integer targets; task {self.name!r} needs class numbers", hint="use task: regress for real-valued targets")
        target = target.long()
        classes = out.shape[-1]
        rank_ok = out.rank == 2 and target.dim() == 1
        per_step = out.rank == 3 and target.dim() == 2 and self.kind == "sequence"
        if not (rank_ok or per_step):
            extra = " (per-step targets [N, T] need task: sequence and an output [batch, T, classes])" if target.dim() == 2 else ""
            raise data_error(
                f"data {src!r} gives targets of shape [N{''.join(', ' + str(s) for s in target.shape[1:])}], but output {self.output!r} is "
                f"[{', '.join(map(str, out.shape))}]: task {self.name!r} needs [batch, classes] logits and [N] class numbers{extra}"
            )
        if per_step:
            self.per_step = True
            t_out = out.shape[1]
            if isinstance(t_out, int) and t_out != target.shape[1]:
                raise data_error(f"data {src!r} gives {target.shape[1]} steps per example, but output {self.output!r} has {t_out}")
        if isinstance(classes, int) and len(target):
            lo, hi = int(target.min()), int(target.max())
            ignore = self.cfg.loss.ignore_index if self.cfg.loss is not None else None
            if lo < 0 and lo != ignore or hi >= classes:
                need = self.meta.get("classes", hi + 1)
                raise data_error(
                    f"data {src!r} has class numbers {lo}..{hi} ({need} classes), but output {self.output!r} has {classes} classes "
                    f"([{', '.join(map(str, out.shape))}])",
                    hint=f"set the spec's class count to {need} (e.g. --set params.classes={need})",
                )
        return target

    # ---- training -------------------------------------------------------
    def num_train_batches(self) -> int:
        n, bs = len(self.splits.train), self.cfg.batch_size
        return -(-n // bs)

    @torch.no_grad()
    def class_report(self, split: str, run_dir) -> dict[str, Any]:
        """Per-class accuracy on ``split`` and its confusion matrix as ``confusion_<split>.png`` in ``run_dir``
        (classifiers with one label per example; {} otherwise). Used by ``graphspec evaluate``."""
        data = getattr(self.splits, split)
        classes = self.out_type.shape[-1]
        if self.kind == "regress" or self.per_step or not isinstance(classes, int) or len(data) == 0:
            return {}
        from graphspec.train import confusion

        was = self.module.training
        self.module.eval()
        cm = torch.zeros(classes, classes, dtype=torch.int64)
        bs = self.cfg.eval_batch_size or 4 * self.cfg.batch_size
        for start in range(0, len(data), bs):
            xs = [a[start : start + bs].to(self.device) for a in data.inputs.values()]
            y = data.target[start : start + bs]
            with self.autocast():
                pred = self.module(*xs).float().argmax(-1).cpu()
            ok = (y >= 0) & (y < classes)
            cm += torch.bincount(y[ok] * classes + pred[ok], minlength=classes * classes).reshape(classes, classes)
        self.module.train(was)
        names = self.meta.get("class_names") or [str(i) for i in range(classes)]
        if len(names) != classes:
            names = [str(i) for i in range(classes)]
        out: dict[str, Any] = {"per_class": {"split": split, **confusion.per_class(cm.numpy(), names)}}
        if run_dir is not None:
            path = confusion.plot(cm.numpy(), names, Path(run_dir) / f"confusion_{split}.png", f"{self.spec.name}: {split} split")
            out["confusion_matrix"] = str(path)
        return out

    def save_artifacts(self, run_dir) -> list[str]:
        """``data.json``: class names and encodings the model needs at inference (graphspec/train/data/mappings.py)."""
        from graphspec.train.data import mappings

        return mappings.save(run_dir, self.meta)

    def has_split(self, split: str) -> bool:
        return len(getattr(self.splits, split)) > 0

    def train_batches(self, epoch: int, generator: torch.Generator):
        from graphspec.train.data.lazy import task_batches

        return task_batches(self, self.splits.train.arrays(), generator, epoch, getattr(self.cfg.data, "workers", 0))

    def _loss(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.per_step:
            return self.loss_fn(out.reshape(-1, out.shape[-1]), y.reshape(-1))
        return self.loss_fn(out, y)

    def train_step(self, batch: tuple) -> dict[str, Any]:
        *xs, y = batch
        with self.autocast():
            out = self.model(*xs)
            loss = self._loss(out.float() if out.dtype != torch.float32 else out, y)
        self.optimize(loss * self.loss_scale if self.loss_scale != 1.0 else loss)
        return {"loss": loss.detach()}

    @torch.no_grad()
    def evaluate(self, split: str) -> dict[str, float]:
        data = getattr(self.splits, split)
        if len(data) == 0:
            return {}
        was = self.module.training
        self.module.eval()
        bs = self.cfg.eval_batch_size or 4 * self.cfg.batch_size
        loss_sum = 0.0
        n_items = 0
        correct = 0
        correct5 = 0
        sq = 0.0
        ab = 0.0
        y_sum = 0.0
        y_sq = 0.0
        for start in range(0, len(data), bs):
            xs = [a[start : start + bs].to(self.device) for a in data.inputs.values()]
            y = data.target[start : start + bs].to(self.device)
            with self.autocast():
                out = self.module(*xs)
            out = out.float()
            items = y.numel() if self.kind != "regress" else len(y)
            loss_sum += float(self._loss(out, y)) * items
            n_items += items
            if self.kind == "regress":
                d = out - y
                sq += float((d**2).sum())
                ab += float(d.abs().sum())
                y_sum += float(y.sum())
                y_sq += float((y**2).sum())
            else:
                pred = out.argmax(-1)
                correct += int((pred == y).sum())
                if "top5_accuracy" in self.metric_names:
                    k = min(5, out.shape[-1])
                    correct5 += int((out.topk(k, dim=-1).indices == y.unsqueeze(-1)).any(-1).sum())
        self.module.train(was)
        res: dict[str, float] = {"loss": loss_sum / max(n_items, 1)}
        names = self.metric_names
        if self.kind == "regress":
            count = data.target.numel()
            mse = sq / count
            if "mse" in names:
                res["mse"] = mse
            if "mae" in names:
                res["mae"] = ab / count
            if "rmse" in names:
                res["rmse"] = math.sqrt(mse)
            if "r2" in names:
                var = y_sq / count - (y_sum / count) ** 2
                res["r2"] = 1 - mse / var if var > 0 else float("nan")
        else:
            if "accuracy" in names:
                res["accuracy"] = correct / max(n_items, 1)
            if "top5_accuracy" in names:
                res["top5_accuracy"] = correct5 / max(n_items, 1)
            if "perplexity" in names:
                res["perplexity"] = math.exp(min(res["loss"], 50.0))
        return res


@register_task
class ClassifyTask(_Supervised, ClassifySchema):
    """Classification: logits [batch, classes] against class numbers."""

    kind = "classify"


@register_task
class SequenceTask(_Supervised, SequenceSchema):
    """Sequence classification ([batch, classes] per sequence) or next-token prediction ([batch, T, classes] per step)."""

    kind = "sequence"


@register_task
class RegressTask(_Supervised, RegressSchema):
    """Regression / forecasting: real-valued targets shaped like the output."""

    kind = "regress"
