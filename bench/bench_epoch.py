"""Time one autoencoder epoch: the engine against the common torchvision pipeline.

Both train the same MLP autoencoder (engine.learning.models, arch "mlp") on the same 60,000
training images with Adam and MSE, in the same process, one after the other:

- reference: torchvision `datasets.MNIST` + `ToTensor` + `DataLoader(batch_size=64)`,
  i.e. a PIL image and a tensor conversion per sample;
- engine: the uint8 tensor in memory, batches sliced from a shuffled index
  (`engine.learning.training.pretrain`), at the batch sizes given (--batch-sizes; the app's
  pretraining batch is marked "default"), with fused Adam and the engine's precision
  (bfloat16 matrix products where the CPU has AMX or AVX-512 BF16, float32 elsewhere;
  --precision).

Prints seconds per epoch, the speed-up ratio and the achieved GFLOP/s of the training
step. Usage: python bench/bench_epoch.py [--data-dir ../shared/mnist] [--repeats 1]
       [--batch-sizes 128,256,512] [--precision auto|float32|bfloat16]
"""

from __future__ import annotations

import argparse
import gzip
import shutil
import tempfile
import time
from pathlib import Path

import torch
from torch.nn import functional as F

from engine.config import DEFAULT_PRETRAIN, PRECISIONS, ArchConfig, TrainConfig
from engine.data.mnist import FILES, Split, find_files, read_folder
from engine.learning.device import pick_device, training_precision
from engine.learning.models import Autoencoder, training_flops_per_image
from engine.learning.training import pretrain

ARCH = ArchConfig(arch="mlp", latent=64, dropout=0.1)


def reference_epoch(root: Path, seed: int) -> float:
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms

    torch.manual_seed(seed)
    dataset = datasets.MNIST(str(root), train=True, download=False, transform=transforms.ToTensor())
    loader = DataLoader(dataset, batch_size=64, shuffle=True)
    model = Autoencoder(ARCH)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    start = time.perf_counter()
    for images, _ in loader:
        loss = F.mse_loss(model(images), images)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return time.perf_counter() - start


def engine_epoch(data, batch_size: int, seed: int, precision: str) -> float:
    everything = Split(train=torch.arange(len(data.train_images)), val=torch.arange(500))
    cfg = TrainConfig(
        epochs=1,
        batch_size=batch_size,
        lr=1e-3,
        seed=seed,
        schedule="constant",
        precision=precision,
    )
    result = pretrain(data, ARCH, cfg, split=everything, n_show=0)
    return result.fit.finished.seconds


def torchvision_layout(source: Path, target: Path) -> Path:
    """torchvision's MNIST wants uncompressed files in MNIST/raw; make them in a temp dir."""
    raw = target / "MNIST" / "raw"
    raw.mkdir(parents=True)
    files = find_files(source)
    if files is None:
        raise SystemExit(f"no MNIST files in {source}")
    for key, path in files.items():
        opener = gzip.open if path.suffix == ".gz" else open
        with opener(path, "rb") as src, open(raw / FILES[key], "wb") as dst:
            shutil.copyfileobj(src, dst)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    root = Path(__file__).resolve().parents[1]
    parser.add_argument("--data-dir", type=Path, default=root.parent / "shared" / "mnist")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument(
        "--batch-sizes", default="128,256,512", help="engine batch sizes to time, comma separated"
    )
    parser.add_argument("--precision", choices=PRECISIONS, default="auto")
    args = parser.parse_args()

    data = read_folder(args.data_dir)
    flops = training_flops_per_image(Autoencoder(ARCH)) * len(data.train_images)
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, MLP autoencoder, "
        f"{flops / len(data.train_images) / 1e6:.1f} MFLOP per image per training step, "
        f"engine precision {args.precision}: "
        f"{str(training_precision(args.precision, pick_device())).removeprefix('torch.')}"
    )
    sizes = [int(size) for size in args.batch_sizes.split(",")]
    with tempfile.TemporaryDirectory() as temp:
        layout = torchvision_layout(args.data_dir, Path(temp))
        rows = []
        for repeat in range(args.repeats):
            reference = reference_epoch(layout, repeat)
            engines = [(size, engine_epoch(data, size, repeat, args.precision)) for size in sizes]
            rows.append((reference, engines))
    default = DEFAULT_PRETRAIN.batch_size
    for reference, engines in rows:
        print(
            f"reference (torchvision + ToTensor + DataLoader, batch 64): {reference:6.2f} s/epoch"
            f"  {flops / reference / 1e9:5.1f} GFLOP/s"
        )
        for size, seconds in engines:
            note = ", default" if size == default else ""
            label = f"engine (in-memory slicing, batch {size}{note}):"
            print(
                f"{label:<58}{seconds:6.2f} s/epoch  {flops / seconds / 1e9:5.1f} GFLOP/s"
                f"  ratio {reference / seconds:4.1f}x"
            )


if __name__ == "__main__":
    main()
