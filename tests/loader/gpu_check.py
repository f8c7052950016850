#!/usr/bin/python3
"""GPU check of medfs.DataLoader(device='cuda') (needs a CUDA GPU and a
CUDA-enabled torch; not part of CTest/CI). Runs in about a minute:

  PYTHONPATH=build/python /usr/bin/python3 tests/loader/gpu_check.py
  build/bin/loader_gpu_check      # the kernels against the CPU transforms

1. device='cuda' batches (the CPU only decodes; windowing, resize and
   normalisation run as CUDA kernels on the device) match device='cpu'
   batches (same seed/epoch; float rounding only), live on the GPU, and
   stay valid while later batches arrive (double buffering must not
   overwrite a batch the caller still holds) -- for float32 1 channel and
   for float16 3 channels with mean/std, and for a set with a corrupt file
   (on_error='zero': zeros on both paths);
2. throughput of device='cuda' vs 'cpu' over a synthetic 512x512 CT set.
"""
import os
import sys
import tempfile
import time

import numpy as np
import pydicom
import torch

import medfs


def make(folder, count):
    src = pydicom.dcmread(os.path.join(os.path.dirname(pydicom.__file__), "data/test_files/CT_small.dcm"))
    rng = np.random.default_rng(0)
    for k in range(count):
        ds = src.copy()
        ds.SOPInstanceUID = f"1.2.826.0.1.3680043.66.{k}"
        ds.Rows = ds.Columns = 512
        ds.PixelData = rng.integers(-1000, 2000, (512, 512), dtype=np.int16).tobytes()
        ds.save_as(os.path.join(folder, f"{k:04d}.dcm"))


def main():
    if not medfs.have_cuda_support():
        sys.exit("medfs was built without CUDA (MEDFS_WITH_CUDA=OFF)")
    if not torch.cuda.is_available():
        sys.exit("torch sees no CUDA device")
    folder = tempfile.mkdtemp(prefix="medfs_gpu_")
    make(folder, 512)
    with open(os.path.join(folder, "9999.dcm"), "wb") as f:  # decodes to an error
        f.write(open(os.path.join(folder, "0000.dcm"), "rb").read()[:-4096])
    kw = dict(batch_size=32, size=(224, 224), window=(40, 400), seed=3, prefetch=8)
    ok = True
    for extra, atol in [(dict(on_error="zero"), 1e-5),
                        (dict(channels=3, dtype="float16", mean=[0.5, 0.4, 0.3],
                              std=[0.25, 0.2, 0.3], size=(256, 192)), 4e-3)]:
        args = dict(kw, **extra)
        cpu = [(x.clone(), i["uids"]) for x, i in medfs.DataLoader(None, folder, device="cpu", **args)]
        held = [(x, i["uids"]) for x, i in medfs.DataLoader(None, folder, device="cuda", **args)]
        same = len(cpu) == len(held)
        worst = 0.0
        for (a, ua), (b, ub) in zip(cpu, held):
            same &= ua == ub and b.is_cuda and a.shape == b.shape and a.dtype == b.dtype
            if a.shape == b.shape:
                worst = max(worst, (a.float() - b.cpu().float()).abs().max().item())
        same &= worst <= atol
        print(f"cuda vs cpu {extra}: max |diff| {worst:.3g}, held batches valid:",
              "ok" if same else "MISMATCH")
        ok &= same
    for device in ["cpu", "cuda"]:
        dl = medfs.DataLoader(None, folder, device=device, **kw)
        for _ in dl:
            pass
        dl.set_epoch(1)
        n, t = 0, time.time()
        for x, _ in dl:
            n += x.shape[0]
        if device == "cuda":
            torch.cuda.synchronize()
        print(f"{device}: {n / (time.time() - t):.0f} images/s")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
