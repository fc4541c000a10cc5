"""The Wav2Lip generator (Prajwal et al., "A Lip Sync Expert Is All You Need", ACM MM 2020).

Layer layout and parameter names match the published checkpoints (Wav2Lip and Wav2Lip-GAN share this
generator), so their `state_dict`s load unchanged. Inputs: mel windows B x 1 x 80 x 16 and faces B x 6 x 96 x 96
(the masked face then the reference face, BGR, in [0, 1]); output: faces B x 3 x 96 x 96 in [0, 1].
This module imports torch at the top: only runner.py imports it, and only when a .pth model is loaded.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from ..errors import InvalidWeightsError

IMAGE_SIZE = 96
MEL_BANDS = 80
MEL_STEP = 16


class Conv2d(nn.Module):
    """Convolution, batch norm, ReLU; `residual` adds the input back before the ReLU."""

    def __init__(self, channels_in: int, channels_out: int, kernel_size: int, stride: int | tuple[int, int],
                 padding: int, residual: bool = False) -> None:
        super().__init__()
        self.conv_block = nn.Sequential(nn.Conv2d(channels_in, channels_out, kernel_size, stride, padding),
                                        nn.BatchNorm2d(channels_out))
        self.act = nn.ReLU()
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv_block(x)
        return self.act(out + x if self.residual else out)


class Conv2dTranspose(nn.Module):
    """Transposed convolution (upsampling), batch norm, ReLU."""

    def __init__(self, channels_in: int, channels_out: int, kernel_size: int, stride: int, padding: int,
                 output_padding: int = 0) -> None:
        super().__init__()
        self.conv_block = nn.Sequential(
            nn.ConvTranspose2d(channels_in, channels_out, kernel_size, stride, padding, output_padding),
            nn.BatchNorm2d(channels_out))
        self.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.conv_block(x))


def _residuals(channels: int, count: int) -> list[nn.Module]:
    return [Conv2d(channels, channels, 3, 1, 1, residual=True) for _ in range(count)]


def _down(channels_in: int, channels_out: int, residuals: int) -> nn.Sequential:
    """Halve the picture (stride 2), then `residuals` residual blocks."""
    return nn.Sequential(Conv2d(channels_in, channels_out, 3, 2, 1), *_residuals(channels_out, residuals))


def _up(channels_in: int, channels_out: int, residuals: int = 2) -> nn.Sequential:
    """Double the picture (transposed stride 2), then `residuals` residual blocks."""
    return nn.Sequential(Conv2dTranspose(channels_in, channels_out, 3, 2, 1, output_padding=1),
                         *_residuals(channels_out, residuals))


def _face_encoder() -> nn.ModuleList:
    return nn.ModuleList([
        nn.Sequential(Conv2d(6, 16, 7, 1, 3)),                                  # 96 x 96
        _down(16, 32, 2),                                                       # 48
        _down(32, 64, 3),                                                       # 24
        _down(64, 128, 2),                                                      # 12
        _down(128, 256, 2),                                                     # 6
        _down(256, 512, 1),                                                     # 3
        nn.Sequential(Conv2d(512, 512, 3, 1, 0), Conv2d(512, 512, 1, 1, 0)),    # 1
    ])


def _audio_encoder() -> nn.Sequential:
    """80 x 16 mel window -> 512 x 1 x 1 embedding."""
    return nn.Sequential(
        Conv2d(1, 32, 3, 1, 1), *_residuals(32, 2),
        Conv2d(32, 64, 3, (3, 1), 1), *_residuals(64, 2),
        Conv2d(64, 128, 3, 3, 1), *_residuals(128, 2),
        Conv2d(128, 256, 3, (3, 2), 1), *_residuals(256, 1),
        Conv2d(256, 512, 3, 1, 0), Conv2d(512, 512, 1, 1, 0),
    )


def _face_decoder() -> nn.ModuleList:
    """Each block's input is the previous output joined with the encoder's features of the same size."""
    return nn.ModuleList([
        nn.Sequential(Conv2d(512, 512, 1, 1, 0)),                                                     # 1
        nn.Sequential(Conv2dTranspose(1024, 512, 3, 1, 0), *_residuals(512, 1)),                      # 3
        _up(1024, 512),                                                                                # 6
        _up(768, 384),                                                                                 # 12
        _up(512, 256),                                                                                 # 24
        _up(320, 128),                                                                                 # 48
        _up(160, 64),                                                                                  # 96
    ])


class Wav2Lip(nn.Module):
    """The generator: a face encoder, an audio encoder and a decoder joined by skip connections."""

    def __init__(self) -> None:
        super().__init__()
        self.face_encoder_blocks = _face_encoder()
        self.audio_encoder = _audio_encoder()
        self.face_decoder_blocks = _face_decoder()
        self.output_block = nn.Sequential(Conv2d(80, 32, 3, 1, 1), nn.Conv2d(32, 3, 1, 1, 0), nn.Sigmoid())

    def forward(self, mel: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
        """mel B x 1 x 80 x 16, faces B x 6 x 96 x 96 -> faces B x 3 x 96 x 96."""
        features = []
        x = faces
        for block in self.face_encoder_blocks:
            x = block(x)
            features.append(x)
        x = self.audio_encoder(mel)
        for block in self.face_decoder_blocks:
            x = torch.cat((block(x), features.pop()), dim=1)
        return self.output_block(x)


def load_wav2lip(checkpoint: Mapping[str, Any], name: str) -> Wav2Lip:
    """A Wav2Lip network in eval mode from a loaded checkpoint (`{"state_dict": ...}` or a bare state dict).

    Raises:
        InvalidWeightsError: the checkpoint is not a Wav2Lip generator (its missing and unexpected keys named).
    """
    state = checkpoint.get("state_dict", checkpoint)
    if not isinstance(state, Mapping):
        raise InvalidWeightsError(f"{name} holds no state_dict; give a Wav2Lip or Wav2Lip-GAN checkpoint (.pth)")
    # Checkpoints saved from nn.DataParallel prefix every key with "module."
    state = {key.removeprefix("module."): value for key, value in state.items()}
    model = Wav2Lip()
    expected = set(model.state_dict())
    missing, unexpected = sorted(expected - set(state)), sorted(set(state) - expected)
    if missing or unexpected:
        raise InvalidWeightsError(f"{name} is not a Wav2Lip generator checkpoint: {_key_summary(missing, 'missing')}"
                                  f"; {_key_summary(unexpected, 'unexpected')}; give the 96x96 Wav2Lip or "
                                  "Wav2Lip-GAN generator (not the expert discriminator or another model)")
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:  # right names, wrong shapes
        raise InvalidWeightsError(f"{name} does not fit the Wav2Lip generator: {str(exc).splitlines()[-1].strip()}"
                                  ) from exc
    return model.eval()


def _key_summary(keys: list[str], kind: str, shown: int = 5) -> str:
    if not keys:
        return f"no {kind} keys"
    more = f" and {len(keys) - shown} more" if len(keys) > shown else ""
    return f"{len(keys)} {kind} keys ({', '.join(keys[:shown])}{more})"
