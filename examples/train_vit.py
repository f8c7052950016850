#!/usr/bin/python3
"""Train a tiny ViT-style classifier for a few steps on the CPU from a medfs
dataset, with medfs.DataLoader feeding decoded, windowed, resized slices.

  # from a cluster (meta address, dataset name):
  PYTHONPATH=build/python /usr/bin/python3 examples/train_vit.py \
      --meta 127.0.0.1:9400 --dataset ct --steps 20
  # from a local folder of DICOM files:
  PYTHONPATH=build/python /usr/bin/python3 examples/train_vit.py --dataset /data/ct
  # no data at hand: --synthetic N writes N CT-like slices to a temp folder

Labels: --labels CSV (SOPInstanceUID,label); without one the target is a
toy label derived from the UID so the loop runs end to end. Under
torchrun, RANK/WORLD_SIZE are picked up by medfs.DataLoader.
"""
import argparse
import os
import tempfile
import time

import torch
import torch.nn as nn

import medfs


class TinyViT(nn.Module):
    def __init__(self, size=64, patch=8, dim=64, depth=2, heads=4, classes=2, channels=3):
        super().__init__()
        self.patches = nn.Conv2d(channels, dim, kernel_size=patch, stride=patch)
        n = (size // patch) ** 2
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos = nn.Parameter(torch.randn(1, n + 1, dim) * 0.02)
        layer = nn.TransformerEncoderLayer(dim, heads, dim * 2, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, depth)
        self.head = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, classes))

    def forward(self, x):
        x = self.patches(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], dim=1) + self.pos
        return self.head(self.encoder(x)[:, 0])


def synthetic_dataset(count):
    import numpy as np
    import pydicom
    src = pydicom.dcmread(os.path.join(os.path.dirname(pydicom.__file__),
                                       "data/test_files/CT_small.dcm"))
    folder = tempfile.mkdtemp(prefix="medfs_vit_")
    rng = np.random.default_rng(0)
    for k in range(count):
        ds = src.copy()
        ds.SOPInstanceUID = f"1.2.826.0.1.3680043.77.{k}"
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.PixelData = rng.integers(-1000, 1500, (ds.Rows, ds.Columns), dtype=np.int16).tobytes()
        ds.save_as(os.path.join(folder, f"{k:04d}.dcm"))
    return folder


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--meta", default=None, help="medfs-meta host:port (omit for a local folder)")
    p.add_argument("--dataset", default=None)
    p.add_argument("--query", default="")
    p.add_argument("--labels", default="")
    p.add_argument("--synthetic", type=int, default=0)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--device", default="cpu")
    args = p.parse_args()
    dataset = args.dataset
    if args.synthetic or not dataset:
        dataset = synthetic_dataset(args.synthetic or 64)
        args.meta = None
    torch.manual_seed(0)
    loader = medfs.DataLoader(args.meta, dataset, query=args.query, batch_size=args.batch_size,
                              size=(args.size, args.size), window=(40, 400), channels=3,
                              mean=[0.5], std=[0.25], labels=args.labels, seed=0, prefetch=4,
                              device=args.device)
    model = TinyViT(size=args.size).to(args.device)
    optimiser = torch.optim.AdamW(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    step, epoch, start = 0, 0, time.time()
    while step < args.steps:
        loader.set_epoch(epoch)
        for images, info in loader:
            if info["labels"] is not None:
                target = info["labels"][:, 0].nan_to_num(0).long().to(images.device)
            else:
                target = torch.tensor([int(u.rsplit(".", 1)[-1]) % 2 for u in info["uids"]],
                                      device=images.device)
            loss = loss_fn(model(images), target)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            step += 1
            print(f"epoch {epoch} step {step} loss {loss.item():.4f} batch {tuple(images.shape)}")
            if step >= args.steps:
                break
        epoch += 1
    stats = loader.stats()
    print(f"done: {step} steps in {time.time() - start:.1f} s; loader {stats['samples_per_second']:.0f} "
          f"samples/s, waited {stats['consumer_wait_seconds']:.2f} s, "
          f"memory {stats['memory_bytes'] / 2**20:.1f} MiB; state {loader.state_dict()}")


if __name__ == "__main__":
    main()
