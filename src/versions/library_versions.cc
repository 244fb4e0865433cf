#include "steppewatch/versions/library_versions.h"

#include <hs/hs.h>
#include <librdkafka/rdkafka.h>

#include "absl/strings/str_cat.h"
#include "simdjson.h"

namespace steppewatch {

std::string LibraryVersions() {
  return absl::StrCat("librdkafka ", rd_kafka_version_str(), ", Hyperscan ", hs_version(),
                      ", simdjson ", simdjson::SIMDJSON_VERSION_MAJOR, ".",
                      simdjson::SIMDJSON_VERSION_MINOR, ".", simdjson::SIMDJSON_VERSION_REVISION);
}

}  // namespace steppewatch
