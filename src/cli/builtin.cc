#include "cli/builtin.h"

#include <cstdio>
#include <filesystem>

#include "cli/flags.h"
#include "steppewatch/cli/command.h"
#include "steppewatch/common/version.h"
#include "steppewatch/versions/library_versions.h"

namespace steppewatch::cli {

void RegisterBuiltinCommands() {
  RegisterCommand({"rules", "check a rule pack (rules check DIR) or run its tests (rules test DIR)",
                   &RunRulesCommand});
  RegisterCommand({"match", "backtest: run a rule pack over NDJSON items, print alerts as NDJSON",
                   &RunMatchCommand});
  RegisterCommand({"explain", "show why a rule fired or did not on items", &RunExplainCommand});
  RegisterCommand({"stories", "group alerts (NDJSON) into stories and detect spikes, as the stage",
                   &RunStoriesCommand});
  RegisterCommand(
      {"version", "print the versions of steppewatch and its libraries", &RunVersionCommand});
}

int RunVersionCommand(int argc, char** argv) {
  static constexpr std::string_view kUsage =
      "usage: steppewatch version\n\nPrints steppewatch's version and the versions of the "
      "libraries it runs with.\n";
  Flags flags({}, {});
  if (!flags.Parse(argc, argv)) return UsageError("version", flags.error(), kUsage);
  if (flags.help()) {
    std::fputs(kUsage.data(), stdout);
    return kExitOk;
  }
  if (!flags.positional().empty()) return UsageError("version", "takes no arguments", kUsage);
  std::printf("steppewatch %s\n%s\n", Version(), LibraryVersions().c_str());
  return kExitOk;
}

void PrintDiagnostic(const std::string& dir, const rules::Diagnostic& d, const char* kind) {
  std::string prefix = dir;
  if (!prefix.empty() && prefix.back() != '/') prefix.push_back('/');
  // A diagnostic of the pack as a whole ("(pack)", no line) is reported against the directory.
  const std::string file = d.line > 0 || d.file != "(pack)" ? prefix + d.file : dir;
  const std::string where =
      d.line > 0 ? file + ":" + std::to_string(d.line) + ":" + std::to_string(d.column) : file;
  std::fprintf(stderr, "%s: %s: %s\n", where.c_str(), kind, d.message.c_str());
}

std::shared_ptr<const rules::CompiledPack> LoadPackOrPrint(const std::string& dir,
                                                           const rules::PackOptions& options) {
  std::vector<rules::Diagnostic> diagnostics;
  auto pack = rules::CompiledPack::Load(dir, options, &diagnostics);
  if (pack.ok()) return *pack;
  if (diagnostics.empty()) {
    std::fprintf(stderr, "error: %s\n", std::string(pack.status().message()).c_str());
    return nullptr;
  }
  for (const rules::Diagnostic& d : diagnostics) PrintDiagnostic(dir, d, "error");
  std::fprintf(stderr, "%s: %zu error%s; the pack was not loaded\n", dir.c_str(),
               diagnostics.size(), diagnostics.size() == 1 ? "" : "s");
  return nullptr;
}

std::string HumanBytes(size_t bytes) {
  char buf[32];
  if (bytes < 1024) {
    std::snprintf(buf, sizeof buf, "%zu B", bytes);
  } else if (bytes < 1024 * 1024) {
    std::snprintf(buf, sizeof buf, "%.1f KiB", bytes / 1024.0);
  } else {
    std::snprintf(buf, sizeof buf, "%.1f MiB", bytes / (1024.0 * 1024.0));
  }
  return buf;
}

}  // namespace steppewatch::cli
