// CUDA kernels of the loader: one fused kernel per output image that
// windows source pixels (clamp(a * x + b, 0, 1), the CPU Transformer's
// coefficients), resizes (area when shrinking, bilinear with half-pixel
// centres when enlarging, as the CPU taps), normalises and converts; and
// the raw-batch kernel of the GPU path (one grid over a whole batch of
// decoded frames described by RawFrame, grey or RGB, any stored type).
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>

#include "absl/strings/str_cat.h"
#include "loader/cuda/cuda_stager.h"

namespace medfs::loader {
namespace {

struct Axis {
  float scale;  // in / out
  int in;
};

// Taps of output index i along one axis: [first, last] and weight(k).
__device__ inline void Range(const Axis& a, int i, int* first, int* last) {
  if (a.scale > 1.f) {
    float lo = i * a.scale, hi = fminf((float)a.in, (i + 1) * a.scale);
    *first = (int)lo;
    *last = min(a.in - 1, (int)ceilf(hi) - 1);
  } else {
    float x = fminf(fmaxf((i + 0.5f) * a.scale - 0.5f, 0.f), (float)(a.in - 1));
    *first = (int)x;
    *last = min(a.in - 1, *first + 1);
  }
}

__device__ inline float Weight(const Axis& a, int i, int k) {
  if (a.scale > 1.f) {
    float lo = i * a.scale, hi = fminf((float)a.in, (i + 1) * a.scale);
    float w = fminf((float)(k + 1), hi) - fmaxf((float)k, lo);
    return w > 0.f ? w / a.scale : 0.f;
  }
  float x = fminf(fmaxf((i + 0.5f) * a.scale - 0.5f, 0.f), (float)(a.in - 1));
  int x0 = (int)x;
  float f = x - x0;
  return k == x0 ? 1.f - f : f;
}

// The resampled value of output pixel (x, y): the weighted sum over the
// input pixels it covers of value_at(row, column) (bilinear upscaling, area
// downscaling, as the CPU transform).
template <typename ValueAt>
__device__ inline float Resample(const Axis& ax, const Axis& ay, int x, int y,
                                 ValueAt value_at) {
  int x0, x1, y0, y1;
  Range(ax, x, &x0, &x1);
  Range(ay, y, &y0, &y1);
  float acc = 0.f;
  for (int r = y0; r <= y1; ++r) {
    float wy = Weight(ay, y, r);
    if (wy == 0.f) continue;
    float row = 0.f;
    for (int c = x0; c <= x1; ++c) row += Weight(ax, x, c) * value_at(r, c);
    acc += wy * row;
  }
  return acc;
}

template <typename T, typename O>
__global__ void TransformKernel(const T* src, int rows, int cols, float a, float b,
                                Axis ax, Axis ay, int out_h, int out_w, int channels,
                                float3 mean, float3 inv_std, bool to_uint8, O* out) {
  int x = blockIdx.x * blockDim.x + threadIdx.x;
  int y = blockIdx.y * blockDim.y + threadIdx.y;
  if (x >= out_w || y >= out_h) return;
  const float acc = Resample(ax, ay, x, y, [&](int r, int c) {
    return fminf(fmaxf(a * (float)src[r * cols + c] + b, 0.f), 1.f);
  });
  float m[3] = {mean.x, mean.y, mean.z}, s[3] = {inv_std.x, inv_std.y, inv_std.z};
  size_t plane = (size_t)out_h * out_w, at = (size_t)y * out_w + x;
  for (int ch = 0; ch < channels; ++ch) {
    float v = to_uint8 ? fminf(fmaxf(acc, 0.f), 1.f) * 255.f + 0.5f : (acc - m[ch]) * s[ch];
    out[ch * plane + at] = (O)v;
  }
}

template <typename T>
cudaError_t Launch(const T* src, uint32_t rows, uint32_t cols, float a, float b,
                   const TransformOptions& o, void* out, cudaStream_t stream) {
  Axis ax{(float)cols / o.width, (int)cols}, ay{(float)rows / o.height, (int)rows};
  dim3 block(16, 16), grid((o.width + 15) / 16, (o.height + 15) / 16);
  float3 mean = make_float3(o.mean[0], o.mean[1], o.mean[2]);
  float3 inv = make_float3(1.f / o.std[0], 1.f / o.std[1], 1.f / o.std[2]);
  int ch = (int)o.channels;
  switch (o.dtype) {
    case OutputType::kFloat32:
      TransformKernel<<<grid, block, 0, stream>>>(src, rows, cols, a, b, ax, ay, o.height, o.width,
                                                  ch, mean, inv, false, (float*)out);
      break;
    case OutputType::kFloat16:
      TransformKernel<<<grid, block, 0, stream>>>(src, rows, cols, a, b, ax, ay, o.height, o.width,
                                                  ch, mean, inv, false, (__half*)out);
      break;
    case OutputType::kUint8:
      TransformKernel<<<grid, block, 0, stream>>>(src, rows, cols, a, b, ax, ay, o.height, o.width,
                                                  ch, mean, inv, true, (uint8_t*)out);
      break;
  }
  return cudaGetLastError();
}

// One raw frame's value at (r, c) for channel ch of a colour frame, or
// the windowed grey value.
template <typename T>
__device__ inline float RawValue(const unsigned char* base, const RawFrame& f, int r, int c,
                                 int ch) {
  const T* p = reinterpret_cast<const T*>(base + f.offset);
  if (f.samples_per_pixel == 1) {
    return fminf(fmaxf(f.a * (float)p[(size_t)r * f.columns + c] + f.b, 0.f), 1.f);
  }
  const T* px = p + ((size_t)r * f.columns + c) * 3;
  if (ch >= 0) return (float)px[ch] * f.a;
  return (0.299f * (float)px[0] + 0.587f * (float)px[1] + 0.114f * (float)px[2]) * f.a;
}

// Resamples output pixel (x, y) of frame f for channel ch (-1: grey/luma).
template <typename T>
__device__ float RawPixel(const unsigned char* base, const RawFrame& f, int x, int y,
                          int out_h, int out_w, int ch) {
  Axis ax{(float)f.columns / out_w, (int)f.columns}, ay{(float)f.rows / out_h, (int)f.rows};
  return Resample(ax, ay, x, y,
                  [&](int r, int c) { return RawValue<T>(base, f, r, c, ch); });
}

__device__ float RawPixelAnyType(const unsigned char* base, const RawFrame& f, int x, int y,
                                 int out_h, int out_w, int ch) {
  switch (f.pixel_type) {
    case (uint32_t)PixelType::kU8: return RawPixel<uint8_t>(base, f, x, y, out_h, out_w, ch);
    case (uint32_t)PixelType::kI8: return RawPixel<int8_t>(base, f, x, y, out_h, out_w, ch);
    case (uint32_t)PixelType::kU16: return RawPixel<uint16_t>(base, f, x, y, out_h, out_w, ch);
    case (uint32_t)PixelType::kI16: return RawPixel<int16_t>(base, f, x, y, out_h, out_w, ch);
    case (uint32_t)PixelType::kU32: return RawPixel<uint32_t>(base, f, x, y, out_h, out_w, ch);
    case (uint32_t)PixelType::kI32: return RawPixel<int32_t>(base, f, x, y, out_h, out_w, ch);
  }
  return 0.f;
}

// blockIdx.z: the sample. A batch's frames may differ in size and type.
template <typename O>
__global__ void RawBatchKernel(const unsigned char* base, int out_h, int out_w, int channels,
                               float3 mean, float3 inv_std, bool to_uint8, O* out) {
  int x = blockIdx.x * blockDim.x + threadIdx.x;
  int y = blockIdx.y * blockDim.y + threadIdx.y;
  if (x >= out_w || y >= out_h) return;
  const RawFrame f = reinterpret_cast<const RawFrame*>(base)[blockIdx.z];
  size_t plane = (size_t)out_h * out_w, at = (size_t)y * out_w + x;
  O* dst = out + (size_t)blockIdx.z * channels * plane;
  float m[3] = {mean.x, mean.y, mean.z}, s[3] = {inv_std.x, inv_std.y, inv_std.z};
  if (f.rows == 0) {  // a failed sample (on_error='zero'): zeros, as on the CPU
    for (int ch = 0; ch < channels; ++ch) dst[ch * plane + at] = (O)0.f;
    return;
  }
  const bool colour = f.samples_per_pixel == 3 && channels == 3;
  float grey = colour ? 0.f : RawPixelAnyType(base, f, x, y, out_h, out_w, -1);
  for (int ch = 0; ch < channels; ++ch) {
    float v = colour ? RawPixelAnyType(base, f, x, y, out_h, out_w, ch) : grey;
    v = to_uint8 ? fminf(fmaxf(v, 0.f), 1.f) * 255.f + 0.5f : (v - m[ch]) * s[ch];
    dst[ch * plane + at] = (O)v;
  }
}

}  // namespace

absl::Status TransformRawBatchOnDevice(const void* raw, uint32_t count,
                                       const TransformOptions& o, void* out,
                                       void* stream_ptr) {
  if (count == 0) return absl::OkStatus();
  auto stream = static_cast<cudaStream_t>(stream_ptr);
  dim3 block(16, 16), grid((o.width + 15) / 16, (o.height + 15) / 16, count);
  float3 mean = make_float3(o.mean[0], o.mean[1], o.mean[2]);
  float3 inv = make_float3(1.f / o.std[0], 1.f / o.std[1], 1.f / o.std[2]);
  auto base = static_cast<const unsigned char*>(raw);
  int h = (int)o.height, w = (int)o.width, ch = (int)o.channels;
  switch (o.dtype) {
    case OutputType::kFloat32:
      RawBatchKernel<<<grid, block, 0, stream>>>(base, h, w, ch, mean, inv, false, (float*)out);
      break;
    case OutputType::kFloat16:
      RawBatchKernel<<<grid, block, 0, stream>>>(base, h, w, ch, mean, inv, false, (__half*)out);
      break;
    case OutputType::kUint8:
      RawBatchKernel<<<grid, block, 0, stream>>>(base, h, w, ch, mean, inv, true, (uint8_t*)out);
      break;
  }
  cudaError_t e = cudaGetLastError();
  if (e != cudaSuccess) {
    return absl::InternalError(absl::StrCat("launching the raw batch kernel: ",
                                            cudaGetErrorString(e)));
  }
  return absl::OkStatus();
}

absl::Status TransformOnDevice(const void* src, PixelType type, uint32_t rows,
                               uint32_t columns, const ImageInfo& info, bool monochrome1,
                               const TransformOptions& o, void* out, void* stream_ptr) {
  if (!o.window && !info.has_window) {
    return absl::InvalidArgumentError("device transform needs a window (given or from the file)");
  }
  double slope = o.modality_lut ? info.rescale_slope : 1.0;
  double intercept = o.modality_lut ? info.rescale_intercept : 0.0;
  Window w = o.window ? *o.window : Window{info.window_center, info.window_width};
  double a = slope / (w.width - 1.0), b = (intercept - w.center + 0.5) / (w.width - 1.0) + 0.5;
  if (monochrome1) a = -a, b = 1.0 - b;
  auto stream = static_cast<cudaStream_t>(stream_ptr);
  cudaError_t e = cudaErrorInvalidValue;
  switch (type) {
    case PixelType::kU8: e = Launch((const uint8_t*)src, rows, columns, a, b, o, out, stream); break;
    case PixelType::kI8: e = Launch((const int8_t*)src, rows, columns, a, b, o, out, stream); break;
    case PixelType::kU16: e = Launch((const uint16_t*)src, rows, columns, a, b, o, out, stream); break;
    case PixelType::kI16: e = Launch((const int16_t*)src, rows, columns, a, b, o, out, stream); break;
    case PixelType::kU32: e = Launch((const uint32_t*)src, rows, columns, a, b, o, out, stream); break;
    case PixelType::kI32: e = Launch((const int32_t*)src, rows, columns, a, b, o, out, stream); break;
  }
  if (e != cudaSuccess) {
    return absl::InternalError(absl::StrCat("launching the transform kernel: ", cudaGetErrorString(e)));
  }
  return absl::OkStatus();
}

}  // namespace medfs::loader
