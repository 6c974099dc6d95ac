"""The networks: encoders, decoders, the autoencoder and the even/odd classifier.

Two encoder families share one interface (uint8-derived float images (B, 1, 28, 28) in,
a latent vector (B, latent) out), so training, checkpoints and the study treat them alike.
The model files know nothing about training.
"""

from __future__ import annotations

import torch
from torch import nn

from engine.config import ArchConfig
from engine.data.deskew import deskew

MLP_HIDDEN = (512, 256)
_LEVELS = 1 << 16  # dropout draws 16-bit random numbers: p is exact to 1/65536


class Dropout(nn.Module):
    """Inverted dropout with cheap random numbers; same contract as `nn.Dropout`.

    On the CPU, `nn.Dropout` draws one Bernoulli sample per element through the
    Mersenne Twister: about 11 ns each, a quarter of an MLP training step at batch 256.
    Here one 64-bit draw is cut into four 16-bit numbers, which makes the mask about
    five times cheaper (a 256 x 512 mask: 1.4 ms with `F.dropout`, 0.25 ms this way,
    timed once with 2 threads). The drop rate is `p` rounded to a
    multiple of 1/65536, and draws come from torch's global generator, so seeding
    with `torch.manual_seed` still makes a run repeatable.
    """

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p
        dropped = round(p * _LEVELS)  # of the 65536 int16 values, the lowest this many drop
        self._threshold = dropped - _LEVELS // 2
        self._scale = 1.0 / (1.0 - dropped / _LEVELS) if dropped < _LEVELS else 0.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self._threshold == -(_LEVELS // 2):
            return x
        n = x.numel()
        words = torch.empty((n + 3) // 4, dtype=torch.int64, device=x.device)
        draws = words.random_(-(2**63), None).view(torch.int16)[:n].view(x.shape)
        return x * (draws >= self._threshold).to(x.dtype).mul_(self._scale)

    def extra_repr(self) -> str:
        return f"p={self.p}"


def build_encoder(cfg: ArchConfig) -> nn.Sequential:
    if cfg.arch == "conv":
        c1, c2 = cfg.width, cfg.width * 2
        return nn.Sequential(
            nn.Conv2d(1, c1, 3, stride=2, padding=1),  # 14x14
            nn.ReLU(),
            nn.Conv2d(c1, c2, 3, stride=2, padding=1),  # 7x7
            nn.ReLU(),
            nn.Flatten(),
            Dropout(cfg.dropout),
            nn.Linear(c2 * 49, cfg.latent),
            nn.ReLU(),
        )
    h1, h2 = MLP_HIDDEN
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(784, h1),
        nn.ReLU(),
        Dropout(cfg.dropout),
        nn.Linear(h1, h2),
        nn.ReLU(),
        Dropout(cfg.dropout),
        nn.Linear(h2, cfg.latent),
        nn.ReLU(),
    )


def build_decoder(cfg: ArchConfig) -> nn.Sequential:
    """Mirror of the encoder; outputs logits, the reconstruction is their sigmoid."""
    if cfg.arch == "conv":
        c1, c2 = cfg.width, cfg.width * 2
        return nn.Sequential(
            nn.Linear(cfg.latent, c2 * 49),
            nn.ReLU(),
            nn.Unflatten(1, (c2, 7, 7)),
            nn.ConvTranspose2d(c2, c1, 4, stride=2, padding=1),  # 14x14
            nn.ReLU(),
            nn.ConvTranspose2d(c1, 1, 4, stride=2, padding=1),  # 28x28
        )
    h1, h2 = MLP_HIDDEN
    return nn.Sequential(
        nn.Linear(cfg.latent, h2),
        nn.ReLU(),
        Dropout(cfg.dropout),
        nn.Linear(h2, h1),
        nn.ReLU(),
        nn.Linear(h1, 784),
        nn.Unflatten(1, (1, 28, 28)),
    )


class Autoencoder(nn.Module):
    """Encoder-decoder trained to reproduce its input (MSE on pixels in [0, 1])."""

    def __init__(self, cfg: ArchConfig) -> None:
        super().__init__()
        self.cfg = cfg.validate()
        self.encoder = build_encoder(cfg)
        self.decoder = build_decoder(cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.decoder(self.encoder(x)))


class Deskew(nn.Module):
    """Shears each input image upright (engine.data.deskew); no weights, so a checkpoint's
    state dict is the same with or without it."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return deskew(x)


class Classifier(nn.Module):
    """[Deskew +] encoder + a small head that outputs one logit: P(odd) = sigmoid(logit)."""

    def __init__(self, cfg: ArchConfig, encoder: nn.Module | None = None) -> None:
        super().__init__()
        self.cfg = cfg.validate()
        self.prepare = Deskew() if cfg.deskew else nn.Identity()
        self.encoder = encoder if encoder is not None else build_encoder(cfg)
        self.head = nn.Sequential(
            nn.Linear(cfg.latent, cfg.head_hidden),
            nn.ReLU(),
            Dropout(cfg.dropout),
            nn.Linear(cfg.head_hidden, 1),
        )

        self.frozen = False

    def set_frozen(self, frozen: bool) -> None:
        """Freeze the encoder: no gradients, and kept in eval mode (no dropout) while the
        head trains, so a frozen encoder computes exactly what it computed when saved."""
        self.frozen = frozen
        for param in self.encoder.parameters():
            param.requires_grad_(not frozen)
        self.train(self.training)

    def train(self, mode: bool = True) -> Classifier:
        super().train(mode)
        if self.frozen:
            self.encoder.eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(self.prepare(x))).squeeze(1)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def training_flops_per_image(model: nn.Module) -> float:
    """Approximate FLOPs of one training step per image (forward + backward ~ 3x forward).

    Counts multiply-adds of Linear and Conv layers on a 28x28 input; used to print the
    achieved GFLOP/s next to the benchmark's timings.
    """
    macs = 0

    def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        nonlocal macs
        if isinstance(module, nn.Linear):
            macs += module.in_features * module.out_features
        elif isinstance(module, nn.Conv2d | nn.ConvTranspose2d):
            kernel = module.kernel_size[0] * module.kernel_size[1]
            spatial = output.shape[-1] * output.shape[-2]
            per_out = module.in_channels * kernel // module.groups
            if isinstance(module, nn.ConvTranspose2d):
                spatial = inputs[0].shape[-1] * inputs[0].shape[-2]
                per_out = module.out_channels * kernel
                macs += spatial * per_out * module.in_channels
                return
            macs += spatial * per_out * module.out_channels

    handles = [m.register_forward_hook(hook) for m in model.modules()]
    was_training = model.training
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, 1, 28, 28))
    model.train(was_training)
    for handle in handles:
        handle.remove()
    return 2.0 * macs * 3.0
