// fabric_test_echo_server PROVIDER: a fabric endpoint in its own process for
// the cross-process tests. Prints its raw address (hex) on stdout, answers
// every request with "echo:" + payload, and exits when stdin closes.
#include <unistd.h>

#include <cstdio>
#include <iostream>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/fabric/endpoint.h"
#include "tests/common/fabric/fabric_test_util.h"

int main(int argc, char** argv) {
  const std::string provider = argc > 1 ? argv[1] : "tcp;ofi_rxm";
  auto endpoint = medfs::fabric::Endpoint::Open(
      medfs::fabric::testing::LoopbackOptions(provider));
  if (!endpoint.ok()) {
    std::cerr << endpoint.status() << std::endl;
    return 1;
  }
  (*endpoint)->SetRequestHandler(
      [](std::unique_ptr<medfs::fabric::IncomingRequest> request) {
        request->Reply(absl::StrCat("echo:", request->payload())).IgnoreError();
      });
  std::cout << absl::BytesToHexString((*endpoint)->address()) << std::endl;
  char c;
  while (read(STDIN_FILENO, &c, 1) > 0) {
  }
  return 0;
}
