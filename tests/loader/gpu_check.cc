// GPU check of the loader (needs a CUDA GPU; not part of CTest/CI):
//  1. the device transform kernel against the CPU Transformer for several
//     sizes, windows, channel counts and output types (max abs difference);
//  2. throughput of the kernel and of batch uploads through CudaStager.
// Prints a table and exits non-zero on a mismatch. Runs in well under a
// minute on one GPU:  build/bin/loader_gpu_check
#include <cuda_runtime.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <vector>

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
  std::printf("%s\n", failures ? "GPU CHECK FAILED" : "GPU CHECK PASSED");
  return failures ? 1 : 0;
}
