// steppewatchd: the Kafka daemon. Until the daemon stage lands it prints its usage.
#include <cstdio>

#include "steppewatch/common/version.h"

int main(int argc, char** argv) {
  std::printf("steppewatchd %s (%s)\nusage: steppewatchd --config FILE\n", steppewatch::Version(),
              steppewatch::LibraryVersions().c_str());
  return 2;
}
