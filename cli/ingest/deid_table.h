// DICOM PS3.15 Annex E, Table E.1-1: the attributes of the Basic
// Application Level Confidentiality Profile and their actions, as data.
//
// Actions (PS3.15 E.3): D replace with a dummy value consistent with the
// VR; Z replace with a zero-length value (or a dummy); X remove; K keep;
// U replace a UID with a consistent, non-identifying one. Compound actions
// of the table are resolved here once, the same way everywhere:
//   Z/D -> D    (a dummy is valid whether the attribute is Type 1 or 2)
//   X/Z -> Z    (stays present for Type 2 attributes, empty)
//   X/D -> D,   X/Z/D -> D
//   X/Z/U* -> U (the sequence is kept; the UIDs inside are replaced)
// Columns of the options used by medfs:
//   retain_patient_characteristics: the attribute is kept (K) under the
//     Retain Patient Characteristics Option.
//   Dates and date-times (VR DA, DT) of the table are shifted, and times
//     (TM) kept, under the Retain Longitudinal Temporal Information with
//     Modified Dates Option; that is decided by VR, not by a column.
// Private attributes (odd groups) are removed by the profile in general
// and are not listed.
#pragma once

#include <cstdint>
#include <span>

namespace medfs::ingest {

enum class DeidAction : uint8_t { kD, kZ, kX, kK, kU };

struct DeidTableEntry {
  uint16_t group;
  uint16_t element;
  DeidAction action;                    // Basic Profile action (resolved)
  bool retain_patient_characteristics;  // K under that option
  const char* keyword;                  // DICOM keyword, for reports
};

// The table, sorted by (group, element). Repeating groups (50xx curves,
// 60xx overlays) are matched by DeidRepeatingGroupAction.
std::span<const DeidTableEntry> DeidTable();

// The entry for (group, element), or nullptr when the table has none.
const DeidTableEntry* FindDeidEntry(uint16_t group, uint16_t element);

// Actions for the repeating groups of the table: Curve Data (50xx,xxxx) X,
// Overlay Data (60xx,3000) X, Overlay Comments (60xx,4000) X. Returns
// false when (group, element) is not one of them.
bool DeidRepeatingGroupAction(uint16_t group, uint16_t element,
                              DeidAction* action);

}  // namespace medfs::ingest
