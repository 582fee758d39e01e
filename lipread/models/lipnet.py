"""LipNet (Assael et al., 2016): a spatiotemporal CNN front-end, a bidirectional GRU, CTC."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from data_prep.contracts import ContractError
from lipread.models.masking import zero_padding


class LipNet(nn.Module):
    """Three 3D-conv blocks (conv, batch-norm, ReLU, spatial max-pool, channel dropout), a
    two-layer bidirectional GRU, and a linear CTC head over characters.

    ``backend="tcn"`` swaps the GRU for temporal convolutions: a bounded receptive field
    (about +-0.3 s) keeps each character's CTC spike near the frames that show it, so forced
    alignment gives usable word timings; a bidirectional GRU may emit a character anywhere.

    Input (B, C, T, H, W) with lengths (B,); output logits (B, T, vocab).
    """

    #: The visual front-end's parameter prefixes: what looks at lips (speaker adaptation's target).
    FRONTEND = ("blocks",)

    def __init__(
        self,
        in_channels: int = 1,
        vocab_size: int = 29,
        channels: tuple[int, int, int] = (32, 64, 96),
        hidden_size: int = 256,
        num_layers: int = 2,
        dropout: float = 0.5,
        input_size: int = 88,
        backend: str = "gru",
        tcn_layers: int = 4,
    ):
        super().__init__()
        if backend not in ("gru", "tcn"):
            raise ContractError(f"backend must be 'gru' or 'tcn', not {backend!r}")
        self.backend = backend
        c1, c2, c3 = channels
        self.blocks = nn.ModuleList(
            [
                _block(in_channels, c1, (3, 5, 5), (1, 2, 2), (1, 2, 2), dropout),
                _block(c1, c2, (3, 5, 5), (1, 1, 1), (1, 2, 2), dropout),
                _block(c2, c3, (3, 3, 3), (1, 1, 1), (1, 1, 1), dropout),
            ]
        )
        side = input_size // 2 // 2 // 2 // 2
        features = c3 * side * side
        if backend == "gru":
            self.gru = nn.GRU(
                features,
                hidden_size,
                num_layers=num_layers,
                batch_first=True,
                bidirectional=True,
                dropout=dropout if num_layers > 1 else 0.0,
            )
        else:
            self.tcn = nn.ModuleList(
                nn.Sequential(
                    nn.Conv1d(features if i == 0 else 2 * hidden_size, 2 * hidden_size, 3, padding=1),
                    nn.BatchNorm1d(2 * hidden_size),
                    nn.ReLU(inplace=True),
                )
                for i in range(tcn_layers)
            )
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(2 * hidden_size, vocab_size)

    def forward(self, video: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.sequence_logits(self.visual_features(video, lengths), lengths)

    def visual_features(self, video: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """The front-end's output (B, T, F): what the sequence model reads, frame by frame (a
        back-end can be retrained on these, cached, without running the front-end again)."""
        x = zero_padding(video, lengths)
        for block in self.blocks:
            x = zero_padding(block(x), lengths)
        b, c, t, h, w = x.shape
        return x.permute(0, 2, 1, 3, 4).reshape(b, t, c * h * w)

    def sequence_logits(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """Logits (B, T, vocab) from front-end features (B, T, F)."""
        t = x.shape[1]
        if self.backend == "tcn":
            x = x.transpose(1, 2)
            for layer in self.tcn:
                x = zero_padding(layer(x), lengths)
            return self.head(self.dropout(x.transpose(1, 2)))
        # The GRU runs in float32 even under mixed precision (cuDNN has no bf16 RNN everywhere).
        with torch.autocast(x.device.type, enabled=False):
            packed = pack_padded_sequence(x.float(), lengths.cpu(), batch_first=True, enforce_sorted=False)
            out, _ = self.gru(packed)
        out, _ = pad_packed_sequence(out, batch_first=True, total_length=t)
        return self.head(self.dropout(out))


def _block(cin, cout, kernel, stride, padding, dropout) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv3d(cin, cout, kernel, stride=stride, padding=padding, bias=False),
        nn.BatchNorm3d(cout),
        nn.ReLU(inplace=True),
        nn.MaxPool3d((1, 2, 2)),
        nn.Dropout3d(dropout),
    )
