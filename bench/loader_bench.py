#!/usr/bin/python3
"""medfs.DataLoader against a PyTorch DataLoader (num_workers=2) that reads
the same files with pydicom and does the same transforms, and against the
local limit (bench/loader_bench_limit.cc: pixel bytes from page cache + the
loader's own resize). Output: 224x224 float32 batches of 32, window (40,400).

  # local files (page cache) for both loaders, synthetic CT if --make N:
  PYTHONPATH=build/python /usr/bin/python3 bench/loader_bench.py --make 2000 --dir /tmp/ct
  # medfs cluster for medfs.DataLoader, medfs-mount for the pydicom baseline:
  PYTHONPATH=build/python /usr/bin/python3 bench/loader_bench.py --dir /tmp/ct \
      --meta 127.0.0.1:9400 --dataset ct --mount /mnt/medfs/ct

Variants: uncompressed, JPEG-LS lossless and RLE (made with dcmcjpls and
dcmcrle). pydicom has no JPEG-LS decoder in Debian (no CharPyLS), so the
JPEG-LS baseline is reported as unavailable rather than invented.
Peak RSS of the process while medfs.DataLoader runs with prefetch 8 is
read from /proc/self/status (VmHWM) after a fresh-process run.
"""
import argparse
import glob
import json
import os
import subprocess
import sys
import time

import numpy as np
import torch  # imported before any timing (its import takes seconds)


def make_dataset(folder, count):
    import pydicom
    src = pydicom.dcmread(os.path.join(os.path.dirname(pydicom.__file__),
                                       "data/test_files/CT_small.dcm"))
    os.makedirs(folder, exist_ok=True)
    yy, xx = np.mgrid[0:512, 0:512]
    body = ((yy - 256) ** 2 + (xx - 256) ** 2) < 220 ** 2
    rng = np.random.default_rng(0)
    for k in range(count):
        ds = src.copy()
        ds.SOPInstanceUID = f"1.2.826.0.1.3680043.55.{k}"
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.Rows = ds.Columns = 512
        ds.RescaleSlope, ds.RescaleIntercept = 1, -1024
        ds.ImagePositionPatient = [0, 0, -k * 1.0]
        px = np.where(body, 1024 + 40 + rng.normal(0, 30, (512, 512)), 0).astype(np.int16)
        ds.PixelData = px.tobytes()
        ds.save_as(os.path.join(folder, f"{k:05d}.dcm"))


def compress(src, dst, tool):
    os.makedirs(dst, exist_ok=True)
    for f in sorted(glob.glob(src + "/*.dcm")):
        out = os.path.join(dst, os.path.basename(f))
        if not os.path.exists(out):
            subprocess.run([tool, f, out], check=True)


def warm(folder):
    for f in glob.glob(folder + "/**/*.dcm", recursive=True):
        with open(f, "rb") as h:
            h.read()


def torch_baseline(folder, batches):
    import pydicom
    import torch
    import torch.nn.functional as F

    files = sorted(glob.glob(folder + "/**/*.dcm", recursive=True))

    class Slices(torch.utils.data.Dataset):
        def __len__(self):
            return len(files)

        def __getitem__(self, i):
            ds = pydicom.dcmread(files[i])
            x = ds.pixel_array.astype(np.float32) * float(ds.RescaleSlope) + float(ds.RescaleIntercept)
            c, w = 40.0, 400.0
            x = np.clip((x - (c - 0.5)) / (w - 1) + 0.5, 0, 1)
            t = torch.from_numpy(x)[None, None]
            return F.interpolate(t, size=(224, 224), mode="area")[0]

    dl = torch.utils.data.DataLoader(Slices(), batch_size=32, num_workers=2, shuffle=True)
    n, start = 0, time.time()
    for i, b in enumerate(dl):
        n += b.shape[0]
        if i + 1 >= batches:
            break
    return n / (time.time() - start)


def medfs_rate(meta, dataset, batches, prefetch=4):
    """Images/s over one full epoch, after a warm-up epoch (threads
    started, pooled buffers touched)."""
    import medfs
    dl = medfs.DataLoader(meta, dataset, batch_size=32, size=(224, 224), window=(40, 400),
                          prefetch=prefetch, seed=0)
    for _ in dl:
        pass
    dl.set_epoch(1)
    before = dl.stats()
    n, start = 0, time.time()
    for images, info in dl:
        n += images.shape[0]
    rate = n / (time.time() - start)
    stats = dl.stats()
    stats["consumer_wait_seconds"] -= before["consumer_wait_seconds"]
    return rate, stats


def limit_rate(folder, threads):
    binary = os.path.join(os.environ.get("MEDFS_BIN_DIR", "build/bin"), "loader_bench_limit")
    out = subprocess.run([binary, folder, str(threads), "2"], check=True, capture_output=True, text=True)
    return float(out.stdout.split()[-1])


def peak_rss(meta, dataset, batches):
    code = ("import medfs,re;dl=medfs.DataLoader(%r,%r,batch_size=32,size=(224,224),window=(40,400),"
            "prefetch=8)\nfor i,_ in enumerate(dl):\n  pass\n"
            "print(re.search(r'VmHWM:\\s+(\\d+)',open('/proc/self/status').read()).group(1))"
            % (meta, dataset))
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return int(out.stdout.split()[-1]) / 1024


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--dir", required=True, help="uncompressed slices (made with --make)")
    p.add_argument("--make", type=int, default=0)
    p.add_argument("--meta", default=None)
    p.add_argument("--dataset", default=None, help="cluster dataset (uncompressed)")
    p.add_argument("--mount", default=None, help="medfs-mount mount point (datasets below it)")
    p.add_argument("--ingest", action="store_true",
                   help="ingest the three variants first (medfs ingest into DATASET, "
                        "DATASET_jpeg-ls, DATASET_rle)")
    p.add_argument("--batches", type=int, default=20)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    args = p.parse_args()
    if args.make:
        make_dataset(args.dir, args.make)
    variants = {"uncompressed": args.dir}
    for name, tool in [("jpeg-ls", "dcmcjpls"), ("rle", "dcmcrle")]:
        variants[name] = args.dir.rstrip("/") + "_" + name
        compress(args.dir, variants[name], tool)
    rows = []
    for name, folder in variants.items():
        warm(folder)
        meta, dataset, baseline_dir = None, folder, folder
        if args.meta:
            meta = args.meta
            dataset = args.dataset + ("" if name == "uncompressed" else "_" + name)
            if args.ingest:
                binary = os.path.join(os.environ.get("MEDFS_BIN_DIR", "build/bin"), "medfs")
                subprocess.run([binary, f"--meta={meta}", "ingest", f"--dataset={dataset}", folder],
                               check=True, stdout=subprocess.DEVNULL)
            if args.mount:
                baseline_dir = os.path.join(args.mount, dataset)
        warm(baseline_dir)
        ours, stats = medfs_rate(meta, dataset, args.batches)
        try:
            base = torch_baseline(baseline_dir, max(3, args.batches // 4))
        except Exception as e:  # no pydicom decoder for the syntax
            base = None
            print(f"{name}: pydicom baseline unavailable: {type(e).__name__}: {str(e)[:80]}")
        row = {"variant": name, "source": "cluster" if meta else "local",
               "baseline_reads": baseline_dir, "medfs_images_per_s": round(ours, 1),
               "pytorch_pydicom_images_per_s": round(base, 1) if base else None,
               "ratio_vs_pytorch": round(ours / base, 2) if base else None,
               "consumer_wait_s": round(stats["consumer_wait_seconds"], 2)}
        if name == "uncompressed":
            warm(folder)
            lim = limit_rate(folder, args.threads)
            row["limit_images_per_s"] = round(lim, 1)
            row["ratio_vs_limit"] = round(ours / lim, 2)
            row["peak_rss_mib_prefetch8"] = round(peak_rss(meta, dataset, args.batches), 1)
        rows.append(row)
        print(json.dumps(row))
    print("\n| variant | medfs img/s | PyTorch+pydicom img/s | ratio | limit img/s | ratio vs limit |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['variant']} | {r['medfs_images_per_s']} | {r['pytorch_pydicom_images_per_s']} | "
              f"{r['ratio_vs_pytorch']} | {r.get('limit_images_per_s', '')} | {r.get('ratio_vs_limit', '')} |")


if __name__ == "__main__":
    main()
