#include "common/crc32c.h"

#include <isa-l/crc.h>

namespace medfs {

uint32_t Crc32cExtend(uint32_t crc, const void* data, size_t length) {
  // ISA-L's crc32_iscsi takes and returns the inverted register value.
  return ~crc32_iscsi(static_cast<unsigned char*>(const_cast<void*>(data)),
                      static_cast<int>(length), ~crc);
}

}  // namespace medfs
