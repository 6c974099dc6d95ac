"""Model shapes, architecture settings and the frozen encoder."""

from __future__ import annotations

import pytest
import torch

from engine.config import ArchConfig, ArchError
from engine.learning.models import Autoencoder, Classifier, Dropout, build_encoder, count_parameters
from engine.learning.training import make_classifier

ARCHS = [ArchConfig(arch="conv", latent=12, width=4), ArchConfig(arch="mlp", latent=10)]


@pytest.mark.parametrize("cfg", ARCHS, ids=["conv", "mlp"])
def test_autoencoder_shape_and_range(cfg):
    model = Autoencoder(cfg).eval()
    x = torch.rand(5, 1, 28, 28)
    with torch.no_grad():
        out = model(x)
    assert out.shape == (5, 1, 28, 28)
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0  # sigmoid: pixels in [0, 1]


@pytest.mark.parametrize("cfg", ARCHS, ids=["conv", "mlp"])
def test_encoder_output_is_latent(cfg):
    x = torch.rand(3, 1, 28, 28)
    assert build_encoder(cfg)(x).shape == (3, cfg.latent)
    assert Autoencoder(cfg).encoder(x).shape == (3, cfg.latent)


@pytest.mark.parametrize("cfg", ARCHS, ids=["conv", "mlp"])
def test_classifier_gives_one_logit_per_image(cfg):
    model = Classifier(cfg).eval()
    assert model(torch.rand(7, 1, 28, 28)).shape == (7,)
    assert model(torch.rand(1, 1, 28, 28)).shape == (1,)  # batch of one keeps its dimension


def test_width_changes_conv_but_not_mlp():
    small, wide = ArchConfig(arch="conv", width=4), ArchConfig(arch="conv", width=8)
    assert count_parameters(Autoencoder(small)) < count_parameters(Autoencoder(wide))
    assert count_parameters(Autoencoder(ArchConfig(arch="mlp", width=4))) == count_parameters(
        Autoencoder(ArchConfig(arch="mlp", width=8))
    )


@pytest.mark.parametrize(
    ("changes", "word"),
    [
        ({"arch": "rnn"}, "architecture"),
        ({"latent": 1}, "latent"),
        ({"latent": 2000}, "latent"),
        ({"dropout": 1.0}, "dropout"),
        ({"dropout": -0.1}, "dropout"),
        ({"width": 2}, "width"),
        ({"head_hidden": 0}, "head"),
    ],
)
def test_arch_validation(changes, word):
    cfg = ArchConfig(**changes)
    with pytest.raises(ArchError, match=word):
        cfg.validate()
    with pytest.raises(ArchError):
        Autoencoder(cfg)  # models refuse settings they cannot build
    with pytest.raises(ArchError):
        Classifier(cfg)


def test_arch_from_dict():
    cfg = ArchConfig(arch="mlp", latent=32, dropout=0.2)
    assert ArchConfig.from_dict(cfg.to_dict()) == cfg
    assert ArchConfig.from_dict({**cfg.to_dict(), "future_field": 1}) == cfg
    with pytest.raises(ArchError):
        ArchConfig.from_dict({"latent": "many"})
    with pytest.raises(ArchError):
        ArchConfig.from_dict({"arch": "transformer"})


def test_frozen_encoder_has_no_grad_and_stays_in_eval_mode():
    cfg = ArchConfig(arch="conv", latent=12, width=4, dropout=0.5)
    model = make_classifier(cfg, Autoencoder(cfg).encoder, freeze=True)
    model.train()
    assert model.training and model.head.training
    assert not model.encoder.training
    assert all(not m.training for m in model.encoder.modules())
    assert all(not p.requires_grad for p in model.encoder.parameters())
    assert all(p.requires_grad for p in model.head.parameters())

    loss = model(torch.rand(4, 1, 28, 28)).sum()
    loss.backward()
    assert all(p.grad is None for p in model.encoder.parameters())
    assert all(p.grad is not None for p in model.head.parameters())

    # eval mode: dropout off, so the frozen encoder's output is deterministic in train()
    x = torch.rand(4, 1, 28, 28)
    torch.testing.assert_close(model.encoder(x), model.encoder(x))


def test_unfrozen_encoder_trains():
    cfg = ArchConfig(arch="mlp", latent=12, dropout=0.5)
    model = make_classifier(cfg, None, freeze=False)
    model.train()
    assert model.encoder.training
    model(torch.rand(4, 1, 28, 28)).sum().backward()
    assert all(p.grad is not None for p in model.encoder.parameters())


def test_unfreezing_restores_training_mode():
    cfg = ArchConfig(arch="mlp", latent=12)
    model = make_classifier(cfg, None, freeze=True)
    model.set_frozen(False)
    model.train()
    assert model.encoder.training
    assert all(p.requires_grad for p in model.encoder.parameters())


def test_make_classifier_copies_the_encoder():
    cfg = ArchConfig(arch="mlp", latent=12)
    encoder = Autoencoder(cfg).encoder
    model = make_classifier(cfg, encoder, freeze=False)
    first = next(model.encoder.parameters())
    assert first is not next(encoder.parameters())
    torch.testing.assert_close(first, next(encoder.parameters()))
    with torch.no_grad():
        first.add_(1.0)
    assert not torch.equal(first, next(encoder.parameters()))


# ------------------------------------------------------------------------------- dropout


@pytest.mark.parametrize("p", [0.1, 0.5])
def test_dropout_drops_at_rate_p_and_keeps_the_mean(p):
    torch.manual_seed(0)
    x = torch.ones(200_000)
    out = Dropout(p).train()(x)
    dropped = float((out == 0).float().mean())
    assert abs(dropped - p) < 0.005
    assert torch.allclose(out[out != 0], torch.full_like(out[out != 0], 1 / (1 - p)), atol=1e-3)
    assert abs(float(out.mean()) - 1.0) < 0.01


def test_dropout_odd_sizes_and_shapes():
    x = torch.ones(3, 5, 7)  # 105 elements: not a multiple of the four per random word
    out = Dropout(0.3).train()(x)
    assert out.shape == x.shape


def test_dropout_is_identity_in_eval_mode_and_at_zero():
    x = torch.randn(64, 32)
    assert torch.equal(Dropout(0.5).eval()(x), x)
    assert torch.equal(Dropout(0.0).train()(x), x)


def test_dropout_gradient_flows_only_through_kept_units():
    torch.manual_seed(1)
    x = torch.ones(1000, requires_grad=True)
    out = Dropout(0.4).train()(x)
    out.sum().backward()
    assert torch.equal(x.grad, out.detach())  # d(x*scale)/dx = scale: 0 where dropped


def test_dropout_masks_follow_the_global_seed():
    x = torch.ones(4096)
    layer = Dropout(0.2).train()
    torch.manual_seed(7)
    a = layer(x)
    torch.manual_seed(7)
    b = layer(x)
    c = layer(x)
    assert torch.equal(a, b)
    assert not torch.equal(b, c)
