"""Checkpoints: round trips, what they record, atomic writes and every file they refuse."""

from __future__ import annotations

import ast
import io
import os
from pathlib import Path

import pytest
import torch

import engine.store.checkpoint as checkpoint_module
from engine.config import ArchConfig, TrainConfig
from engine.data.preprocess import PIXEL_SCALE
from engine.errors import PathError
from engine.learning.models import Autoencoder, Classifier
from engine.learning.training import make_classifier
from engine.store.checkpoint import (
    FORMAT,
    CheckpointError,
    file_sha256,
    load_checkpoint,
    save_checkpoint,
)

ROOT = Path(__file__).resolve().parents[1]
ARCH = ArchConfig(arch="conv", latent=8, width=4, head_hidden=8)
X = torch.rand(6, 1, 28, 28, generator=torch.Generator().manual_seed(1))


@pytest.fixture()
def autoencoder() -> Autoencoder:
    torch.manual_seed(0)
    return Autoencoder(ARCH).eval()


@pytest.fixture()
def classifier(autoencoder) -> Classifier:
    torch.manual_seed(1)
    return make_classifier(ARCH, autoencoder.encoder, freeze=False).eval()


@pytest.fixture()
def encoder_file(tmp_path, autoencoder) -> Path:
    path = tmp_path / "encoder.pt"
    save_checkpoint(path, autoencoder, ARCH, kind="encoder", seed=3)
    return path


def _outputs(model: torch.nn.Module) -> torch.Tensor:
    with torch.no_grad():
        return model.eval()(X)


def _raw(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


# ---------------------------------------------------------------------------- round trips


def test_autoencoder_round_trip(tmp_path, autoencoder):
    path = tmp_path / "ae.pt"
    save_checkpoint(path, autoencoder, ARCH)
    loaded = load_checkpoint(path)
    assert loaded.kind == "autoencoder" and loaded.has_decoder
    assert isinstance(loaded.model, Autoencoder) and not loaded.model.training
    assert loaded.arch == ARCH
    torch.testing.assert_close(_outputs(loaded.model), _outputs(autoencoder), rtol=0, atol=0)
    torch.testing.assert_close(loaded.encoder(X), autoencoder.encoder(X), rtol=0, atol=0)


def test_encoder_round_trip(encoder_file, autoencoder):
    loaded = load_checkpoint(encoder_file)
    assert loaded.kind == "encoder" and not loaded.has_decoder
    assert loaded.encoder is loaded.model
    assert _outputs(loaded.model).shape == (6, ARCH.latent)
    torch.testing.assert_close(_outputs(loaded.model), _outputs(autoencoder.encoder))
    keys = set(_raw(encoder_file)["state_dict"])
    assert keys == set(autoencoder.encoder.state_dict())  # the encoder only, no decoder


def test_classifier_round_trip(tmp_path, classifier):
    path = tmp_path / "clf.pt"
    save_checkpoint(path, classifier, ARCH)
    loaded = load_checkpoint(path, expect=("classifier",))
    assert loaded.kind == "classifier" and isinstance(loaded.model, Classifier)
    torch.testing.assert_close(_outputs(loaded.model), _outputs(classifier), rtol=0, atol=0)


def test_mlp_round_trip(tmp_path):
    arch = ArchConfig(arch="mlp", latent=16, dropout=0.3)
    model = Autoencoder(arch).eval()
    path = tmp_path / "mlp.pt"
    save_checkpoint(path, model, arch)
    loaded = load_checkpoint(path)
    assert loaded.arch == arch
    torch.testing.assert_close(_outputs(loaded.model), _outputs(model))


def test_metadata_is_recorded(tmp_path, classifier, encoder_file):
    path = tmp_path / "clf.pt"
    cfg = TrainConfig(epochs=2, lr=0.01, seed=9)
    encoder_sha = file_sha256(encoder_file)
    returned = save_checkpoint(
        path,
        classifier,
        ARCH,
        train_config=cfg.to_dict(),
        metrics={"val_accuracy": 0.75},
        seed=9,
        encoder_sha256=encoder_sha,
        extra={"labels": 100},
    )
    loaded = load_checkpoint(path)
    assert returned == file_sha256(path) == loaded.sha256
    assert loaded.encoder_sha256 == encoder_sha
    assert loaded.arch.to_dict() == ARCH.to_dict()
    assert TrainConfig.from_dict(loaded.train_config) == cfg
    assert loaded.metrics == {"val_accuracy": 0.75}
    assert loaded.seed == 9 and loaded.extra == {"labels": 100}
    assert loaded.versions["torch"] == torch.__version__
    assert {"evenodd_studio", "python"} <= set(loaded.versions)
    assert loaded.created and loaded.path == path
    raw = _raw(path)
    assert raw["format"] == FORMAT
    assert raw["preprocessing"]["pixel_scale"] == PIXEL_SCALE
    assert raw["preprocessing"]["size"] == 28


def test_encoder_only_has_no_lineage(encoder_file):
    assert load_checkpoint(encoder_file).encoder_sha256 is None


def test_saved_tensors_are_detached_copies(tmp_path, autoencoder):
    path = tmp_path / "ae.pt"
    save_checkpoint(path, autoencoder, ARCH)
    with torch.no_grad():
        next(autoencoder.parameters()).add_(1.0)  # later training must not change the file
    loaded = load_checkpoint(path)
    assert not torch.equal(next(loaded.model.parameters()), next(autoencoder.parameters()))


def test_versions_are_plain_strings(encoder_file):
    """torch.__version__ is a TorchVersion, which weights_only loading refuses."""
    versions = load_checkpoint(encoder_file).versions
    assert all(type(value) is str for value in versions.values())


def test_unloadable_metadata_is_refused_when_saving(tmp_path, autoencoder):
    import numpy as np

    path = tmp_path / "ae.pt"
    with pytest.raises(CheckpointError, match="cannot be loaded safely"):
        save_checkpoint(path, autoencoder, ARCH, metrics={"mse": np.float64(0.1)})
    assert _only(tmp_path) == []


# ----------------------------------------------------------------------------- atomic save


def _only(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize("target", ["replace", "fsync"])
def test_failed_write_keeps_previous_file_and_leaves_no_temp(tmp_path, monkeypatch, target):
    path = tmp_path / "encoder.pt"
    first = Autoencoder(ARCH)
    save_checkpoint(path, first, ARCH, kind="encoder")
    good = path.read_bytes()

    def broken(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(checkpoint_module.os, target, broken)
    with pytest.raises(PathError, match="no space left"):
        save_checkpoint(path, Autoencoder(ArchConfig(arch="mlp")), ARCH, kind="encoder")
    monkeypatch.undo()
    assert path.read_bytes() == good
    assert _only(tmp_path) == ["encoder.pt"]
    load_checkpoint(path)  # still loads


def test_failed_serialisation_writes_nothing(tmp_path, monkeypatch, autoencoder):
    def broken(*args, **kwargs):
        raise RuntimeError("serialisation failed")

    monkeypatch.setattr(checkpoint_module.torch, "save", broken)
    with pytest.raises(RuntimeError):
        save_checkpoint(tmp_path / "ae.pt", autoencoder, ARCH)
    assert _only(tmp_path) == []


def test_save_replaces_existing_file(tmp_path, autoencoder):
    path = tmp_path / "ae.pt"
    save_checkpoint(path, Autoencoder(ARCH), ARCH, seed=1)
    save_checkpoint(path, autoencoder, ARCH, seed=2)
    assert load_checkpoint(path).seed == 2
    assert _only(tmp_path) == ["ae.pt"]


def test_save_creates_the_folder(tmp_path, autoencoder):
    path = tmp_path / "a" / "b" / "ae.pt"
    save_checkpoint(path, autoencoder, ARCH)
    assert load_checkpoint(path).kind == "autoencoder"


# ------------------------------------------------------------------------------ rejections


class OpensAFile:
    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self):
        return (open, (str(self.target), "w"))


class RunsAShellCommand:
    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self):
        return (os.system, (f"touch '{self.target}'",))


def _refused(path: Path, *words: str, **kwargs) -> str:
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path, **kwargs)
    message = str(info.value)
    assert message.startswith(path.name)
    assert "Traceback" not in message and "\n" not in message
    for word in words:
        assert word in message
    return message


@pytest.mark.parametrize("evil", [OpensAFile, RunsAShellCommand])
def test_malicious_pickle_is_refused_and_never_runs(tmp_path, evil):
    pwned = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save(evil(pwned), path)
    assert not pwned.exists()  # saving did not run it either
    _refused(path, "not a valid checkpoint", "not run")
    assert not pwned.exists()


def test_malicious_object_inside_a_real_looking_checkpoint(tmp_path, encoder_file):
    pwned = tmp_path / "pwned"
    payload = _raw(encoder_file)
    payload["extra"] = {"note": RunsAShellCommand(pwned)}
    path = tmp_path / "sneaky.pt"
    torch.save(payload, path)
    _refused(path, "not a valid checkpoint")
    assert not pwned.exists()


def test_random_bytes(tmp_path):
    path = tmp_path / "random.pt"
    path.write_bytes(os.urandom(4096))
    _refused(path, "not a valid checkpoint")


def test_empty_file(tmp_path):
    path = tmp_path / "empty.pt"
    path.write_bytes(b"")
    _refused(path)


def test_text_file(tmp_path):
    path = tmp_path / "notes.pt"
    path.write_text("weights: yes please\n")
    _refused(path, "not a valid checkpoint")


def test_truncated_checkpoint(tmp_path, encoder_file):
    data = encoder_file.read_bytes()
    path = tmp_path / "half.pt"
    path.write_bytes(data[: len(data) // 2])
    _refused(path, "not a valid checkpoint")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"width": 8}, "architecture"),  # weights made for another width
        ({"arch": "mlp"}, "architecture"),  # claims the other family
        ({"latent": 0}, "latent"),  # an architecture that cannot exist
    ],
    ids=["other-width", "other-family", "impossible"],
)
def test_checkpoint_whose_arch_does_not_fit_its_weights(tmp_path, encoder_file, change, message):
    payload = _raw(encoder_file)
    payload["arch"] = {**payload["arch"], **change}
    path = tmp_path / "changed.pt"
    torch.save(payload, path)
    _refused(path, message)


def test_checkpoint_with_missing_weight(tmp_path, encoder_file):
    payload = _raw(encoder_file)
    payload["state_dict"].pop(next(iter(payload["state_dict"])))
    path = tmp_path / "missing.pt"
    torch.save(payload, path)
    _refused(path, "architecture")


def test_checkpoint_without_weights(tmp_path, encoder_file):
    payload = _raw(encoder_file)
    del payload["state_dict"]
    path = tmp_path / "noweights.pt"
    torch.save(payload, path)
    _refused(path, "no weights")


def test_wrong_kind(encoder_file):
    _refused(encoder_file, "encoder", "classifier", expect=("classifier",))


def test_unknown_kind(tmp_path, encoder_file):
    payload = _raw(encoder_file)
    payload["kind"] = "decoder"
    path = tmp_path / "kind.pt"
    torch.save(payload, path)
    _refused(path, "decoder")


def test_plain_state_dict_is_not_our_format(tmp_path, autoencoder):
    path = tmp_path / "state.pt"
    torch.save(autoencoder.state_dict(), path)
    _refused(path, "not an Even/Odd Studio checkpoint")


def test_whole_module_pickle_is_refused(tmp_path, autoencoder):
    path = tmp_path / "module.pt"
    torch.save(autoencoder, path)
    _refused(path, "not a valid checkpoint")


def test_future_format_version(tmp_path, encoder_file):
    payload = _raw(encoder_file)
    payload["format_version"] = 99
    path = tmp_path / "future.pt"
    torch.save(payload, path)
    _refused(path, "version 99")


def test_missing_file(tmp_path):
    _refused(tmp_path / "gone.pt", "not found")


def test_folder_instead_of_file(tmp_path):
    (tmp_path / "folder.pt").mkdir()
    _refused(tmp_path / "folder.pt", "is a folder, not a checkpoint file")


def test_refusal_is_a_value_error(tmp_path):
    """The CLI and GUI catch ValueError for a one-line message: it must stay one."""
    assert issubclass(CheckpointError, ValueError)


# ----------------------------------------------------------------------- never unsafe load


def _python_files() -> list[Path]:
    files: list[Path] = []
    for folder in ("engine", "gui"):
        files += sorted((ROOT / folder).rglob("*.py"))
    files.append(ROOT / "main.py")
    return [f for f in files if f.is_file()]


def _is_torch_load(func: ast.expr) -> bool:
    if isinstance(func, ast.Attribute) and func.attr == "load":
        owner = func.value
        if isinstance(owner, ast.Name) and owner.id == "torch":
            return True
        if isinstance(owner, ast.Attribute) and owner.attr == "serialization":
            return True
    return False


def test_every_torch_load_uses_weights_only():
    found = 0
    offenders = []
    for path in _python_files():
        source = path.read_text(encoding="utf-8")
        tree = ast.parse(source, str(path))
        for node in ast.walk(tree):
            imported = isinstance(node, ast.ImportFrom) and node.module in (
                "torch",
                "torch.serialization",
            )
            if imported and any(alias.name == "load" for alias in node.names):
                offenders.append(f"{path.name}:{node.lineno} imports load from torch")
            if isinstance(node, ast.Call) and _is_torch_load(node.func):
                found += 1
                safe = any(
                    kw.arg == "weights_only"
                    and isinstance(kw.value, ast.Constant)
                    and kw.value.value is True
                    for kw in node.keywords
                )
                if not safe:
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
        for banned in ("weights_only=False", "pickle.load", "pickle.loads"):
            if banned in source:
                offenders.append(f"{path.relative_to(ROOT)} contains {banned}")
    assert found >= 1, "the scan should at least see engine/store/checkpoint.py's torch.load"
    assert not offenders, f"unsafe loading: {offenders}"


def test_load_refuses_without_touching_torch_load_fallback(tmp_path, monkeypatch):
    """If weights_only refuses a file there is no second, unsafe attempt."""
    calls = []
    real_load = torch.load

    def spy(*args, **kwargs):
        calls.append(kwargs.get("weights_only"))
        return real_load(*args, **kwargs)

    monkeypatch.setattr(checkpoint_module.torch, "load", spy)
    path = tmp_path / "evil.pt"
    torch.save(OpensAFile(tmp_path / "pwned"), path)
    with pytest.raises(CheckpointError):
        load_checkpoint(path)
    assert calls == [True]
    assert not (tmp_path / "pwned").exists()


def test_loaded_state_is_a_plain_dict(encoder_file):
    raw = torch.load(io.BytesIO(encoder_file.read_bytes()), weights_only=True)
    assert isinstance(raw, dict)
    assert all(isinstance(v, torch.Tensor) for v in raw["state_dict"].values())


def test_a_classifier_saved_before_deskewing_existed_loads_without_it(tmp_path, classifier):
    """Files written before ArchConfig.deskew hold a classifier that saw raw pixels: it
    must load as such, or its predictions would change."""
    raw_arch = ArchConfig(arch="conv", latent=8, width=4, head_hidden=8, deskew=False)
    torch.manual_seed(1)
    old = Classifier(raw_arch).eval()
    path = tmp_path / "old.pt"
    save_checkpoint(path, old, raw_arch)
    payload = _raw(path)
    del payload["arch"]["deskew"]
    torch.save(payload, path)
    loaded = load_checkpoint(path, expect=("classifier",))
    assert loaded.arch.deskew is False
    torch.testing.assert_close(_outputs(loaded.model), _outputs(old), rtol=0, atol=0)


def test_deskewing_is_kept_in_a_saved_classifier(tmp_path):
    deskewing = ArchConfig(arch="conv", latent=8, width=4, head_hidden=8, deskew=True)
    torch.manual_seed(1)
    model = Classifier(deskewing).eval()
    path = tmp_path / "clf.pt"
    save_checkpoint(path, model, deskewing)
    assert _raw(path)["arch"]["deskew"] is True
    loaded = load_checkpoint(path, expect=("classifier",))
    assert loaded.arch.deskew is True
    torch.testing.assert_close(_outputs(loaded.model), _outputs(model), rtol=0, atol=0)
    raw = Classifier(ArchConfig(arch="conv", latent=8, width=4, head_hidden=8)).eval()
    raw.load_state_dict(model.state_dict())  # the same weights, raw pixels: other outputs
    assert not torch.allclose(_outputs(raw), _outputs(model))
