"""Training throughput: clips/s of a few optimiser steps for each model, data loading alone, and
peak memory, on this machine (CPU, or the GPU when there is one).

    python benchmarks/train_speed.py data/grid_s1 --steps 5 --batch-size 8
    python benchmarks/train_speed.py data/grid_s1 --steps 50 --batch-size 64 --device-bank   # on a GPU

``--device-bank`` also measures the clips held on the device as uint8 and augmented there
(``--data.device_cache true``): the bank's batches alone, and LipNet's steps fed by them end to end.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import time

import torch

from lipread.data import LipreadDataModule
from lipread.module import LipreadModule


def bank_rows(dm: LipreadDataModule, device: str, args, step) -> list[tuple[str, float]]:
    """Clips/s of the on-device bank's augmented batches, alone and feeding ``step``."""
    from lipread.device_bank import DeviceBatches, DeviceClipBank

    t = time.perf_counter()
    bank = DeviceClipBank(dm.splits["train"], device=device)
    print(
        f"bank of {len(bank)} clips: {bank.nbytes / 1e9:.2f} GB on {device}, built in {time.perf_counter() - t:.1f} s"
    )
    rows = []
    for name, work in (
        ("device bank batches alone (crop + flip + time masks)", None),
        ("lipnet step fed by the bank", step),
    ):
        epochs = DeviceBatches(bank, args.batch_size)
        batches = (
            batch for _ in range(args.steps + 1) for batch in epochs
        )  # epochs on end: a small bank has few batches
        count, t = 0, None
        for i, batch in enumerate(batches):
            if i == 1:  # the first batch warms up
                if device == "cuda":
                    torch.cuda.synchronize()
                t = time.perf_counter()
            if work is not None:
                work(batch)
            count += len(batch) if i else 0
            if i == args.steps:
                break
        if device == "cuda":
            torch.cuda.synchronize()
        rows.append((name, count / (time.perf_counter() - t)))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset")
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--device-bank", action="store_true", help="also time the on-device clip bank")
    args = parser.parse_args()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    dm = LipreadDataModule(root=args.dataset, batch_size=args.batch_size, num_workers=args.workers, drop_invalid=True)
    dm.setup()
    loader = dm.train_dataloader()
    batches, t = [], time.perf_counter()
    while len(batches) < args.steps + 1:  # epochs on end: a small dataset has few batches
        for batch in loader:
            batches.append(batch)
            if len(batches) == args.steps + 1:
                break
    load_rate = sum(len(b) for b in batches) / (time.perf_counter() - t)
    rows = [(f"data loading alone (decode + augment, {args.workers} workers)", load_rate)]
    for arch in ("lipnet", "conformer"):
        module = LipreadModule(arch=arch).to(device)
        optimiser = torch.optim.AdamW(module.parameters(), lr=1e-4)
        autocast = torch.autocast(device, dtype=torch.bfloat16, enabled=device == "cuda")

        def step(batch):
            batch = batch.to(device)
            with autocast:
                loss, _ = module._loss(batch)
            loss.backward()
            optimiser.step()
            optimiser.zero_grad()

        step(batches[0])  # warm-up
        if device == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        for batch in batches[1:]:
            step(batch)
        if device == "cuda":
            torch.cuda.synchronize()
        rows.append((f"{arch} training step", sum(len(b) for b in batches[1:]) / (time.perf_counter() - t)))
        if args.device_bank and arch == "lipnet":
            rows += bank_rows(dm, device, args, step)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"\n{device}: {torch.cuda.get_device_name() if device == 'cuda' else platform.machine()}, {os.cpu_count()} cores, batch {args.batch_size}"
    )
    print("| what | clips/s |\n|---|---:|")
    for name, rate in rows:
        print(f"| {name} | {rate:.1f} |")
    print(f"| peak resident memory (host) | {peak:.0f} MiB |")
    if device == "cuda":
        print(f"| peak GPU memory | {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB |")


if __name__ == "__main__":
    main()
