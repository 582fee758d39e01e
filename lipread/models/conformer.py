"""The recipe of current large-vocabulary VSR (Auto-AVSR style): a 3D-conv stem, a ResNet-18
trunk applied per frame, torchaudio's Conformer over time, and a CTC head over characters."""

from __future__ import annotations

import torch
from torch import nn
from torchaudio.models import Conformer

from lipread.models.masking import time_mask, zero_padding


class BasicBlock(nn.Module):
    """ResNet's two-conv residual block."""

    def __init__(self, cin: int, cout: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.shortcut = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + self.shortcut(x))


class ResNetTrunk(nn.Module):
    """ResNet-18's four stages (2 blocks each) and global average pooling: a frame -> a vector."""

    def __init__(self, widths: tuple[int, ...] = (64, 128, 256, 512)):
        super().__init__()
        layers, cin = [], widths[0]
        for i, width in enumerate(widths):
            stride = 1 if i == 0 else 2
            layers += [BasicBlock(cin, width, stride), BasicBlock(width, width)]
            cin = width
        self.layers = nn.Sequential(*layers)
        self.out_features = cin

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x).mean(dim=(2, 3))


class ConformerVSR(nn.Module):
    """Input (B, C, T, H, W) with lengths; output logits (B, T, vocab)."""

    #: The visual front-end's parameter prefixes (see :attr:`LipNet.FRONTEND`).
    FRONTEND = ("stem", "trunk", "project")

    def __init__(
        self,
        in_channels: int = 1,
        vocab_size: int = 29,
        widths: tuple[int, ...] = (64, 128, 256, 512),
        d_model: int = 256,
        num_layers: int = 6,
        num_heads: int = 4,
        ffn_dim: int = 1024,
        kernel_size: int = 31,
        dropout: float = 0.1,
        input_size: int = 88,
    ):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv3d(in_channels, widths[0], (5, 7, 7), (1, 2, 2), (2, 3, 3), bias=False),
            nn.BatchNorm3d(widths[0]),
            nn.ReLU(inplace=True),
            nn.MaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1)),
        )
        self.trunk = ResNetTrunk(widths)
        self.project = nn.Linear(self.trunk.out_features, d_model)
        self.conformer = Conformer(
            input_dim=d_model,
            num_heads=num_heads,
            ffn_dim=ffn_dim,
            num_layers=num_layers,
            depthwise_conv_kernel_size=kernel_size,
            dropout=dropout,
        )
        self.head = nn.Linear(d_model, vocab_size)
        # torchaudio's convolution module does not mask: zero padded steps right before each
        # depthwise convolution so they cannot leak into real frames.
        self._valid: torch.Tensor | None = None
        for layer in self.conformer.conformer_layers:
            layer.conv_module.sequential[2].register_forward_pre_hook(self._mask_padding)

    def _mask_padding(self, module: nn.Module, args: tuple[torch.Tensor]) -> tuple[torch.Tensor]:
        (x,) = args  # (B, C, T)
        return (x * self._valid[:, None, :].to(x.dtype),)

    def forward(self, video: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        x = zero_padding(self.stem(zero_padding(video, lengths)), lengths)  # (B, C, T, H, W)
        b, c, t, h, w = x.shape
        valid = time_mask(lengths, t)
        frames = x.permute(0, 2, 1, 3, 4)[valid]  # only real frames go through the trunk
        features = self.project(self.trunk(frames))
        seq = features.new_zeros(b, t, features.shape[-1])
        seq[valid] = features
        self._valid = valid
        try:
            out, _ = self.conformer(seq, lengths)
        finally:
            self._valid = None
        return self.head(out)
