// The loader's decode stage: Pixel Data bytes of one instance -> pixels.
//
// Supported transfer syntaxes: implicit/explicit VR little endian,
// explicit VR big endian (native pixels), RLE Lossless (own decoder),
// JPEG baseline / extended / lossless (+SV1) and JPEG-LS (DCMTK codecs),
// JPEG 2000 lossless and lossy (OpenJPEG). Single and multi-frame.
//
// Thread safety: a Decoder is used by one thread at a time (it keeps
// reusable scratch buffers); use one per worker thread. The codec
// libraries are registered once per process, on first use.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "loader/decode/image.h"

namespace medfs::loader {

class Decoder {
 public:
  Decoder();

  // Decodes the value of the Pixel Data element (`pixel_bytes`: for
  // encapsulated syntaxes the items starting at the Basic Offset Table)
  // of the instance `info` into `out` (its buffer is reused). With
  // `frame` set, only that frame is decoded and out->frames is 1.
  // Errors (the message names the SOPInstanceUID and the reason):
  //   kUnimplemented    transfer syntax or pixel layout not supported
  //                     (deflated, BitsAllocated 1, float pixel data)
  //   kInvalidArgument  bytes too short or corrupt for the description
  //   kOutOfRange       `frame` >= the number of frames
  absl::Status Decode(const ImageInfo& info,
                      std::span<const std::byte> pixel_bytes,
                      std::optional<uint32_t> frame, DecodedImage* out);

  // Zero copy (default off): native little-endian pixels that need no
  // rearranging are not copied; `out->view` then points into
  // `pixel_bytes`, which the caller keeps unchanged while it uses `out`.
  void set_zero_copy(bool on) { zero_copy_ = on; }

 private:
  absl::Status DecodeNative(const ImageInfo& info,
                            std::span<const std::byte> bytes, uint32_t first,
                            uint32_t count, DecodedImage* out);
  absl::Status DecodeEncapsulated(const ImageInfo& info,
                                  std::span<const std::byte> bytes,
                                  uint32_t first, uint32_t count,
                                  DecodedImage* out);

  std::vector<std::byte> scratch_;  // a frame's concatenated fragments
  bool zero_copy_ = false;
};

// The fragments of each frame of an encapsulated Pixel Data value.
// Errors: kInvalidArgument when the items are malformed or the frames
// cannot be told apart.
using Fragment = std::span<const std::byte>;
absl::StatusOr<std::vector<std::vector<Fragment>>> SplitFrames(
    std::span<const std::byte> bytes, uint32_t frames);

}  // namespace medfs::loader
