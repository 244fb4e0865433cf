// steppewatch: the analyst's and operator's CLI (rule packs, backtests, Kafka tools). The command
// table lives in the cli stage (include/steppewatch/cli/command.h); this file registers the
// commands of every file that has some, so the linker keeps them.
#include "steppewatch/cli/command.h"
#include "steppewatch/cli/kafka_commands.h"

int main(int argc, char** argv) {
  using steppewatch::cli::RegisterCommand;
  steppewatch::cli::RegisterBuiltinCommands();
  RegisterCommand({"broker", "run a standalone Kafka-protocol broker (mock cluster) for tests",
                   &steppewatch::cli::RunBrokerCommand});
  RegisterCommand(
      {"feed", "produce NDJSON news items to a Kafka topic", &steppewatch::cli::RunFeedCommand});
  RegisterCommand(
      {"tail", "print or count alerts from Kafka topics", &steppewatch::cli::RunTailCommand});
  return steppewatch::cli::Main(argc, argv);
}
