// log.format: json, as an operator runs it: the real steppewatchd in embedded mode with the
// demo feed, every stderr line parsed as one JSON object, librdkafka's own lines included.
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "simdjson.h"
#include "testing/paths.h"

namespace steppewatch {
namespace {

TEST(JsonLogs, EveryLineOfTheRealDaemonIsAJsonObject) {
  const std::filesystem::path tmp = testing::MakeTempDir("sw-json-log");
  const std::filesystem::path log = tmp / "stderr.log";
  const std::string command =
      (testing::BinaryDir() / "steppewatchd").string() + " --embedded --rules " +
      (testing::SourceDir() / "config/rules/central-asia").string() + " --demo " +
      (testing::SourceDir() / "config/demo/sample-items.jsonl").string() +
      " --demo-exit --set log.format=json --set log.level=debug"
      // librdkafka logs its consumer-group steps at debug level when asked to.
      " --set kafka.consumer.debug=cgrp --set metrics.listen=127.0.0.1:0 --set rules.cache_dir=" +
      (tmp / "cache").string() + " >" + (tmp / "stdout.txt").string() + " 2>" + log.string();
  const int status = std::system(command.c_str());
  ASSERT_TRUE(WIFEXITED(status)) << command;
  ASSERT_EQ(WEXITSTATUS(status), 0) << command;

  std::ifstream in(log);
  simdjson::dom::parser parser;
  std::set<std::string> components;
  bool pack_hash_field = false;
  size_t lines = 0;
  for (std::string line; std::getline(in, line);) {
    ++lines;
    simdjson::dom::object object;
    ASSERT_EQ(parser.parse(line).get(object), simdjson::SUCCESS) << "not JSON: " << line;
    for (const char* key : {"time", "level", "component", "message"}) {
      std::string_view value;
      ASSERT_EQ(object[key].get(value), simdjson::SUCCESS) << key << " missing: " << line;
    }
    std::string_view component;
    ASSERT_EQ(object["component"].get(component), simdjson::SUCCESS);
    components.emplace(component);
    std::string_view hash;
    if (object["rule_pack_hash"].get(hash) == simdjson::SUCCESS) {
      pack_hash_field = hash.substr(0, 7) == "sha256:";
    }
  }
  EXPECT_GT(lines, 3u);
  EXPECT_TRUE(components.count("steppewatchd"));
  EXPECT_TRUE(components.count("rdkafka")) << "no librdkafka line among " << lines << " lines";
  EXPECT_TRUE(pack_hash_field);
  std::filesystem::remove_all(tmp);
}

}  // namespace
}  // namespace steppewatch
