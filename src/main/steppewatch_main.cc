// steppewatch: the analyst's and operator's CLI. Until the cli stage lands it prints its usage.
#include <cstdio>

#include "steppewatch/common/version.h"

int main(int argc, char** argv) {
  std::printf("steppewatch %s\nusage: steppewatch COMMAND ...\n", steppewatch::Version());
  return 2;
}
