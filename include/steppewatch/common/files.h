// Whole-file helpers shared by the on-disk caches (compiled Hyperscan databases, compiled rule
// packs) and the daemon's status files: a fast read of a whole file, an atomic write, and a
// stable checksum for what they store.
//
// Thread-safe: free functions without state; a FileImage is owned by one thread at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace steppewatch::files {

// The bytes of a whole file, read with read() into anonymous pages mapped up front
// (MAP_POPULATE): on a paravirtualised VM a page fault per 4 KB of a fresh 15 MB heap buffer
// was a visible part of a cached start. Read, not a file mapping, so a file truncated in place
// by someone else cannot SIGBUS the reader. Move-only.
class FileImage {
 public:
  // Reads `path`. NotFound when it cannot be opened, DataLoss on a short read.
  static absl::StatusOr<FileImage> Read(const std::string& path);

  FileImage(FileImage&& other) noexcept;
  FileImage& operator=(FileImage&& other) = delete;
  ~FileImage();

  std::string_view data() const { return {static_cast<const char*>(map_), size_}; }

 private:
  FileImage() = default;
  void* map_ = nullptr;
  size_t size_ = 0;
  size_t mapped_ = 0;
};

// Writes the concatenation of `parts` to `path` atomically: a temp file with a name unique to
// this writer (two processes caching the same pack must not interleave), fsync, then rename, so
// that after a crash the name points at complete data or at the old file.
absl::Status WriteFileAtomically(const std::string& path,
                                 std::initializer_list<std::string_view> parts);

// A stable (cross-process, cross-build) 64-bit hash for file names and checksums; not
// cryptographic: it detects corruption and spreads names, a stored key settles identity.
uint64_t Hash64(std::string_view data);

}  // namespace steppewatch::files
