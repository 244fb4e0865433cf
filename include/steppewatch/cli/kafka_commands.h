// The Kafka helper commands of the `steppewatch` CLI, for users, tests and benchmarks that need a
// broker, a producer of news items or a reader of alerts without a Kafka installation:
//
//   steppewatch broker [--topics a,b:64,c] [--partitions N] [--brokers N] [--control-fifo PATH]
//       A standalone Kafka-protocol broker (librdkafka's mock cluster) in its own process. Prints
//       "bootstrap: HOST:PORT" on stdout and runs until SIGTERM/SIGINT. Fault-injection commands
//       ("down 1", "up 1", "rtt 1 500", "errors Produce 5 NOT_LEADER_FOR_PARTITION", ...) are read
//       line by line from the control FIFO.
//   steppewatch feed --brokers B --topic T [--rate N] [--repeat K] FILE|-
//       Produces NDJSON items (one message per non-empty line, key = the item id) with an
//       idempotent producer, waits for every delivery report, prints the count and the rate.
//   steppewatch tail --brokers B --topic T[,T2] [--raw] [--from-beginning] [--count N] ...
//       Prints alerts readably (or raw), or counts messages and measures latency (benchmarks).
//
// Each function runs one command: argv[0] is the command name, the rest its arguments. They write
// to stdout/stderr and return the process exit code (0 ok, 1 failure, 2 usage error). Each one
// installs its own SIGINT/SIGTERM handling and must be called at most once per process, from the
// main thread.
#pragma once

namespace steppewatch::cli {

int RunBrokerCommand(int argc, char** argv);
int RunFeedCommand(int argc, char** argv);
int RunTailCommand(int argc, char** argv);

}  // namespace steppewatch::cli
