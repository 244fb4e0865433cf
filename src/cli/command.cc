#include "steppewatch/cli/command.h"

#include <algorithm>
#include <cstdio>
#include <string>

#include "steppewatch/common/did_you_mean.h"
#include "steppewatch/common/version.h"

namespace steppewatch::cli {
namespace {

std::vector<Command>& Table() {
  static auto* table = new std::vector<Command>();  // never destroyed: used from static init
  return *table;
}

void PrintOverview(std::FILE* out) {
  std::fprintf(out,
               "steppewatch %s: rule packs, backtests and Kafka tools for steppewatchd\n\n"
               "usage: steppewatch COMMAND [ARGS...]\n"
               "       steppewatch COMMAND --help\n\ncommands:\n",
               Version());
  for (const Command& c : Commands()) {
    std::fprintf(out, "  %-10.*s %.*s\n", static_cast<int>(c.name.size()), c.name.data(),
                 static_cast<int>(c.summary.size()), c.summary.data());
  }
  std::fprintf(out,
               "\nexit codes: 0 ok, 1 failures found (invalid pack, failed tests, I/O errors), "
               "2 usage error\n");
}

}  // namespace

void RegisterCommand(const Command& command) {
  auto& table = Table();
  auto it = std::find_if(table.begin(), table.end(),
                         [&](const Command& c) { return c.name == command.name; });
  if (it != table.end()) {
    *it = command;
  } else {
    table.push_back(command);
  }
}

std::vector<Command> Commands() {
  std::vector<Command> out = Table();
  std::sort(out.begin(), out.end(),
            [](const Command& a, const Command& b) { return a.name < b.name; });
  return out;
}

int Main(int argc, char** argv) {
  if (argc < 2) {
    PrintOverview(stderr);
    return kExitUsage;
  }
  std::string_view name = argv[1];
  if (name == "--help" || name == "-h" || name == "help") {
    PrintOverview(stdout);
    return kExitOk;
  }
  if (name == "--version") name = "version";
  for (const Command& c : Commands()) {
    if (c.name == name) return c.run(argc - 1, argv + 1);
  }
  std::vector<std::string> names;
  for (const Command& c : Commands()) names.emplace_back(c.name);
  std::fprintf(stderr, "steppewatch: unknown command '%.*s'%s\n\n", static_cast<int>(name.size()),
               name.data(), DidYouMean(name, names).c_str());
  PrintOverview(stderr);
  return kExitUsage;
}

}  // namespace steppewatch::cli
