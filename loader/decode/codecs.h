// Internal: the codec back ends of the Decoder. Each decodes one frame
// into `dst` (exactly info.frame_bytes() bytes, host byte order,
// samples interleaved) and returns the photometric interpretation of the
// decoded pixels.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "loader/decode/image.h"

namespace medfs::loader::internal {

absl::StatusOr<std::string> DecodeRleFrame(const ImageInfo& info,
                                           std::span<const std::byte> frame,
                                           std::span<std::byte> dst);

absl::StatusOr<std::string> DecodeDcmtkFrame(
    const ImageInfo& info, const std::vector<std::span<const std::byte>>& frags,
    std::span<std::byte> dst);

absl::StatusOr<std::string> DecodeJ2kFrame(const ImageInfo& info,
                                           std::span<const std::byte> frame,
                                           std::span<std::byte> dst);

}  // namespace medfs::loader::internal
