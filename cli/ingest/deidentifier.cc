#include "cli/ingest/deidentifier.h"

#include <openssl/hmac.h>
#include <openssl/evp.h>

#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/civil_time.h"
#include "cli/ingest/deid_table.h"
#include "common/status.h"
#include "dcmtk/config/osconfig.h"
#include "dcmtk/dcmdata/dcdatset.h"
#include "dcmtk/dcmdata/dcdeftag.h"
#include "dcmtk/dcmdata/dcmetinf.h"
#include "dcmtk/dcmdata/dcsequen.h"

namespace medfs::ingest {
namespace {

constexpr absl::string_view kRegistryPrefix = "1.2.840.10008.";

// UI attributes that name classes, syntaxes or coding schemes, not
// instances: never remapped.
bool IsClassUid(const DcmTagKey& tag) {
  static const DcmTagKey kKeep[] = {
      DCM_MediaStorageSOPClassUID, DCM_TransferSyntaxUID,
      DCM_ImplementationClassUID,  DCM_SOPClassUID,
      DCM_RelatedGeneralSOPClassUID, DCM_OriginalSpecializedSOPClassUID,
      DCM_CodingSchemeUID,         DCM_ContextUID,
      DCM_MappingResourceUID,      DCM_ReferencedSOPClassUID,
      DCM_ReferencedSOPClassUIDInFile,
      DCM_ReferencedTransferSyntaxUIDInFile, DCM_SOPClassesInStudy,
      DCM_ReferencedRelatedGeneralSOPClassUIDInFile,
  };
  for (const DcmTagKey& keep : kKeep) {
    if (tag == keep) return true;
  }
  return false;
}

std::string DummyFor(DcmEVR vr) {
  switch (vr) {
    case EVR_AS: return "000Y";
    case EVR_DA: return "19000101";
    case EVR_DT: return "19000101000000";
    case EVR_TM: return "000000";
    case EVR_DS: case EVR_IS: case EVR_FL: case EVR_FD: case EVR_SL:
    case EVR_SS: case EVR_UL: case EVR_US: case EVR_SV: case EVR_UV:
      return "0";
    case EVR_AE: case EVR_CS: return "ANONYMIZED";
    default: return "ANONYMIZED";
  }
}

bool IsStringVr(DcmEVR vr) {
  switch (vr) {
    case EVR_OB: case EVR_OW: case EVR_OF: case EVR_OD: case EVR_OL:
    case EVR_OV: case EVR_UN: case EVR_SQ: case EVR_AT:
      return false;
    default:
      return true;
  }
}

// Shifts each YYYYMMDD date at the start of each value back `days` days;
// values that are not dates become the dummy date.
std::string ShiftDates(const std::string& values, int days, bool datetime) {
  std::vector<std::string> out;
  for (absl::string_view v : absl::StrSplit(values, '\\')) {
    int y = 0, m = 0, d = 0;
    if (v.size() < 8 || !absl::SimpleAtoi(v.substr(0, 4), &y) ||
        !absl::SimpleAtoi(v.substr(4, 2), &m) ||
        !absl::SimpleAtoi(v.substr(6, 2), &d)) {
      out.push_back(datetime ? "19000101000000" : "19000101");
      continue;
    }
    absl::CivilDay day = absl::CivilDay(y, m, d) - days;
    std::string shifted = absl::StrCat(
        absl::Dec(day.year(), absl::kZeroPad4), absl::Dec(day.month(), absl::kZeroPad2),
        absl::Dec(day.day(), absl::kZeroPad2));
    if (datetime) absl::StrAppend(&shifted, v.substr(8));
    out.push_back(shifted);
  }
  return absl::StrJoin(out, "\\");
}

struct Context {
  const Deidentifier* deid;
  std::string pseudonym;
  int shift_days;
};

DeidAction ActionFor(const Deidentifier& deid, const DcmTagKey& tag,
                     DcmEVR vr, std::string* value) {
  const DeidTableEntry* entry = FindDeidEntry(tag.getGroup(), tag.getElement());
  DeidAction action = DeidAction::kK;
  if (entry != nullptr) {
    action = entry->action;
    if (entry->retain_patient_characteristics &&
        deid.options().retain_patient_characteristics) {
      action = DeidAction::kK;
    }
  } else if (!DeidRepeatingGroupAction(tag.getGroup(), tag.getElement(),
                                       &action) &&
             vr == EVR_UI && !IsClassUid(tag)) {
    action = DeidAction::kU;  // any other instance UID
  }
  return action;
}

absl::Status ProcessItem(DcmItem* item, const Context& ctx, int depth);

absl::Status ApplyToString(DcmElement* elem, DeidAction action,
                           const Context& ctx) {
  DcmTagKey tag = elem->getTag().getXTag();
  DcmEVR vr = elem->getTag().getEVR();
  bool retain = ctx.deid->options().retain_dates;
  const DeidTableEntry* entry = FindDeidEntry(tag.getGroup(), tag.getElement());
  OFString value;
  elem->getOFStringArray(value);
  std::string v(value.c_str());
  if (tag == DCM_PatientID || tag == DCM_PatientName) {
    return elem->putString(ctx.pseudonym.c_str()).good()
               ? absl::OkStatus()
               : absl::InternalError("cannot set patient pseudonym");
  }
  // The birth date is not part of the longitudinal information.
  if (entry != nullptr && retain && action != DeidAction::kK &&
      tag != DCM_PatientBirthDate) {
    if (vr == EVR_DA || vr == EVR_DT) {
      std::string shifted = v.empty() ? v : ShiftDates(v, ctx.shift_days, vr == EVR_DT);
      elem->putString(shifted.c_str());
      return absl::OkStatus();
    }
    if (vr == EVR_TM) return absl::OkStatus();
  }
  switch (action) {
    case DeidAction::kK:
      return absl::OkStatus();
    case DeidAction::kZ:
      elem->clear();
      return absl::OkStatus();
    case DeidAction::kD:
      elem->putString(vr == EVR_UI ? ctx.deid->RemapUid(v).c_str()
                                   : DummyFor(vr).c_str());
      return absl::OkStatus();
    case DeidAction::kU: {
      std::vector<std::string> out;
      for (absl::string_view uid : absl::StrSplit(v, '\\')) {
        out.push_back(ctx.deid->RemapUid(uid));
      }
      elem->putString(absl::StrJoin(out, "\\").c_str());
      return absl::OkStatus();
    }
    case DeidAction::kX:
      break;
  }
  return absl::OkStatus();
}

absl::Status ApplyToSequence(DcmSequenceOfItems* seq, DeidAction action,
                             const Context& ctx, int depth) {
  if (action == DeidAction::kZ) {
    seq->clear();
    return absl::OkStatus();
  }
  for (unsigned long i = 0; i < seq->card(); ++i) {
    RETURN_IF_ERROR(ProcessItem(seq->getItem(i), ctx, depth + 1));
  }
  return absl::OkStatus();
}

absl::Status ProcessItem(DcmItem* item, const Context& ctx, int depth) {
  if (depth > 32) return absl::InvalidArgumentError("sequences nested too deep");
  for (long i = static_cast<long>(item->card()) - 1; i >= 0; --i) {
    DcmElement* elem = item->getElement(static_cast<unsigned long>(i));
    DcmTagKey tag = elem->getTag().getXTag();
    DcmEVR vr = elem->getTag().getEVR();
    bool group_length = tag.getElement() == 0x0000;
    std::string unused;
    DeidAction action = ActionFor(*ctx.deid, tag, vr, &unused);
    if (tag.isPrivate() || group_length || action == DeidAction::kX) {
      delete item->remove(static_cast<unsigned long>(i));
      continue;
    }
    if (vr == EVR_SQ) {
      RETURN_IF_ERROR(ApplyToSequence(static_cast<DcmSequenceOfItems*>(elem),
                                      action, ctx, depth));
    } else if (IsStringVr(vr)) {
      RETURN_IF_ERROR(ApplyToString(elem, action, ctx));
    } else if (action != DeidAction::kK) {
      elem->clear();  // binary value of an identifying attribute
    }
  }
  return absl::OkStatus();
}

absl::Status RecordMethod(DcmDataset* dataset, const Deidentifier& deid) {
  const DeidOptions& o = deid.options();
  dataset->putAndInsertString(DCM_PatientIdentityRemoved, "YES");
  std::string method = "DICOM PS3.15 E.1 Basic Application Confidentiality";
  if (o.retain_dates) absl::StrAppend(&method, "\\Retain Longitudinal Modified Dates");
  if (o.retain_patient_characteristics) {
    absl::StrAppend(&method, "\\Retain Patient Characteristics");
  }
  dataset->putAndInsertString(DCM_DeidentificationMethod, method.c_str());
  dataset->findAndDeleteElement(DCM_DeidentificationMethodCodeSequence);
  std::vector<std::pair<const char*, const char*>> codes = {
      {"113100", "Basic Application Confidentiality Profile"}};
  if (o.retain_dates) {
    codes.push_back({"113107",
                     "Retain Longitudinal Temporal Information Modified Dates Option"});
  }
  if (o.retain_patient_characteristics) {
    codes.push_back({"113108", "Retain Patient Characteristics Option"});
  }
  for (const auto& [value, meaning] : codes) {
    DcmItem* code = nullptr;
    if (!dataset->findOrCreateSequenceItem(DCM_DeidentificationMethodCodeSequence,
                                           code, -2).good()) {
      return absl::InternalError("cannot record the de-identification method");
    }
    code->putAndInsertString(DCM_CodeValue, value);
    code->putAndInsertString(DCM_CodingSchemeDesignator, "DCM");
    code->putAndInsertString(DCM_CodeMeaning, meaning);
  }
  dataset->putAndInsertString(DCM_LongitudinalTemporalInformationModified,
                              o.retain_dates ? "MODIFIED" : "REMOVED");
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Deidentifier> Deidentifier::Create(const DeidOptions& options) {
  if (options.key.size() < 16) {
    return absl::InvalidArgumentError(absl::StrCat(
        "de-identification key: need at least 16 bytes, got ",
        options.key.size()));
  }
  return Deidentifier(options);
}

std::array<uint8_t, 32> Deidentifier::Mac(absl::string_view domain,
                                          absl::string_view value) const {
  std::string message = absl::StrCat(domain, ":", value);
  std::array<uint8_t, 32> out{};
  unsigned int length = 0;
  HMAC(EVP_sha256(), options_.key.data(), static_cast<int>(options_.key.size()),
       reinterpret_cast<const unsigned char*>(message.data()), message.size(),
       out.data(), &length);
  return out;
}

std::string Deidentifier::RemapUid(absl::string_view uid) const {
  uid = absl::StripAsciiWhitespace(uid);
  while (!uid.empty() && uid.back() == '\0') uid.remove_suffix(1);
  if (uid.empty() || absl::StartsWith(uid, kRegistryPrefix)) {
    return std::string(uid);
  }
  std::array<uint8_t, 32> mac = Mac("uid", uid);
  unsigned __int128 n = 0;
  for (int i = 0; i < 16; ++i) n = (n << 8) | mac[i];
  std::string digits;
  do {
    digits.insert(digits.begin(), static_cast<char>('0' + static_cast<int>(n % 10)));
    n /= 10;
  } while (n != 0);
  return absl::StrCat("2.25.", digits);
}

std::string Deidentifier::Pseudonym(absl::string_view patient_id) const {
  std::array<uint8_t, 32> mac = Mac("patient", patient_id);
  std::string out = "ANON";
  for (int i = 0; i < 8; ++i) absl::StrAppend(&out, absl::Hex(mac[i], absl::kZeroPad2));
  return absl::AsciiStrToUpper(out);
}

int Deidentifier::DateShiftDays(absl::string_view patient_id) const {
  std::array<uint8_t, 32> mac = Mac("date-shift", patient_id);
  uint64_t n = 0;
  for (int i = 0; i < 8; ++i) n = (n << 8) | mac[i];
  return 1 + static_cast<int>(n % 3650);
}

std::string Deidentifier::Description() const {
  std::string out = "DICOM PS3.15 Basic Profile";
  if (options_.retain_dates) absl::StrAppend(&out, "; RetainLongitudinalModifiedDates");
  if (options_.retain_patient_characteristics) {
    absl::StrAppend(&out, "; RetainPatientCharacteristics");
  }
  return out;
}

absl::Status Deidentifier::Apply(DcmDataset* dataset, DcmMetaInfo* meta) const {
  OFString burned;
  if (dataset->findAndGetOFString(DCM_BurnedInAnnotation, burned).good() &&
      burned == "YES") {
    return absl::FailedPreconditionError(
        "BurnedInAnnotation is YES: the pixels may show identifying text and "
        "the Basic Profile cannot clean them");
  }
  OFString patient_id;
  dataset->findAndGetOFStringArray(DCM_PatientID, patient_id);
  Context ctx{this, Pseudonym(patient_id.c_str()),
              DateShiftDays(patient_id.c_str())};
  RETURN_IF_ERROR(ProcessItem(dataset, ctx, 0));
  RETURN_IF_ERROR(RecordMethod(dataset, *this));
  if (meta != nullptr) {
    for (const DcmTagKey& tag :
         {DCM_SourceApplicationEntityTitle, DCM_SendingApplicationEntityTitle,
          DCM_ReceivingApplicationEntityTitle, DCM_PrivateInformationCreatorUID,
          DCM_PrivateInformation}) {
      meta->findAndDeleteElement(tag);
    }
    OFString sop;
    if (dataset->findAndGetOFString(DCM_SOPInstanceUID, sop).good()) {
      meta->putAndInsertString(DCM_MediaStorageSOPInstanceUID, sop.c_str());
    }
  }
  return absl::OkStatus();
}

}  // namespace medfs::ingest
