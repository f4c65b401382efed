"""``train:`` models for users' data and fine-tuning (torch-free).

- :class:`TransformsConfig`: ``data.transforms`` of image sources (``images:DIR``,
  ``mnist:DIR``, ``fashion_mnist:DIR``, ``cifar10:DIR``, ``cifar100:DIR``).
- :class:`InitFromConfig`: ``train.init_from`` (start from existing weights).
- :class:`ParamGroupConfig`: ``train.optimizer.param_groups`` (per-group rates).

>>> TransformsConfig.model_validate({"resize": 28, "mean": "auto"}).resize
28
>>> InitFromConfig.model_validate("runs/base").weights
'runs/base'
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from graphspec.diagnostics import FieldError

# data sources read from a local folder: prefix -> what the folder holds
FOLDER_SOURCES = {
    "images": "one folder per class (or train/, val/, test/ folders of class folders)",
    "mnist": "the four MNIST IDX files (*-ubyte or *-ubyte.gz)",
    "fashion_mnist": "the four Fashion-MNIST IDX files (*-ubyte or *-ubyte.gz)",
    "cifar10": "the CIFAR-10 binary version: data_batch_1.bin ... data_batch_5.bin, test_batch.bin",
    "cifar100": "the CIFAR-100 binary version: train.bin, test.bin",
}
IMAGE_KINDS = tuple(FOLDER_SOURCES)

Size = int | tuple[int, int]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)  # schemas built on first use: validate start-up


class TransformsConfig(_Strict):
    """Image transforms: decode/resize (cached), then per batch crop/flip (training split only) and normalize."""

    channels: Literal[1, 3] | None = Field(None, description="1: grayscale, 3: RGB (default: the images' own)")
    resize: Size | None = Field(None, description="[H, W] (or one number) every image is resized to")
    crop: Size | None = Field(None, description="[H, W] crop: random on the training split when random_crop, centered otherwise")
    random_crop: bool = Field(False, description="crop at a random place on the training split")
    padding: int = Field(0, ge=0, le=1024, description="zero padding added before a random crop")
    hflip: bool = Field(False, description="flip horizontally with probability 0.5 (training split only)")
    mean: Literal["auto"] | list[float] | None = Field(None, description="per-channel mean to subtract after scaling to 0..1; auto: computed on the training split")
    std: list[float] | None = Field(None, description="per-channel std to divide by (with mean: auto, computed too)")

    @field_validator("resize", "crop")
    @classmethod
    def _size(cls, v):
        sizes = (v,) if isinstance(v, int) else tuple(v or ())
        if any(not 1 <= s <= 16384 for s in sizes):
            raise ValueError(f"sizes must be 1..16384. Received: {v}")
        return v

    @model_validator(mode="after")
    def _consistent(self):
        if self.random_crop and self.crop is None:
            raise FieldError("random_crop", "random_crop needs crop: [H, W]")
        if self.padding and not self.random_crop:
            raise FieldError("padding", "padding applies to random_crop only")
        if self.std is not None and self.mean in (None, "auto"):
            raise FieldError("std", "std goes with a list of means (mean: auto computes both)")
        if isinstance(self.mean, list) and self.std is not None and len(self.std) != len(self.mean):
            raise FieldError("std", f"std has {len(self.std)} values, mean {len(self.mean)}")
        if self.std is not None and any(s <= 0 for s in self.std):
            raise FieldError("std", "std values must be above 0")
        return self


class InitFromConfig(_Strict):
    """Start from existing weights; ``init_from: PATH`` is short for ``{weights: PATH}``."""

    weights: str = Field(description="a .safetensors file, a torch state_dict file (.pt/.pth, read with weights_only=True) or a run folder runs/NAME (its best weights)")
    map: dict[str, str] = Field(default_factory=dict, description="rename key prefixes of the file: {old_prefix: new_prefix}")
    skip: list[str] = Field(default_factory=list, description="glob patterns of keys (after map) not to load, e.g. 'fc3.*'")
    strict: bool = Field(False, description="every model weight must be loaded and every file key used")

    @model_validator(mode="before")
    @classmethod
    def _short(cls, v):
        return {"weights": v} if isinstance(v, str) else v


class ParamGroupConfig(_Strict):
    """Optimizer options for the parameters whose names match ``params`` (globs); the first match wins."""

    params: str | list[str] = Field(description="glob(s) over parameter names (node path.param), e.g. 'fc*' or 'features.*'")
    lr: float | None = Field(None, gt=0)
    weight_decay: float | None = Field(None, ge=0)
    momentum: float | None = Field(None, ge=0)

    @property
    def patterns(self) -> list[str]:
        return [self.params] if isinstance(self.params, str) else list(self.params)


def folder_kind(source: str) -> str | None:
    """The folder source kind of ``source`` (``images:DIR`` -> ``images``), else None.

    >>> folder_kind("cifar10:data/cifar"), folder_kind("x.npz")
    ('cifar10', None)
    """
    head, sep, _ = source.partition(":")
    return head if sep and head in FOLDER_SOURCES else None
