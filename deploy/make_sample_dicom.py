#!/usr/bin/python3
"""Writes a small, realistic sample DICOM dataset for the demo: one CT series
(16-bit signed pixels, proper UIDs, ImagePositionPatient along z) and one MR
series, built on the CT/MR test files that Debian's python3-pydicom ships.

  make_sample_dicom.py OUT_DIR [--slices N] [--size PIXELS]
"""
import argparse
import os

import numpy as np
import pydicom
from pydicom.uid import generate_uid, ExplicitVRLittleEndian


def series(template, out, modality, count, size, seed):
    rng = np.random.default_rng(seed)
    study = generate_uid()
    series_uid = generate_uid()
    yy, xx = np.mgrid[0:size, 0:size]
    for k in range(count):
        ds = template.copy()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.StudyInstanceUID = study
        ds.SeriesInstanceUID = series_uid
        ds.SOPInstanceUID = generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.PatientID = f"DEMO-{seed:03d}"
        ds.PatientName = f"Demo^Patient{seed}"
        ds.Modality = modality
        ds.SeriesDescription = f"medfs demo {modality}"
        ds.InstanceNumber = k + 1
        ds.ImagePositionPatient = [0.0, 0.0, float(k) * 2.5]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.SliceThickness = 2.5
        ds.PixelSpacing = [0.7, 0.7]
        ds.Rows = ds.Columns = size
        ds.BitsAllocated = 16
        ds.BitsStored = 16
        ds.HighBit = 15
        ds.PixelRepresentation = 1
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.RescaleSlope = 1
        ds.RescaleIntercept = -1024 if modality == "CT" else 0
        ds.WindowCenter = 40
        ds.WindowWidth = 400
        r = np.hypot(yy - size / 2, xx - size / 2)
        body = (r < size * (0.3 + 0.1 * np.sin(k / 8))).astype(np.int16)
        pixels = body * 1060 + rng.integers(0, 40, (size, size), dtype=np.int16)
        ds.PixelData = pixels.astype(np.int16).tobytes()
        ds.is_little_endian = True
        ds.is_implicit_VR = False
        folder = os.path.join(out, f"{modality}-{seed}")
        os.makedirs(folder, exist_ok=True)
        ds.save_as(os.path.join(folder, f"IM{k:04d}"), write_like_original=False)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out")
    parser.add_argument("--slices", type=int, default=64)
    parser.add_argument("--size", type=int, default=256)
    args = parser.parse_args()
    data = os.path.join(os.path.dirname(pydicom.__file__), "data", "test_files")
    ct = pydicom.dcmread(os.path.join(data, "CT_small.dcm"))
    mr = pydicom.dcmread(os.path.join(data, "MR_small.dcm"))
    series(ct, args.out, "CT", args.slices, args.size, seed=1)
    series(mr, args.out, "MR", max(1, args.slices // 4), args.size, seed=2)
    print(f"wrote {args.slices} CT and {max(1, args.slices // 4)} MR slices to {args.out}")


if __name__ == "__main__":
    main()
