// GPU check of the loader (needs a CUDA GPU; not part of CTest/CI):
//  1. the device transform kernel against the CPU Transformer for several
//     sizes, windows, channel counts and output types (max abs difference);
//  2. the raw-frames path (CudaStager::StartRaw: pinned staging, async copy
//     and the batch kernel) on a batch of mixed frames -- int16/uint16/
//     uint8, MONOCHROME1, upscaled, non-square, RGB, a failed sample --
//     against the CPU Transformer, for float32/float16/uint8 outputs;
//  3. throughput of the kernel, of batch uploads through CudaStager and of
//     the raw path (32 x 512x512 int16 -> 32 x 224x224 float32).
// Prints a table and exits non-zero on a mismatch. Runs in well under a
// minute on one GPU:  build/bin/loader_gpu_check
#include <cuda_runtime.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <optional>
#include <random>
#include <vector>
#include <algorithm>

#include "loader/cuda/cuda_stager.h"
#include "loader/transform/transform.h"

using namespace medfs::loader;

namespace {

#define CK(x) do { cudaError_t e_ = (x); if (e_ != cudaSuccess) { \
  std::fprintf(stderr, "%s: %s\n", #x, cudaGetErrorString(e_)); std::exit(2); } } while (0)

float ToFloat(const std::vector<std::byte>& v, size_t i, OutputType t) {
  switch (t) {
    case OutputType::kFloat32: return reinterpret_cast<const float*>(v.data())[i];
    case OutputType::kFloat16: return static_cast<float>(reinterpret_cast<const _Float16*>(v.data())[i]);
    case OutputType::kUint8: return reinterpret_cast<const uint8_t*>(v.data())[i];
  }
  return 0;
}

struct RawCase {
  uint32_t rows, columns, spp;
  PixelType type;
  bool mono1, fail;
};

// Fills a raw-frames batch buffer as the loader does and the CPU outputs
// of the same frames; returns the number of mismatching cases.
int CheckRawBatch(CudaStager& stager, const TransformOptions& o, const char* label) {
  const RawCase cases[] = {{512, 512, 1, PixelType::kI16, false, false},
                           {300, 400, 1, PixelType::kU16, true, false},
                           {64, 64, 1, PixelType::kU8, false, false},
                           {512, 512, 1, PixelType::kI16, false, true},
                           {100, 80, 3, PixelType::kU8, false, false},
                           {256, 256, 1, PixelType::kI32, false, false}};
  const uint32_t n = sizeof(cases) / sizeof(cases[0]);
  const size_t header = (n * sizeof(RawFrame) + 255) / 256 * 256;
  size_t slot = 0;
  for (const RawCase& c : cases) slot = std::max(slot, size_t{c.rows} * c.columns * c.spp * PixelTypeSize(c.type));
  slot = (slot + 255) / 256 * 256;
  std::vector<std::byte> raw(header + n * slot);
  std::vector<std::byte> cpu(n * o.image_bytes(), std::byte{0});
  std::mt19937 rng(7);
  auto* table = reinterpret_cast<RawFrame*>(raw.data());
  Transformer t;
  for (uint32_t i = 0; i < n; ++i) {
    const RawCase& c = cases[i];
    DecodedImage img;
    img.rows = c.rows;
    img.columns = c.columns;
    img.frames = 1;
    img.samples_per_pixel = c.spp;
    img.type = c.type;
    img.photometric = c.spp == 3 ? "RGB" : (c.mono1 ? "MONOCHROME1" : "MONOCHROME2");
    img.data.resize(img.frame_bytes());
    for (auto& b : img.data) b = std::byte(rng() & 0xff);
    if (c.type == PixelType::kI32) {  // keep 32-bit values in a CT-like range
      auto* v = reinterpret_cast<int32_t*>(img.data.data());
      for (size_t k = 0; k < size_t{c.rows} * c.columns; ++k) v[k] = int32_t(rng() % 4096) - 1024;
    }
    ImageInfo info;
    info.rescale_intercept = c.type == PixelType::kU8 ? 0 : -1024;
    info.bits_stored = c.spp == 3 ? 8 : 16;
    RawFrame f;
    f.offset = header + i * slot;
    if (!c.fail) {
      f.rows = c.rows;
      f.columns = c.columns;
      f.samples_per_pixel = c.spp;
      f.pixel_type = static_cast<uint32_t>(c.type);
      if (c.spp == 1) {
        auto [a, b] = GreyCoefficients(img, 0, info, o);
        f.a = float(a);
        f.b = float(b);
      } else {
        f.a = 1.f / 255.f;
      }
      t.Apply(img, 0, info, o, cpu.data() + i * o.image_bytes());
    }
    std::memcpy(raw.data() + f.offset, img.data.data(), img.frame_bytes());
    table[i] = f;
  }
  auto u = stager.StartRaw(raw.data(), raw.size(), n, o);
  if (!u.ok() || !stager.Wait(*u).ok()) {
    std::fprintf(stderr, "raw batch: %s\n", u.status().ToString().c_str());
    return 1;
  }
  std::vector<std::byte> gpu(cpu.size());
  CK(cudaMemcpy(gpu.data(), u->device, gpu.size(), cudaMemcpyDeviceToHost));
  const double tol = o.dtype == OutputType::kUint8 ? 1.01 : (o.dtype == OutputType::kFloat16 ? 4e-3 : 1e-4);
  int failures = 0;
  const size_t per = o.image_bytes() / OutputTypeSize(o.dtype);
  for (uint32_t i = 0; i < n; ++i) {
    double worst = 0;
    for (size_t k = 0; k < per; ++k) {
      worst = std::max<double>(worst, std::fabs(ToFloat(cpu, i * per + k, o.dtype) -
                                                ToFloat(gpu, i * per + k, o.dtype)));
    }
    char name[96];
    std::snprintf(name, sizeof name, "raw %s #%u %ux%ux%u t%d%s%s", label, i, cases[i].rows,
                  cases[i].columns, cases[i].spp, int(cases[i].type), cases[i].mono1 ? " M1" : "",
                  cases[i].fail ? " failed" : "");
    std::printf("%-44s %12.3g %s\n", name, worst, worst <= tol ? "ok" : "MISMATCH");
    failures += worst > tol;
  }
  return failures;
}

// Batches of 32 raw 512x512 int16 frames through StartRaw, double-buffered
// as the Python loader does (start k+1, then wait for k).
void RawThroughput(CudaStager& stager) {
  TransformOptions o;
  o.window = Window{40, 400};
  const uint32_t n = 32;
  const size_t header = (n * sizeof(RawFrame) + 255) / 256 * 256, slot = 512 * 512 * 2;
  std::vector<std::byte> raw(header + n * slot, std::byte{1});
  auto* table = reinterpret_cast<RawFrame*>(raw.data());
  for (uint32_t i = 0; i < n; ++i) {
    table[i] = RawFrame{header + i * slot, 512, 512, 1, uint32_t(PixelType::kI16), 1.f / 399, 0.5f};
  }
  const int batches = 200;
  auto t0 = std::chrono::steady_clock::now();
  std::optional<CudaStager::PendingUpload> prev;
  for (int i = 0; i < batches; ++i) {
    auto u = stager.StartRaw(raw.data(), raw.size(), n, o);
    if (!u.ok()) { std::fprintf(stderr, "%s\n", u.status().ToString().c_str()); std::exit(1); }
    if (prev) (void)stager.Wait(*prev);
    prev = *u;
  }
  (void)stager.Wait(*prev);
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("raw path: %.0f images/s (%.1f GB/s of 512x512 int16 frames in, 224x224 float32 out)\n",
              batches * n / s, batches * raw.size() / s / 1e9);
}

}  // namespace

int main() {
  if (absl::Status s = CudaAvailable(); !s.ok()) {
    std::fprintf(stderr, "%s\n", std::string(s.message()).c_str());
    return 2;
  }
  std::mt19937 rng(1);
  std::uniform_int_distribution<int> dist(-1024, 3071);
  struct Case { uint32_t in, out, channels; OutputType dtype; bool mono1; double tol; };
  Case cases[] = {{512, 224, 1, OutputType::kFloat32, false, 1e-4}, {512, 224, 3, OutputType::kFloat32, true, 1e-4},
                  {512, 256, 1, OutputType::kFloat16, false, 2e-3}, {64, 224, 3, OutputType::kFloat32, false, 1e-4},
                  {300, 224, 1, OutputType::kUint8, false, 1.01}, {512, 512, 1, OutputType::kFloat32, false, 1e-4}};
  int failures = 0;
  std::printf("%-28s %12s\n", "case", "max |gpu-cpu|");
  for (const Case& c : cases) {
    DecodedImage img;
    img.rows = img.columns = c.in;
    img.frames = 1;
    img.type = PixelType::kI16;
    img.photometric = c.mono1 ? "MONOCHROME1" : "MONOCHROME2";
    img.data.resize(size_t{c.in} * c.in * 2);
    auto* px = reinterpret_cast<int16_t*>(img.data.data());
    for (size_t i = 0; i < size_t{c.in} * c.in; ++i) px[i] = static_cast<int16_t>(dist(rng));
    ImageInfo info;
    info.rescale_intercept = -1024;
    TransformOptions o;
    o.height = o.width = c.out;
    o.channels = c.channels;
    o.dtype = c.dtype;
    o.window = Window{40, 400};
    o.mean = {0.5f, 0.4f, 0.3f};
    o.std = {0.25f, 0.2f, 0.3f};
    std::vector<std::byte> cpu(o.image_bytes()), gpu(o.image_bytes());
    Transformer t;
    t.Apply(img, 0, info, o, cpu.data());
    void *dsrc, *dout;
    CK(cudaMalloc(&dsrc, img.data.size()));
    CK(cudaMalloc(&dout, gpu.size()));
    CK(cudaMemcpy(dsrc, img.data.data(), img.data.size(), cudaMemcpyHostToDevice));
    absl::Status s = TransformOnDevice(dsrc, img.type, c.in, c.in, info, c.mono1, o, dout, nullptr);
    if (!s.ok()) { std::fprintf(stderr, "%s\n", s.ToString().c_str()); return 1; }
    CK(cudaMemcpy(gpu.data(), dout, gpu.size(), cudaMemcpyDeviceToHost));
    double worst = 0;
    for (size_t i = 0; i < size_t{c.channels} * c.out * c.out; ++i) {
      worst = std::max<double>(worst, std::fabs(ToFloat(cpu, i, c.dtype) - ToFloat(gpu, i, c.dtype)));
    }
    char name[64];
    std::snprintf(name, sizeof name, "%u->%u c%u dt%d%s", c.in, c.out, c.channels, int(c.dtype), c.mono1 ? " M1" : "");
    std::printf("%-28s %12.3g %s\n", name, worst, worst <= c.tol ? "ok" : "MISMATCH");
    failures += worst > c.tol;
    // Throughput of this case on the device.
    if (c.in == 512 && c.out == 224 && c.channels == 1) {
      const int n = 2000;
      cudaEvent_t a, b;
      CK(cudaEventCreate(&a));
      CK(cudaEventCreate(&b));
      CK(cudaEventRecord(a));
      for (int i = 0; i < n; ++i) (void)TransformOnDevice(dsrc, img.type, c.in, c.in, info, false, o, dout, nullptr);
      CK(cudaEventRecord(b));
      CK(cudaEventSynchronize(b));
      float ms;
      CK(cudaEventElapsedTime(&ms, a, b));
      auto t0 = std::chrono::steady_clock::now();
      for (int i = 0; i < 50; ++i) t.Apply(img, 0, info, o, cpu.data());
      double cpu_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      std::printf("  kernel: %.0f images/s on the GPU; CPU Transformer: %.0f images/s (1 thread)\n",
                  n / (ms / 1e3), 50 / cpu_s);
    }
    cudaFree(dsrc);
    cudaFree(dout);
  }
  // Upload bandwidth through the stager (32 x 224 x 224 float32 batches).
  const size_t bytes = size_t{32} * 224 * 224 * 4;
  std::vector<std::byte> host(bytes);
  auto stager = CudaStager::Create(0, bytes);
  if (!stager.ok()) { std::fprintf(stderr, "%s\n", stager.status().ToString().c_str()); return 1; }
  const int n = 200;
  auto t0 = std::chrono::steady_clock::now();
  std::optional<CudaStager::PendingUpload> prev;
  for (int i = 0; i < n; ++i) {
    auto u = (*stager)->Start(host.data(), bytes);
    if (!u.ok()) { std::fprintf(stderr, "%s\n", u.status().ToString().c_str()); return 1; }
    if (prev) (void)(*stager)->Wait(*prev);
    prev = *u;
  }
  (void)(*stager)->Wait(*prev);
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("stager: %.1f GB/s, %.0f batches/s of 32x224x224 float32\n", n * bytes / s / 1e9, n / s);
  // The raw-frames path: correctness for three output settings, then speed.
  TransformOptions f32;
  f32.window = Window{40, 400};
  TransformOptions f16 = f32;
  f16.height = 256;
  f16.width = 192;
  f16.channels = 3;
  f16.dtype = OutputType::kFloat16;
  f16.mean = {0.5f, 0.4f, 0.3f};
  f16.std = {0.25f, 0.2f, 0.3f};
  TransformOptions u8 = f32;
  u8.window.reset();  // the frame's min..max (computed on the CPU side)
  u8.dtype = OutputType::kUint8;
  auto raw_stager = CudaStager::Create(0, size_t{32} * 3 * 256 * 256 * 4);
  if (!raw_stager.ok()) { std::fprintf(stderr, "%s\n", raw_stager.status().ToString().c_str()); return 1; }
  failures += CheckRawBatch(**raw_stager, f32, "f32");
  failures += CheckRawBatch(**raw_stager, f16, "f16c3");
  failures += CheckRawBatch(**raw_stager, u8, "u8");
  RawThroughput(**raw_stager);
  std::printf("%s\n", failures ? "GPU CHECK FAILED" : "GPU CHECK PASSED");
  return failures ? 1 : 0;
}
