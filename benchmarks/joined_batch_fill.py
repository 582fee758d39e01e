"""How much of each padded training batch is real frames with ``--data.joined_sentences P``: the
joined pairs batched together (what ``lipread train`` does) against the same samples spread over
the batches at random (what it did before). The model's cost grows with the padded frames.

    python benchmarks/joined_batch_fill.py --data data/grid_s1 --train-list configs/splits/s1_train.txt

Prints one row per share: the real share of padded frames each way, and how many times fewer
frames go through the model batched together. Needs no GPU and reads no video.
"""

from __future__ import annotations

import argparse

import torch

from lipread.batching import mean_fill
from lipread.data import LipreadDataModule


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="a dataset folder (lipread prep)")
    parser.add_argument("--train-list", default=None, help="the training ids (default: every utterance)")
    parser.add_argument("--share", type=float, nargs="+", default=[0.3, 0.5], help="joined shares (default: 0.3 0.5)")
    parser.add_argument("--batch-size", type=int, default=16, help="clips a batch (default: 16, the GRID configs')")
    parser.add_argument("--passes", type=int, default=5, help="passes averaged over (default: 5)")
    args = parser.parse_args()
    torch.manual_seed(0)  # the data module seeds its batches from torch's seed: the same draws every run
    print(f"{'share':>5}  {'together':>8}  {'at random':>9}  frames through the model")
    for share in args.share:
        data = LipreadDataModule(args.data, train_list=args.train_list, num_workers=0, batch_size=args.batch_size,
                                 joined_sentences=share)  # fmt: skip
        data.setup()
        sampler = data._own_batches()
        together, spread = [], []  # every pass's batches, as drawn and with the same samples shuffled
        for epoch in range(args.passes):
            batches = sampler.batches(epoch)
            keys = [k for batch in batches for k in batch]
            order = torch.randperm(len(keys), generator=torch.Generator().manual_seed(epoch)).tolist()
            together += batches
            spread += [[keys[i] for i in order[s : s + args.batch_size]] for s in range(0, len(keys), args.batch_size)]
        filled, random_fill = mean_fill(together, sampler.length), mean_fill(spread, sampler.length)
        print(f"{share:5.2f}  {filled:8.1%}  {random_fill:9.1%}  {filled / random_fill:.2f}x fewer together")


if __name__ == "__main__":
    main()
