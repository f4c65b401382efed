"""Compiled spec vs hand-written PyTorch: forward latency and build time, side by side.

    python tools/bench_compile.py            # ResNet-18 and the zoo MLP, batch 1, 2 threads
    python tools/bench_compile.py --json     # one JSON document

Forward latency: the module compiled from the zoo spec (graphspec.load +
to_torch) and a hand-written module of the same architecture (ResNet-18 as
torchvision writes it; the zoo MLP as a plain nn.Module) carry the same weights
(the hand-written one loads the compiled state_dict with strict=True, and the
outputs are checked equal). Eval mode, no_grad, torch.set_num_threads(2). After
a warmup, samples alternate between the two modules (the order flips every
round) so that drift in machine load hits both; each sample times a run of
calls sized to last about 20 ms; the reported figure is the median per call.
Targets: compiled / hand-written <= 1.03.

Build time: graphspec.load("resnet18") + to_torch() vs constructing the
hand-written ResNet-18, interleaved, median of several builds in one warm
process (the first, cold load is reported apart: it imports and warms the op
registry and pydantic). Target ratio <= 1.3; the split between parsing and
analysis (load) and module construction (to_torch) is printed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import graphspec  # noqa: E402


# ---------------------------------------------------------------- hand-written models


class BasicBlock(nn.Module):
    """torchvision.models.resnet.BasicBlock, verbatim in substance."""

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x
        out = self.conv1(x)
        out = self.bn1(out)
        out = self.relu(out)
        out = self.conv2(out)
        out = self.bn2(out)
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        out = self.relu(out)
        return out


class ResNet18(nn.Module):
    """torchvision.models.resnet18's structure, names and initialisation."""

    def __init__(self, num_classes: int = 1000):
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(64, 2)
        self.layer2 = self._make_layer(128, 2, stride=2)
        self.layer3 = self._make_layer(256, 2, stride=2)
        self.layer4 = self._make_layer(512, 2, stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    def _make_layer(self, planes: int, blocks: int, stride: int = 1) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(planes),
            )
        layers = [BasicBlock(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes
        layers += [BasicBlock(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x)
        x = self.bn1(x)
        x = self.relu(x)
        x = self.maxpool(x)
        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        x = self.layer4(x)
        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        x = self.fc(x)
        return x


class Dense(nn.Module):
    def __init__(self, n_in: int, n_out: int, p: float):
        super().__init__()
        self.fc = nn.Linear(n_in, n_out)
        self.act = nn.ReLU()
        self.drop = nn.Dropout(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.act(self.fc(x)))


class MLP(nn.Module):
    """The zoo's mlp.yaml by hand: 784 -> 256 -> 256 -> 10, ReLU and dropout."""

    def __init__(self, features: int = 784, hidden: int = 256, depth: int = 2, classes: int = 10, p: float = 0.2):
        super().__init__()
        self.hidden = nn.Sequential(*[Dense(features if i == 0 else hidden, hidden, p) for i in range(depth)])
        self.head = nn.Linear(hidden, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.hidden(x))


# ---------------------------------------------------------------- timing


def _calls_per_sample(fn, x, target_s: float = 0.02) -> int:
    t0 = time.perf_counter()
    fn(x)
    dt = max(time.perf_counter() - t0, 1e-6)
    return max(1, min(2000, int(target_s / dt)))


def compare_latency(compiled: nn.Module, hand: nn.Module, x: torch.Tensor, rounds: int, warmup: int) -> dict:
    with torch.no_grad():
        for _ in range(warmup):
            compiled(x)
            hand(x)
        n = max(_calls_per_sample(compiled, x), _calls_per_sample(hand, x))
        samples: dict[str, list[float]] = {"compiled": [], "hand": []}
        cpu: dict[str, list[float]] = {"compiled": [], "hand": []}
        pair = [("compiled", compiled), ("hand", hand)]
        for r in range(rounds):
            for name, m in pair if r % 2 == 0 else pair[::-1]:
                c0 = time.process_time()
                t0 = time.perf_counter()
                for _ in range(n):
                    m(x)
                samples[name].append((time.perf_counter() - t0) / n)
                cpu[name].append((time.process_time() - c0) / n)
    med = {k: statistics.median(v) for k, v in samples.items()}
    cpu_med = {k: statistics.median(v) for k, v in cpu.items()}
    # per-round ratios: robust to load drift between rounds
    ratios = [c / h for c, h in zip(samples["compiled"], samples["hand"])]
    return {
        "calls_per_sample": n,
        "rounds": rounds,
        "compiled_ms": med["compiled"] * 1e3,
        "hand_ms": med["hand"] * 1e3,
        "ratio": med["compiled"] / med["hand"],
        "ratio_of_pairs_median": statistics.median(ratios),
        "compiled_min_ms": min(samples["compiled"]) * 1e3,
        "hand_min_ms": min(samples["hand"]) * 1e3,
        "ratio_of_minima": min(samples["compiled"]) / min(samples["hand"]),
        # CPU time of this process per call: unaffected by waiting for a core on a busy machine
        "compiled_cpu_ms": cpu_med["compiled"] * 1e3,
        "hand_cpu_ms": cpu_med["hand"] * 1e3,
        "cpu_ratio": cpu_med["compiled"] / cpu_med["hand"],
        "compiled_iqr_ms": _iqr(samples["compiled"]) * 1e3,
        "hand_iqr_ms": _iqr(samples["hand"]) * 1e3,
    }


def _iqr(v: list[float]) -> float:
    q = statistics.quantiles(v, n=4)
    return q[2] - q[0]


def build_times(repeats: int) -> dict:
    t0 = time.perf_counter()
    spec = graphspec.load("resnet18")
    t1 = time.perf_counter()
    spec.to_torch()
    t2 = time.perf_counter()
    cold = {"load_s": t1 - t0, "to_torch_s": t2 - t1}
    ResNet18()  # warm the hand-written path too
    load, to_torch, yaml_total, hand = [], [], [], []
    for r in range(repeats):
        order = ("yaml", "hand") if r % 2 == 0 else ("hand", "yaml")
        for which in order:
            if which == "yaml":
                a = time.perf_counter()
                spec = graphspec.load("resnet18")
                b = time.perf_counter()
                spec.to_torch()
                c = time.perf_counter()
                load.append(b - a)
                to_torch.append(c - b)
                yaml_total.append(c - a)
            else:
                a = time.perf_counter()
                ResNet18()
                hand.append(time.perf_counter() - a)
    med = statistics.median
    return {
        "repeats": repeats,
        "cold_first_load_s": cold["load_s"],
        "cold_first_to_torch_s": cold["to_torch_s"],
        "load_s": med(load),
        "to_torch_s": med(to_torch),
        "yaml_total_s": med(yaml_total),
        "hand_s": med(hand),
        "ratio": med(yaml_total) / med(hand),
        "to_torch_only_ratio": med(to_torch) / med(hand),
    }


# ---------------------------------------------------------------- main


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=41, help="interleaved samples per model (odd: a clean median)")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--build-repeats", type=int, default=9)
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    report: dict = {"torch": torch.__version__, "threads": torch.get_num_threads(), "loadavg_before": os.getloadavg()}
    if not args.json:
        print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")

    cases = []
    spec = graphspec.load("resnet18")
    compiled = spec.to_torch().eval()
    hand = ResNet18().eval()
    hand.load_state_dict(compiled.state_dict(), strict=True)
    cases.append(("resnet18", compiled, hand, torch.randn(1, 3, 224, 224)))
    spec = graphspec.load("mlp")
    compiled = spec.to_torch().eval()
    hand = MLP().eval()
    hand.load_state_dict(compiled.state_dict(), strict=True)
    cases.append(("mlp", compiled, hand, torch.randn(1, 784)))

    report["latency"] = {}
    for name, compiled, hand, x in cases:
        with torch.no_grad():
            diff = (compiled(x) - hand(x)).abs().max().item()
        result = compare_latency(compiled, hand, x, args.rounds, args.warmup)
        result["max_abs_diff"] = diff
        report["latency"][name] = result
        if not args.json:
            print(
                f"{name:9s} batch 1: compiled {result['compiled_ms']:.4f} ms, hand-written {result['hand_ms']:.4f} ms (medians): "
                f"ratio {result['ratio']:.3f}\n"
                f"{'':9s} median of per-round ratios {result['ratio_of_pairs_median']:.3f}, ratio of minima {result['ratio_of_minima']:.3f}, "
                f"CPU-time ratio {result['cpu_ratio']:.3f} ({result['compiled_cpu_ms']:.4f} / {result['hand_cpu_ms']:.4f} ms CPU per call)\n"
                f"{'':9s} IQR {result['compiled_iqr_ms']:.4f} / {result['hand_iqr_ms']:.4f} ms; {result['calls_per_sample']} calls per sample, "
                f"{result['rounds']} rounds; outputs max abs diff {diff:.2g}",
                flush=True,
            )
    build = build_times(args.build_repeats)
    report["build"] = build
    report["loadavg_after"] = os.getloadavg()
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(
            f"build resnet18: load {build['load_s'] * 1e3:.1f} ms + to_torch {build['to_torch_s'] * 1e3:.1f} ms "
            f"= {build['yaml_total_s'] * 1e3:.1f} ms vs hand-written {build['hand_s'] * 1e3:.1f} ms: ratio {build['ratio']:.3f} "
            f"(to_torch alone {build['to_torch_only_ratio']:.3f}); cold first load {build['cold_first_load_s'] * 1e3:.0f} ms "
            f"+ to_torch {build['cold_first_to_torch_s'] * 1e3:.0f} ms"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
