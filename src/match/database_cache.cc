#include "match/database_cache.h"

#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "steppewatch/common/files.h"

namespace steppewatch::match::internal {
namespace {

using files::FileImage;
using files::Hash64;
using files::WriteFileAtomically;

// Bump when the file layout changes: old files then fail the magic check and are rewritten.
// 02: word-at-a-time checksums (Hash64) instead of byte-wise FNV-1a.
constexpr char kMagic[8] = {'S', 'W', 'H', 'S', 'D', 'B', '0', '2'};

void PutU64(std::string* out, uint64_t v) { out->append(reinterpret_cast<const char*>(&v), 8); }

void PutBytes(std::string* out, std::string_view bytes) {
  PutU64(out, bytes.size());
  out->append(bytes);
}

std::string EnvironmentBlob(const CacheEnvironment& env) {
  std::string out;
  PutBytes(&out, env.hs_version);
  PutU64(&out, env.platform.tune);
  PutU64(&out, env.platform.cpu_features);
  return out;
}

// Reads fields in order from a file image, failing on a short read.
class Reader {
 public:
  explicit Reader(std::string_view data) : data_(data) {}
  bool U64(uint64_t* v) {
    if (data_.size() < 8) return false;
    std::memcpy(v, data_.data(), 8);
    data_.remove_prefix(8);
    return true;
  }
  bool Bytes(std::string_view* out) {
    uint64_t n = 0;
    if (!U64(&n) || n > data_.size()) return false;
    *out = data_.substr(0, n);
    data_.remove_prefix(n);
    return true;
  }
  bool Raw(size_t n, std::string_view* out) {
    if (n > data_.size()) return false;
    *out = data_.substr(0, n);
    data_.remove_prefix(n);
    return true;
  }
  bool empty() const { return data_.empty(); }

 private:
  std::string_view data_;
};

void FreeAll(DatabaseSet* dbs) {
  for (auto*& db : *dbs) {
    hs_free_database(db);
    db = nullptr;
  }
}

}  // namespace

absl::StatusOr<CacheEnvironment> CurrentEnvironment() {
  CacheEnvironment env;
  env.hs_version = hs_version();
  if (hs_populate_platform(&env.platform) != HS_SUCCESS) {
    return absl::InternalError("hs_populate_platform failed");
  }
  return env;
}

std::string CacheFilePath(const std::string& dir, std::string_view key,
                          const CacheEnvironment& env) {
  return absl::StrFormat("%s/hsdb-%016x-%016x.bin", dir, Hash64(key), Hash64(EnvironmentBlob(env)));
}

absl::StatusOr<DatabaseSet> LoadDatabases(const std::string& dir, std::string_view key,
                                          const CacheEnvironment& env) {
  const std::string path = CacheFilePath(dir, key, env);
  // One read of the file's size: an istreambuf_iterator copy into a growing string cost ~6% of a
  // cached 100k-term start (per-byte loop, regrowth, zeroing).
  absl::StatusOr<FileImage> file = FileImage::Read(path);
  if (!file.ok()) return file.status();
  Reader r(file->data());
  std::string_view magic, file_env, file_key;
  if (!r.Raw(sizeof(kMagic), &magic) || magic != std::string_view(kMagic, sizeof(kMagic))) {
    return absl::DataLossError(absl::StrCat("cache file ", path, ": bad magic"));
  }
  if (!r.Bytes(&file_env)) return absl::DataLossError(absl::StrCat(path, ": truncated"));
  if (file_env != EnvironmentBlob(env)) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, ": compiled by another Hyperscan version or for another CPU"));
  }
  if (!r.Bytes(&file_key)) return absl::DataLossError(absl::StrCat(path, ": truncated"));
  if (file_key != key) {
    return absl::FailedPreconditionError(absl::StrCat(path, ": another term set (hash collision)"));
  }
  DatabaseSet dbs{};
  for (size_t i = 0; i < kDatabaseCount; ++i) {
    uint64_t checksum = 0;
    std::string_view blob;
    if (!r.U64(&checksum) || !r.Bytes(&blob) || Hash64(blob) != checksum) {
      FreeAll(&dbs);
      return absl::DataLossError(absl::StrCat(path, ": database ", i, " corrupt"));
    }
    if (blob.empty()) continue;
    const hs_error_t err = hs_deserialize_database(blob.data(), blob.size(), &dbs[i]);
    if (err != HS_SUCCESS) {
      FreeAll(&dbs);
      return absl::DataLossError(
          absl::StrCat(path, ": hs_deserialize_database failed with code ", err));
    }
  }
  if (!r.empty()) {
    FreeAll(&dbs);
    return absl::DataLossError(absl::StrCat(path, ": trailing bytes"));
  }
  return dbs;
}

absl::Status StoreDatabases(const std::string& dir, std::string_view key,
                            const CacheEnvironment& env, const DatabaseSet& dbs) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec)
    return absl::InternalError(absl::StrCat("cannot create cache dir ", dir, ": ", ec.message()));
  std::string image(kMagic, sizeof(kMagic));
  PutBytes(&image, EnvironmentBlob(env));
  PutBytes(&image, key);
  for (hs_database_t* db : dbs) {
    std::string_view blob;
    char* bytes = nullptr;
    size_t length = 0;
    if (db != nullptr) {
      const hs_error_t err = hs_serialize_database(db, &bytes, &length);
      if (err != HS_SUCCESS) {
        return absl::InternalError(absl::StrCat("hs_serialize_database failed with code ", err));
      }
      blob = std::string_view(bytes, length);
    }
    PutU64(&image, Hash64(blob));
    PutBytes(&image, blob);
    std::free(bytes);  // Hyperscan's default allocator is malloc
  }
  return WriteFileAtomically(CacheFilePath(dir, key, env), {image});
}

}  // namespace steppewatch::match::internal
