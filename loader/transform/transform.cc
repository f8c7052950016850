#include "loader/transform/transform.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "absl/strings/str_cat.h"

namespace medfs::loader {
namespace {

// v = clamp(a * x + b, 0, 1) over one grey frame.
template <typename T>
void LinearClamp(const T* src, size_t n, float a, float b, float* dst) {
  for (size_t i = 0; i < n; ++i) {
    dst[i] = std::min(std::max(a * static_cast<float>(src[i]) + b, 0.f), 1.f);
  }
}

template <typename T>
std::pair<float, float> MinMax(const T* src, size_t n) {
  if (n == 0) return {0.f, 0.f};
  T lo = src[0], hi = src[0];
  for (size_t i = 1; i < n; ++i) {
    lo = std::min(lo, src[i]);
    hi = std::max(hi, src[i]);
  }
  return {static_cast<float>(lo), static_cast<float>(hi)};
}

// Colour: 3 interleaved samples -> 3 planes (or luma) scaled by 1/scale.
template <typename T>
void Colour(const T* src, size_t n, float scale, uint32_t channels, float* dst) {
  if (channels == 3) {
    for (size_t i = 0; i < n; ++i) {
      dst[i] = src[3 * i] * scale;
      dst[n + i] = src[3 * i + 1] * scale;
      dst[2 * n + i] = src[3 * i + 2] * scale;
    }
  } else {
    for (size_t i = 0; i < n; ++i) {
      dst[i] = (0.299f * src[3 * i] + 0.587f * src[3 * i + 1] +
                0.114f * src[3 * i + 2]) * scale;
    }
  }
}

// The grey transform as v = clamp(a * x + b, 0, 1) of a stored value x:
// modality LUT, VOI window (given, file, else the frame's min..max) and
// MONOCHROME1 inversion folded into one line.
template <typename T>
std::pair<double, double> GreyLine(const T* src, size_t n, const ImageInfo& info,
                                   const TransformOptions& o, bool monochrome1) {
  double slope = o.modality_lut ? info.rescale_slope : 1.0;
  double intercept = o.modality_lut ? info.rescale_intercept : 0.0;
  double a, b;
  std::optional<Window> w = o.window;
  if (!w && info.has_window) w = Window{info.window_center, info.window_width};
  if (w && w->width > 1.0) {
    a = slope / (w->width - 1.0);
    b = (intercept - w->center + 0.5) / (w->width - 1.0) + 0.5;
  } else if (w) {  // width <= 1: a threshold at the centre
    a = slope * 1e6;
    b = (intercept - w->center) * 1e6;
  } else {
    auto [lo, hi] = MinMax(src, n);
    double y0 = slope * lo + intercept, y1 = slope * hi + intercept;
    double ylo = std::min(y0, y1), range = std::max(1e-6, std::abs(y1 - y0));
    a = slope / range;
    b = (intercept - ylo) / range;
  }
  if (monochrome1) {
    a = -a;
    b = 1.0 - b;
  }
  return {a, b};
}

template <typename T>
void Grey(const T* src, size_t n, const ImageInfo& info,
          const TransformOptions& o, bool monochrome1, float* dst) {
  auto [a, b] = GreyLine(src, n, info, o, monochrome1);
  LinearClamp(src, n, static_cast<float>(a), static_cast<float>(b), dst);
}

// acc[x] += w * clamp(a * src[x] + b, 0, 1) over one input row: the
// vertical pass of a grey resize with the window folded in (vectorised).
template <typename T>
void AccumulateRow(const T* __restrict src, uint32_t n, float a, float b, float w,
                   float* __restrict acc) {
  for (uint32_t x = 0; x < n; ++x) {
    float v = std::min(std::max(a * static_cast<float>(src[x]) + b, 0.f), 1.f);
    acc[x] += w * v;
  }
}

#if defined(__SSE2__)
// 16-bit rows (CT, MR, CR: nearly all of the work) eight values at a time
// with SSE2 (the x86-64 baseline); the same arithmetic as the loop above.
template <bool kSigned>
void AccumulateRow16(const void* src_row, uint32_t n, float a, float b, float w,
                     float* __restrict acc) {
  const auto* src = static_cast<const uint8_t*>(src_row);
  const __m128 va = _mm_set1_ps(a), vb = _mm_set1_ps(b), vw = _mm_set1_ps(w);
  const __m128 zero = _mm_setzero_ps(), one = _mm_set1_ps(1.f);
  auto step = [&](__m128i ints, float* out) {
    __m128 v = _mm_add_ps(_mm_mul_ps(va, _mm_cvtepi32_ps(ints)), vb);
    v = _mm_min_ps(_mm_max_ps(v, zero), one);
    _mm_storeu_ps(out, _mm_add_ps(_mm_loadu_ps(out), _mm_mul_ps(vw, v)));
  };
  uint32_t x = 0;
  for (; x + 8 <= n; x += 8) {
    __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + 2 * size_t{x}));
    __m128i lo, hi;
    if constexpr (kSigned) {
      lo = _mm_srai_epi32(_mm_unpacklo_epi16(v, v), 16);
      hi = _mm_srai_epi32(_mm_unpackhi_epi16(v, v), 16);
    } else {
      lo = _mm_unpacklo_epi16(v, _mm_setzero_si128());
      hi = _mm_unpackhi_epi16(v, _mm_setzero_si128());
    }
    step(lo, acc + x);
    step(hi, acc + x + 4);
  }
  using T = std::conditional_t<kSigned, int16_t, uint16_t>;
  const T* rest = reinterpret_cast<const T*>(src);
  for (; x < n; ++x) {
    float v = std::min(std::max(a * static_cast<float>(rest[x]) + b, 0.f), 1.f);
    acc[x] += w * v;
  }
}

template <>
void AccumulateRow<int16_t>(const int16_t* __restrict src, uint32_t n, float a, float b,
                            float w, float* __restrict acc) {
  AccumulateRow16<true>(src, n, a, b, w, acc);
}
template <>
void AccumulateRow<uint16_t>(const uint16_t* __restrict src, uint32_t n, float a, float b,
                             float w, float* __restrict acc) {
  AccumulateRow16<false>(src, n, a, b, w, acc);
}
#endif

template <typename T>
void ToPlanes(const DecodedImage& image, uint32_t frame, const ImageInfo& info,
              const TransformOptions& o, float* dst) {
  const T* src = reinterpret_cast<const T*>(image.frame(frame));
  size_t n = size_t{image.rows} * image.columns;
  if (image.samples_per_pixel == 3) {
    uint32_t bits = info.bits_stored ? info.bits_stored : 8 * sizeof(T);
    float scale = 1.0f / static_cast<float>((uint64_t{1} << std::min(bits, 31u)) - 1);
    Colour(src, n, scale, o.channels, dst);
    return;
  }
  Grey(src, n, info, o, image.photometric == "MONOCHROME1", dst);
  if (o.channels == 3) {
    std::copy(dst, dst + n, dst + n);
    std::copy(dst, dst + n, dst + 2 * n);
  }
}

}  // namespace

size_t OutputTypeSize(OutputType type) {
  switch (type) {
    case OutputType::kFloat32: return 4;
    case OutputType::kFloat16: return 2;
    case OutputType::kUint8: return 1;
  }
  return 4;
}

absl::Status ValidateTransformOptions(const TransformOptions& o) {
  if (o.height == 0 || o.width == 0 || o.height > 16384 || o.width > 16384) {
    return absl::InvalidArgumentError(
        absl::StrCat("output size ", o.height, "x", o.width, " is out of range"));
  }
  if (o.channels != 1 && o.channels != 3) {
    return absl::InvalidArgumentError(
        absl::StrCat("channels must be 1 or 3, not ", o.channels));
  }
  for (uint32_t c = 0; c < o.channels; ++c) {
    if (o.std[c] == 0.f) return absl::InvalidArgumentError("std must not be 0");
  }
  if (o.window && o.window->width <= 0) {
    return absl::InvalidArgumentError("window width must be positive");
  }
  return absl::OkStatus();
}

void Transformer::BuildTaps(uint32_t in, uint32_t out, Taps* t) {
  if (t->in == in && t->out == out) return;
  t->in = in;
  t->out = out;
  t->start.assign(out, 0);
  t->count.assign(out, 0);
  t->offset.assign(out, 0);
  t->weight.clear();
  const double scale = double(in) / out;
  for (uint32_t i = 0; i < out; ++i) {
    t->offset[i] = static_cast<uint32_t>(t->weight.size());
    if (scale > 1.0) {  // area: overlap of [i*s, (i+1)*s) with each pixel
      double lo = i * scale, hi = std::min<double>(in, (i + 1) * scale);
      uint32_t first = static_cast<uint32_t>(lo);
      t->start[i] = first;
      for (uint32_t k = first; k < in && k < hi; ++k) {
        double w = std::min<double>(k + 1, hi) - std::max<double>(k, lo);
        if (w <= 1e-9) continue;
        t->weight.push_back(static_cast<float>(w / scale));
        ++t->count[i];
      }
    } else {  // bilinear with pixel centres aligned (half-pixel)
      double x = std::clamp((i + 0.5) * scale - 0.5, 0.0, double(in - 1));
      uint32_t x0 = static_cast<uint32_t>(x);
      float f = static_cast<float>(x - x0);
      t->start[i] = x0;
      t->weight.push_back(1.f - f);
      t->count[i] = 1;
      if (x0 + 1 < in) {
        t->weight.push_back(f);
        t->count[i] = 2;
      }
    }
  }
}

void Transformer::Resize(const float* src, uint32_t in_h, uint32_t in_w,
                         float* dst, uint32_t out_h, uint32_t out_w) {
  BuildTaps(in_w, out_w, &horizontal_);
  BuildTaps(in_h, out_h, &vertical_);
  rows_.resize(size_t{in_h} * out_w);
  for (uint32_t y = 0; y < in_h; ++y) {
    const float* s = src + size_t{y} * in_w;
    float* d = rows_.data() + size_t{y} * out_w;
    for (uint32_t x = 0; x < out_w; ++x) {
      const float* w = horizontal_.weight.data() + horizontal_.offset[x];
      const float* p = s + horizontal_.start[x];
      float acc = 0.f;
      for (uint32_t k = 0; k < horizontal_.count[x]; ++k) acc += w[k] * p[k];
      d[x] = acc;
    }
  }
  for (uint32_t y = 0; y < out_h; ++y) {
    float* d = dst + size_t{y} * out_w;
    std::fill(d, d + out_w, 0.f);
    const float* w = vertical_.weight.data() + vertical_.offset[y];
    for (uint32_t k = 0; k < vertical_.count[y]; ++k) {
      const float* s = rows_.data() + size_t{vertical_.start[y] + k} * out_w;
      const float wk = w[k];
      for (uint32_t x = 0; x < out_w; ++x) d[x] += wk * s[x];
    }
  }
}

template <typename T>
void Transformer::ResizeGrey(const T* src, uint32_t in_h, uint32_t in_w, float a, float b,
                             float* dst, uint32_t out_h, uint32_t out_w) {
  BuildTaps(in_w, out_w, &horizontal_);
  BuildTaps(in_h, out_h, &vertical_);
  rows_.resize(in_w);
  float* acc = rows_.data();
  for (uint32_t y = 0; y < out_h; ++y) {
    std::fill(acc, acc + in_w, 0.f);
    const float* wy = vertical_.weight.data() + vertical_.offset[y];
    for (uint32_t k = 0; k < vertical_.count[y]; ++k) {
      AccumulateRow(src + size_t{vertical_.start[y] + k} * in_w, in_w, a, b, wy[k], acc);
    }
    float* d = dst + size_t{y} * out_w;
    for (uint32_t x = 0; x < out_w; ++x) {
      const float* w = horizontal_.weight.data() + horizontal_.offset[x];
      const float* p = acc + horizontal_.start[x];
      float sum = 0.f;
      for (uint32_t k = 0; k < horizontal_.count[x]; ++k) sum += w[k] * p[k];
      d[x] = sum;
    }
  }
}

template <typename T>
void Transformer::GreyPlanes(const DecodedImage& image, uint32_t frame, const ImageInfo& info,
                             const TransformOptions& o, float* planes) {
  const T* src = reinterpret_cast<const T*>(image.frame(frame));
  auto [a, b] = GreyLine(src, size_t{image.rows} * image.columns, info, o,
                         image.photometric == "MONOCHROME1");
  ResizeGrey(src, image.rows, image.columns, static_cast<float>(a), static_cast<float>(b),
             planes, o.height, o.width);
}

std::pair<double, double> GreyCoefficients(const DecodedImage& image, uint32_t frame,
                                           const ImageInfo& info, const TransformOptions& o) {
  const size_t n = size_t{image.rows} * image.columns;
  const bool m1 = image.photometric == "MONOCHROME1";
  const std::byte* p = image.frame(frame);
  switch (image.type) {
    case PixelType::kU8: return GreyLine(reinterpret_cast<const uint8_t*>(p), n, info, o, m1);
    case PixelType::kI8: return GreyLine(reinterpret_cast<const int8_t*>(p), n, info, o, m1);
    case PixelType::kU16: return GreyLine(reinterpret_cast<const uint16_t*>(p), n, info, o, m1);
    case PixelType::kI16: return GreyLine(reinterpret_cast<const int16_t*>(p), n, info, o, m1);
    case PixelType::kU32: return GreyLine(reinterpret_cast<const uint32_t*>(p), n, info, o, m1);
    case PixelType::kI32: return GreyLine(reinterpret_cast<const int32_t*>(p), n, info, o, m1);
  }
  return {1.0, 0.0};
}

void Transformer::ApplyFloat(const DecodedImage& image, uint32_t frame,
                             const ImageInfo& info, const TransformOptions& o,
                             float* planes) {
  const size_t n = size_t{image.rows} * image.columns;
  const size_t out_plane = size_t{o.height} * o.width;
  if (image.samples_per_pixel == 1) {  // grey: window folded into the resize
    switch (image.type) {
      case PixelType::kU8: GreyPlanes<uint8_t>(image, frame, info, o, planes); break;
      case PixelType::kI8: GreyPlanes<int8_t>(image, frame, info, o, planes); break;
      case PixelType::kU16: GreyPlanes<uint16_t>(image, frame, info, o, planes); break;
      case PixelType::kI16: GreyPlanes<int16_t>(image, frame, info, o, planes); break;
      case PixelType::kU32: GreyPlanes<uint32_t>(image, frame, info, o, planes); break;
      case PixelType::kI32: GreyPlanes<int32_t>(image, frame, info, o, planes); break;
    }
    for (uint32_t c = 1; c < o.channels; ++c) {
      std::copy(planes, planes + out_plane, planes + c * out_plane);
    }
    return;
  }
  source_.resize(n * o.channels);
  switch (image.type) {
    case PixelType::kU8: ToPlanes<uint8_t>(image, frame, info, o, source_.data()); break;
    case PixelType::kI8: ToPlanes<int8_t>(image, frame, info, o, source_.data()); break;
    case PixelType::kU16: ToPlanes<uint16_t>(image, frame, info, o, source_.data()); break;
    case PixelType::kI16: ToPlanes<int16_t>(image, frame, info, o, source_.data()); break;
    case PixelType::kU32: ToPlanes<uint32_t>(image, frame, info, o, source_.data()); break;
    case PixelType::kI32: ToPlanes<int32_t>(image, frame, info, o, source_.data()); break;
  }
  for (uint32_t c = 0; c < o.channels; ++c) {
    if (c > 0 && image.samples_per_pixel == 1) {  // replicated grey
      std::copy(planes, planes + out_plane, planes + c * out_plane);
      continue;
    }
    Resize(source_.data() + c * n, image.rows, image.columns,
           planes + c * out_plane, o.height, o.width);
  }
}

void Transformer::Finish(const float* planes, const TransformOptions& o,
                         size_t plane_stride, void* out) {
  const size_t n = size_t{o.height} * o.width;
  for (uint32_t c = 0; c < o.channels; ++c) {
    const float* s = planes + c * n;
    const float mean = o.mean[c], inv = 1.f / o.std[c];
    switch (o.dtype) {
      case OutputType::kFloat32: {
        float* d = static_cast<float*>(out) + c * plane_stride;
        for (size_t i = 0; i < n; ++i) d[i] = (s[i] - mean) * inv;
        break;
      }
      case OutputType::kFloat16: {
        _Float16* d = static_cast<_Float16*>(out) + c * plane_stride;
        for (size_t i = 0; i < n; ++i) d[i] = static_cast<_Float16>((s[i] - mean) * inv);
        break;
      }
      case OutputType::kUint8: {
        uint8_t* d = static_cast<uint8_t*>(out) + c * plane_stride;
        for (size_t i = 0; i < n; ++i) {
          float v = std::clamp(s[i], 0.f, 1.f) * 255.f + 0.5f;
          d[i] = static_cast<uint8_t>(v);
        }
        break;
      }
    }
  }
}

void Transformer::Apply(const DecodedImage& image, uint32_t frame,
                        const ImageInfo& info, const TransformOptions& o,
                        void* out) {
  planes_.resize(size_t{o.channels} * o.height * o.width);
  ApplyFloat(image, frame, info, o, planes_.data());
  Finish(planes_.data(), o, size_t{o.height} * o.width, out);
}

}  // namespace medfs::loader
