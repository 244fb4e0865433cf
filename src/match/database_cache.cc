#include "match/database_cache.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <random>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace steppewatch::match::internal {
namespace {

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

uint64_t Hash64(std::string_view data) {
  // Eight bytes per step: a byte-wise FNV-1a over a 15 MB database was ~10% of a cached start.
  // Multiply by the 64-bit golden ratio and fold the high half down, so every input bit reaches
  // every output bit within a few words; the length goes in first, so a truncation changes it.
  constexpr uint64_t kMul = 0x9e3779b97f4a7c15ULL;
  uint64_t h = 0xcbf29ce484222325ULL ^ (data.size() * kMul);
  size_t i = 0;
  for (; i + 8 <= data.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, data.data() + i, 8);
    h = (h ^ w) * kMul;
    h ^= h >> 32;
  }
  uint64_t tail = 0;
  if (i < data.size()) std::memcpy(&tail, data.data() + i, data.size() - i);
  h = (h ^ tail) * kMul;
  return h ^ (h >> 29);
}

absl::StatusOr<FileImage> FileImage::Read(const std::string& path) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  struct stat st;
  if (fstat(fd, &st) != 0 || st.st_size < 0) {
    close(fd);
    return absl::DataLossError(absl::StrCat(path, ": cannot stat"));
  }
  FileImage image;
  image.size_ = static_cast<size_t>(st.st_size);
  if (image.size_ > 0) {
    void* map = mmap(nullptr, image.size_, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (map == MAP_FAILED) {
      close(fd);
      return absl::ResourceExhaustedError(absl::StrCat(path, ": cannot map ", image.size_));
    }
    image.map_ = map;
    image.mapped_ = image.size_;
  }
  size_t got = 0;
  while (got < image.size_) {
    const ssize_t n = read(fd, static_cast<char*>(image.map_) + got, image.size_ - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  close(fd);
  if (got != image.size_) return absl::DataLossError(absl::StrCat(path, ": short read"));
  return image;
}

FileImage::FileImage(FileImage&& other) noexcept
    : map_(std::exchange(other.map_, nullptr)),
      size_(std::exchange(other.size_, 0)),
      mapped_(std::exchange(other.mapped_, 0)) {}

FileImage::~FileImage() {
  if (map_ != nullptr) munmap(map_, mapped_);
}

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
  return absl::StrFormat("%s/hsdb-%016x-%016x.bin", dir, Hash64(key),
                         Hash64(EnvironmentBlob(env)));
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

absl::Status WriteFileAtomically(const std::string& path,
                                 std::initializer_list<std::string_view> parts) {
  std::random_device rd;
  const std::string tmp = absl::StrFormat("%s.tmp.%d.%08x", path, getpid(), rd());
  const int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return absl::InternalError(absl::StrCat("open ", tmp, ": ", std::strerror(errno)));
  for (std::string_view part : parts) {
    size_t written = 0;
    while (written < part.size()) {
      const ssize_t n = write(fd, part.data() + written, part.size() - written);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        const int e = errno;
        close(fd);
        unlink(tmp.c_str());
        return absl::InternalError(absl::StrCat("write ", tmp, ": ", std::strerror(e)));
      }
      written += static_cast<size_t>(n);
    }
  }
  if (fsync(fd) != 0 || close(fd) != 0) {
    unlink(tmp.c_str());
    return absl::InternalError(absl::StrCat("fsync/close ", tmp, ": ", std::strerror(errno)));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int e = errno;
    unlink(tmp.c_str());
    return absl::InternalError(absl::StrCat("rename ", tmp, ": ", std::strerror(e)));
  }
  return absl::OkStatus();
}

}  // namespace steppewatch::match::internal
