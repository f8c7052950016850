// The loader's transform stage: decoded pixels -> network input.
//
// Per frame, in this order: modality LUT (RescaleSlope/Intercept), VOI
// window to [0, 1] (the given window, else the file's first window, else
// the frame's min..max), MONOCHROME1 inversion, resize to the output size
// (bilinear when enlarging, area averaging when shrinking, separable, per
// axis), per-channel normalisation ((v - mean) / std), and conversion to
// the output type. Output layout is channel-major: C x H x W.
//
// Colour (RGB) images skip the LUT and window: samples are scaled by the
// largest stored value. With channels = 1 a colour image becomes its luma;
// with channels = 3 a grey image is replicated to three channels.
//
// Windowing follows DICOM PS3.3 C.11.2.1.2.1 (linear):
//   v <= c - 0.5 - (w - 1) / 2  -> 0,  v > c - 0.5 + (w - 1) / 2 -> 1,
//   else ((v - (c - 0.5)) / (w - 1) + 0.5).
//
// Thread safety: a Transformer is used by one thread at a time (it keeps
// scratch buffers and resize tables); use one per worker thread.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "loader/decode/image.h"

namespace medfs::loader {

enum class OutputType : uint8_t { kFloat32, kFloat16, kUint8 };
size_t OutputTypeSize(OutputType type);

struct Window {
  double center = 40;
  double width = 400;
};

struct TransformOptions {
  // Output size in pixels.
  uint32_t height = 224;
  uint32_t width = 224;
  // VOI window in modality units; unset: the file's, else min..max.
  std::optional<Window> window;
  // Apply RescaleSlope/Intercept before windowing. Default on.
  bool modality_lut = true;
  // Output channels: 1 or 3.
  uint32_t channels = 1;
  // Per-channel normalisation after windowing; the defaults keep [0, 1].
  std::array<float, 3> mean = {0.f, 0.f, 0.f};
  std::array<float, 3> std = {1.f, 1.f, 1.f};
  // float32, float16, or uint8 (round(clamp(v, 0, 1) * 255), normalisation
  // not applied).
  OutputType dtype = OutputType::kFloat32;

  // Bytes of one output image.
  size_t image_bytes() const {
    return size_t{channels} * height * width * OutputTypeSize(dtype);
  }
};

// kInvalidArgument when options are unusable (zero size, channels not 1
// or 3, std 0).
absl::Status ValidateTransformOptions(const TransformOptions& options);

// The grey transform of one frame as a line: every stored value x maps to
// clamp(a * x + b, 0, 1) before the resize (modality LUT, VOI window --
// given, from the file, else the frame's min..max -- and MONOCHROME1
// folded together). Used by the CPU transform and handed to the GPU path.
// REQUIRES: image.samples_per_pixel == 1, frame < image.frames.
std::pair<double, double> GreyCoefficients(const DecodedImage& image, uint32_t frame,
                                           const ImageInfo& info,
                                           const TransformOptions& options);

// One sample of a raw-frames batch (the loader's StageOutput::kRawFrames,
// transformed on the GPU). Such a batch buffer holds batch_size RawFrames
// (Loader::raw_header_bytes()) followed by one slot per sample of
// Loader::raw_slot_bytes(); `offset` is where the frame's pixels start.
struct RawFrame {
  uint64_t offset = 0;              // bytes from the start of the buffer
  uint32_t rows = 0;                // 0: the sample failed; output zeros
  uint32_t columns = 0;
  uint32_t samples_per_pixel = 1;   // 1 (grey) or 3 (interleaved RGB)
  uint32_t pixel_type = 0;          // PixelType
  float a = 1.f;                    // grey: clamp(a * x + b, 0, 1)
  float b = 0.f;                    // colour: x * a, per channel
};
static_assert(sizeof(RawFrame) == 32);

class Transformer {
 public:
  // Transforms frame `frame` of `image` (described by `info`: slope,
  // intercept, file window) into `out` (options.image_bytes() bytes).
  // REQUIRES: ValidateTransformOptions(options).ok(), frame < image.frames.
  void Apply(const DecodedImage& image, uint32_t frame, const ImageInfo& info,
             const TransformOptions& options, void* out);

  // The first half of Apply: windowed and resized planes in [0, 1] as
  // float, `planes` is options.channels x height x width, before
  // normalisation and type conversion (used to build volumes).
  void ApplyFloat(const DecodedImage& image, uint32_t frame,
                  const ImageInfo& info, const TransformOptions& options,
                  float* planes);

  // The second half: normalises `planes` (channels x H x W) and writes the
  // output type. `plane_stride` is the distance in output elements between
  // channel planes of `out` (H*W for an image; D*H*W for a volume slice).
  static void Finish(const float* planes, const TransformOptions& options,
                     size_t plane_stride, void* out);

 private:
  struct Taps {
    uint32_t in = 0, out = 0;
    std::vector<uint32_t> start;   // first input index per output index
    std::vector<uint32_t> count;   // taps per output index
    std::vector<uint32_t> offset;  // into weight
    std::vector<float> weight;
  };
  static void BuildTaps(uint32_t in, uint32_t out, Taps* taps);
  // Grey frames: vertical pass first over windowed input rows (one row of
  // accumulators, vectorised), then the horizontal taps of that row.
  template <typename T>
  void GreyPlanes(const DecodedImage& image, uint32_t frame, const ImageInfo& info,
                  const TransformOptions& options, float* planes);
  template <typename T>
  void ResizeGrey(const T* src, uint32_t in_h, uint32_t in_w, float a, float b,
                  float* dst, uint32_t out_h, uint32_t out_w);
  void Resize(const float* src, uint32_t in_h, uint32_t in_w, float* dst,
              uint32_t out_h, uint32_t out_w);

  Taps horizontal_, vertical_;
  std::vector<float> source_;  // channels x in_h x in_w, windowed
  std::vector<float> rows_;    // colour: in_h x out_w after the horizontal
                               // pass; grey: one row of in_w accumulators
  std::vector<float> planes_;  // channels x out_h x out_w
};

}  // namespace medfs::loader
