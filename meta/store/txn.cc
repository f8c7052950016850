#include "meta/store/txn.h"

#include "common/status.h"
#include "meta/store/keys.h"

namespace medfs::meta {
namespace {

const char* ProtoKind(Cf cf) {
  switch (cf) {
    case Cf::kInodes: return "inode";
    case Cf::kDentries: return "directory entry";
    case Cf::kChunks: return "chunk";
    case Cf::kServers: return "server";
    default: return "record";
  }
}

}  // namespace

std::string WriteSetKey(Cf cf, absl::string_view key) {
  std::string out;
  out.reserve(key.size() + 1);
  out.push_back(static_cast<char>(cf));
  out.append(key.data(), key.size());
  return out;
}

const std::optional<std::string>* Overlay::Find(const std::string& key) const {
  if (auto it = queued.find(key); it != queued.end()) return &it->second;
  if (auto it = writing.find(key); it != writing.end()) return &it->second;
  if (auto it = durable.find(key); it != durable.end()) return &it->second;
  return nullptr;
}

absl::StatusOr<std::optional<std::string>> Txn::Get(Cf cf,
                                                    absl::string_view key) {
  std::string full = WriteSetKey(cf, key);
  if (auto it = writes_.find(full); it != writes_.end()) return it->second;
  if (const auto* pending = overlay_->Find(full)) return *pending;
  return kv_->Get(cf, key);
}

template <typename Proto>
absl::StatusOr<std::optional<Proto>> Txn::GetProto(Cf cf, absl::string_view key,
                                                   uint64_t id_for_errors) {
  ASSIGN_OR_RETURN(std::optional<std::string> bytes, Get(cf, key));
  if (!bytes) return std::optional<Proto>();
  Proto proto;
  if (!proto.ParseFromString(*bytes)) {
    return absl::DataLossError(absl::StrCat("decoding ", ProtoKind(cf), " ",
                                            id_for_errors, ": bad protobuf"));
  }
  return std::optional<Proto>(std::move(proto));
}

absl::StatusOr<std::optional<v1::Inode>> Txn::GetInode(uint64_t id) {
  return GetProto<v1::Inode>(Cf::kInodes, EncodeId(id), id);
}

absl::StatusOr<std::optional<v1::DirEntryValue>> Txn::GetDentry(
    uint64_t parent, absl::string_view name) {
  return GetProto<v1::DirEntryValue>(Cf::kDentries, DentryKey(parent, name),
                                     parent);
}

absl::StatusOr<std::optional<v1::ChunkRecord>> Txn::GetChunk(uint64_t id) {
  return GetProto<v1::ChunkRecord>(Cf::kChunks, EncodeId(id), id);
}

absl::StatusOr<uint64_t> Txn::GetCounter(absl::string_view name) {
  ASSIGN_OR_RETURN(std::optional<std::string> bytes, Get(Cf::kSystem, name));
  return bytes ? DecodeU64(*bytes) : 0;
}

void Txn::Put(Cf cf, absl::string_view key, std::string value) {
  writes_[WriteSetKey(cf, key)] = std::move(value);
}

void Txn::Delete(Cf cf, absl::string_view key) {
  writes_[WriteSetKey(cf, key)] = std::nullopt;
}

void Txn::PutInode(const v1::Inode& inode) {
  Put(Cf::kInodes, EncodeId(inode.id()), inode.SerializeAsString());
}
void Txn::DeleteInode(uint64_t id) { Delete(Cf::kInodes, EncodeId(id)); }

void Txn::PutDentry(uint64_t parent, absl::string_view name,
                    const v1::DirEntryValue& value) {
  Put(Cf::kDentries, DentryKey(parent, name), value.SerializeAsString());
}
void Txn::DeleteDentry(uint64_t parent, absl::string_view name) {
  Delete(Cf::kDentries, DentryKey(parent, name));
}

void Txn::PutChunk(const v1::ChunkRecord& chunk) {
  Put(Cf::kChunks, EncodeId(chunk.id()), chunk.SerializeAsString());
}
void Txn::DeleteChunk(uint64_t id) { Delete(Cf::kChunks, EncodeId(id)); }

void Txn::PutServer(const v1::ServerRecord& server) {
  Put(Cf::kServers, EncodeId(server.id()), server.SerializeAsString());
}

void Txn::PutCounter(absl::string_view name, uint64_t value) {
  Put(Cf::kSystem, name, EncodeU64(value));
}

absl::Status Txn::AddToCounter(absl::string_view name, int64_t delta) {
  ASSIGN_OR_RETURN(uint64_t value, GetCounter(name));
  if (delta < 0 && static_cast<uint64_t>(-delta) > value) {
    value = 0;
  } else {
    value += delta;
  }
  PutCounter(name, value);
  return absl::OkStatus();
}

}  // namespace medfs::meta
