// On-disk cache of compiled rule packs (private to the rules stage).
//
// Why: with the Hyperscan databases cached (src/match/database_cache.h), parsing the YAML of a
// 100k-term pack with yaml-cpp and rebuilding its sets and programs was ~3/4 of a restart's
// instructions (benchmarks/README.md, "Start-up"); the compiled form reads back in a fraction of
// that. A cache file holds one CompiledPack that loaded without a diagnostic, everything but its
// matcher (the matcher is rebuilt from the cached terms, through its own database cache).
//
// Invalidation: a file is found by, and stores in full, a key over everything that decides the
// compiled form:
//  - the pack's content hash (PackHash: SHA-256 over every file's relative path and content);
//  - the PackOptions the builder reads (query limits, term caps, default topic, regex offsets);
//  - the GNU build ID of the binary that holds this code, so that any change to the loader, the
//    query language or these structures (a new binary) is a miss. No build ID: no cache.
// A file whose key, magic or payload checksum differs, or whose indexes are out of range, is a
// miss; the full load then overwrites it. Writes are atomic (temp file, fsync, rename), so
// daemons sharing the directory never read a partial file.
//
// Thread-compatible; no state.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "steppewatch/rules/pack.h"

namespace steppewatch::rules {

class PackCache {
 public:
  // Returns the cache key of a pack with content hash `pack_hash` loaded with `options`, or ""
  // when such a pack is not cached (no cache directory, matcher compile off, no build ID).
  static std::string Key(std::string_view pack_hash, const PackOptions& options);

  // Returns the pack stored under `key` in `dir`, without its matcher (matcher() is null; the
  // caller builds it from the terms). NotFound when there is no file; DataLoss or
  // FailedPrecondition when the file is corrupt, from another key or an older layout.
  static absl::StatusOr<std::shared_ptr<CompiledPack>> Load(const std::string& dir,
                                                            std::string_view key);

  // Writes `pack` under `key` into `dir` atomically (creates `dir` if needed).
  static absl::Status Store(const std::string& dir, std::string_view key, const CompiledPack& pack);

  // Returns the path of the file for `key` in `dir` (tests).
  static std::string FilePath(const std::string& dir, std::string_view key);
};

}  // namespace steppewatch::rules
