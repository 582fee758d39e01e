"""Slim, shareable model files: a folder with ``config.json`` and safetensors weights.

A Lightning checkpoint holds optimiser state and pickled objects (tens of MB, and unpickling is
unsafe for files from strangers); inference needs only the weights, the model's settings and the
data settings it was trained on. ``export`` writes that; ``load`` reads it back (float32).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from lipread.module import LipreadModule

CONFIG = "config.json"
FORMAT = "lipread-model/1"


def export(checkpoint: str | Path, out_dir: str | Path, dtype: torch.dtype = torch.float16, max_shard_mb: float = 15.0) -> Path:
    """Write a checkpoint's weights (``dtype``) and settings to ``out_dir``."""
    ckpt = torch.load(checkpoint, map_location="cpu", weights_only=False)
    return save(ckpt["hyper_parameters"], ckpt.get("lipread", {}), ckpt["state_dict"], out_dir, dtype, max_shard_mb)


def save(hparams: dict, data_info: dict, state_dict: dict, out_dir: str | Path, dtype=torch.float16, max_shard_mb: float = 15.0) -> Path:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tensors = {
        k: (v.to(dtype) if v.is_floating_point() else v).contiguous()
        for k, v in state_dict.items()
        if k.startswith("model.")
    }
    shards: list[dict] = [{}]
    size = 0
    for name, tensor in tensors.items():
        nbytes = tensor.numel() * tensor.element_size()
        if shards[-1] and size + nbytes > max_shard_mb * 2**20:
            shards.append({})
            size = 0
        shards[-1][name] = tensor
        size += nbytes
    files = [f"model-{i + 1:02d}-of-{len(shards):02d}.safetensors" for i in range(len(shards))]
    for shard, name in zip(shards, files):
        save_file(shard, out / name)
    hp = {k: v for k, v in hparams.items() if not k.startswith("_")}
    config = {"format": FORMAT, "hyper_parameters": hp, "data": data_info, "weights": files}
    (out / CONFIG).write_text(json.dumps(config, indent=1))
    return out


def load(path: str | Path, map_location: str | torch.device = "cpu") -> LipreadModule:
    """A model folder (from :func:`export`) or a Lightning ``.ckpt``, ready for inference."""
    path = Path(path)
    if path.is_dir():
        config = json.loads((path / CONFIG).read_text())
        module = LipreadModule(**config["hyper_parameters"])
        state: dict = {}
        for name in config["weights"]:
            state.update(load_file(path / name))
        module.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()}, strict=False)
        module.data_info = config.get("data", {})
    elif path.is_file():
        module = LipreadModule.load_from_checkpoint(path, map_location="cpu", weights_only=False)
    else:
        raise FileNotFoundError(f"no model at {path}: give a model folder (config.json) or a .ckpt file")
    return module.to(map_location).eval()
