// On-disk cache of compiled Hyperscan databases (private to the match stage).
//
// A restart with 100k terms must not recompile for tens of seconds: Hyperscan's serialized
// databases load in milliseconds, but only on the same Hyperscan version and CPU platform. A cache
// file is named by a hash of (term-set key, Hyperscan version, platform) and also stores the full
// key, the version string and the platform, so a hash collision, another Hyperscan build or
// another CPU is a miss, never a wrong database. Every database blob carries a checksum; a file
// that fails any check is treated as absent and overwritten. Writes are atomic (temp file in the
// same directory, then rename), so concurrent daemons sharing a directory never see a partial file.
//
// Thread-compatible free functions; no state.
#pragma once

#include <hs/hs.h>

#include <array>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace steppewatch::match::internal {

// The databases of one Matcher, in a fixed order; nullptr where a kind has no terms.
inline constexpr size_t kDatabaseCount = 4;
using DatabaseSet = std::array<hs_database_t*, kDatabaseCount>;

// Identity of the build environment a cached database is valid for.
struct CacheEnvironment {
  std::string hs_version;       // hs_version()
  hs_platform_info_t platform;  // hs_populate_platform()
};

// Returns the current environment.
absl::StatusOr<CacheEnvironment> CurrentEnvironment();

// Returns the cache file path for `key` (the canonical serialization of the term set and the
// options that affect compilation) in `dir`.
std::string CacheFilePath(const std::string& dir, std::string_view key,
                          const CacheEnvironment& env);

// Loads the databases for `key` from `dir`. Returns NotFound when the file is absent, and
// DataLoss/FailedPrecondition when it is corrupt or from another version/platform (the caller
// recompiles and Store() overwrites it). On success the caller owns the databases.
absl::StatusOr<DatabaseSet> LoadDatabases(const std::string& dir, std::string_view key,
                                          const CacheEnvironment& env);

// Serializes `dbs` for `key` into `dir` atomically (creates `dir` if needed).
absl::Status StoreDatabases(const std::string& dir, std::string_view key,
                            const CacheEnvironment& env, const DatabaseSet& dbs);

}  // namespace steppewatch::match::internal
