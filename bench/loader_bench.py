#!/usr/bin/python3
"""medfs.DataLoader against a PyTorch DataLoader (num_workers=2) that reads
the same files with pydicom and does the same transforms, and against the
local limit (bench/loader_bench_limit.cc: pixel bytes from page cache + the
loader's own resize). Output: 224x224 float32 batches of 32, window (40,400).

  # local files (page cache) for both loaders, synthetic CT if --make N:
  PYTHONPATH=build/python /usr/bin/python3 bench/loader_bench.py --make 2000 --dir /tmp/ct
  # medfs cluster for medfs.DataLoader, medfs-mount for the pydicom baseline:
  PYTHONPATH=build/python /usr/bin/python3 bench/loader_bench.py --dir /tmp/ct \
      --meta 127.0.0.1:9400 --dataset ct --mount /mnt/medfs

Variants: uncompressed, JPEG-LS lossless and RLE (made with dcmcjpls and
dcmcrle). pydicom itself has no JPEG-LS decoder: for that row it hands the
pixel data to GDCM's Python binding (python3-gdcm, installed by
deploy/install-deps.sh as the reference decoder of the bench and the
loader's tests; medfs does not link GDCM), so the JPEG-LS baseline is
PyTorch + pydicom + GDCM (C++, CharLS inside). Each row's JSON names the
pydicom handler its baseline used (baseline_decoder). Before each baseline the
bench asks pydicom to decode one file; where it cannot (no handler for the
transfer syntax: GDCM, CharPyLS or pylibjpeg-libjpeg missing), the output
says so and the baseline is reported as unavailable rather than invented.

CPU per image: besides images/s (which under load depends on the share of
the 2 cores each side gets) each row gives the CPU milliseconds per image
of the medfs.DataLoader process, of the chunkservers serving it (the
medfs-chunkserver processes of --meta, found in /proc; on a real cluster
they run on storage nodes) and of the limit loop. The limit loop uses as
many threads as the loader's CPU stage (cpu_threads = cores).
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


def chunkserver_pids(meta):
    """The medfs-chunkserver processes registered with `meta` (read from
    /proc; only looked at, never signalled)."""
    pids = []
    for d in glob.glob("/proc/[0-9]*"):
        try:
            argv = open(d + "/cmdline", "rb").read().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"medfs-chunkserver") and f"--meta={meta}".encode() in argv:
            pids.append(int(d[6:]))
    return pids


def cpu_seconds(pid):
    try:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def medfs_rate(meta, dataset, batches, prefetch=4):
    """Images/s over one full epoch, after a warm-up epoch (threads
    started, pooled buffers touched), and the CPU ms per image of this
    process and of the chunkservers."""
    import medfs
    dl = medfs.DataLoader(meta, dataset, batch_size=32, size=(224, 224), window=(40, 400),
                          prefetch=prefetch, seed=0)
    for _ in dl:
        pass
    dl.set_epoch(1)
    before = dl.stats()
    servers = chunkserver_pids(meta) if meta else []
    servers_before = sum(cpu_seconds(p) for p in servers)
    own = os.times()
    n, start = 0, time.time()
    for images, info in dl:
        n += images.shape[0]
    rate = n / (time.time() - start)
    now = os.times()
    stats = dl.stats()
    stats["consumer_wait_seconds"] -= before["consumer_wait_seconds"]
    stats["loader_cpu_ms_per_image"] = 1e3 * (now.user + now.system - own.user - own.system) / n
    stats["servers_cpu_ms_per_image"] = (
        1e3 * (sum(cpu_seconds(p) for p in servers) - servers_before) / n if servers else None)
    return rate, stats


def limit_rate(folder, threads):
    binary = os.path.join(os.environ.get("MEDFS_BIN_DIR", "build/bin"), "loader_bench_limit")
    passes = 2
    before = os.times()
    out = subprocess.run([binary, folder, str(threads), str(passes)], check=True,
                         capture_output=True, text=True)
    after = os.times()
    images = passes * len(glob.glob(folder + "/**/*.dcm", recursive=True))
    cpu = after.children_user + after.children_system - before.children_user - before.children_system
    return float(out.stdout.split()[-1]), 1e3 * cpu / images


def pydicom_decoder(folder):
    """(handler, None) with the pydicom pixel data handler that decodes the
    first file of `folder` (tried in pydicom's own order, as pixel_array
    does), or (None, why not)."""
    import pydicom
    first = sorted(glob.glob(folder + "/**/*.dcm", recursive=True))[0]
    uid = pydicom.dcmread(first, stop_before_pixels=True).file_meta.TransferSyntaxUID
    why_not = f"no pydicom pixel data handler here supports {uid.name}"
    for handler in pydicom.config.pixel_data_handlers:
        if not (handler.is_available() and handler.supports_transfer_syntax(uid)):
            continue
        name = handler.__name__.rsplit(".", 1)[-1].removesuffix("_handler")
        try:
            pydicom.dcmread(first).convert_pixel_data(handler_name=name)
            return name, None
        except Exception as e:  # pydicom raises RuntimeError/NotImplementedError
            why_not = f"{name}: {type(e).__name__}: {str(e).splitlines()[0][:160]}"
    return None, why_not


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
        base = None
        decoder, why_not = pydicom_decoder(baseline_dir)
        if why_not:
            print(f"{name}: pydicom cannot decode these files here ({why_not}); "
                  f"no PyTorch+pydicom baseline for {name}")
        else:
            base = torch_baseline(baseline_dir, max(3, args.batches // 4))
        servers_ms = stats["servers_cpu_ms_per_image"]
        row = {"variant": name, "source": "cluster" if meta else "local",
               "baseline_reads": baseline_dir, "medfs_images_per_s": round(ours, 1),
               "pytorch_pydicom_images_per_s": round(base, 1) if base else None,
               "baseline_decoder": decoder,
               "ratio_vs_pytorch": round(ours / base, 2) if base else None,
               "consumer_wait_s": round(stats["consumer_wait_seconds"], 2),
               "loader_cpu_ms_per_image": round(stats["loader_cpu_ms_per_image"], 3),
               "servers_cpu_ms_per_image": round(servers_ms, 3) if servers_ms is not None else None}
        if name == "uncompressed":
            warm(folder)
            lim, lim_ms = limit_rate(folder, args.threads)
            row["limit_images_per_s"] = round(lim, 1)
            row["ratio_vs_limit"] = round(ours / lim, 2)
            row["limit_cpu_ms_per_image"] = round(lim_ms, 3)
            # Load-independent: the limit's CPU per image over the loader's
            # (its own process; and with the co-located chunkservers).
            own = stats["loader_cpu_ms_per_image"]
            row["cpu_ratio_vs_limit"] = round(lim_ms / own, 2)
            if servers_ms is not None:
                row["cpu_ratio_vs_limit_with_servers"] = round(lim_ms / (own + servers_ms), 2)
            row["peak_rss_mib_prefetch8"] = round(peak_rss(meta, dataset, args.batches), 1)
        rows.append(row)
        print(json.dumps(row))
    print("\n| variant | medfs img/s | PyTorch+pydicom img/s | ratio | limit img/s | ratio vs limit "
          "| CPU ms/img: loader | chunkservers | limit |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['variant']} | {r['medfs_images_per_s']} | {r['pytorch_pydicom_images_per_s']} | "
              f"{r['ratio_vs_pytorch']} | {r.get('limit_images_per_s', '')} | {r.get('ratio_vs_limit', '')} "
              f"| {r['loader_cpu_ms_per_image']} | {r['servers_cpu_ms_per_image']} "
              f"| {r.get('limit_cpu_ms_per_image', '')} |")


if __name__ == "__main__":
    main()
