// SHA-256 (FIPS 180-4), for the rule pack's content hash. Written here because the rules stage
// must not pull in OpenSSL for one hash of a few kilobytes at load time. Not thread-safe per
// object; one object per digest.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace steppewatch::rules {

class Sha256 {
 public:
  Sha256();
  void Update(std::string_view data);
  // Finishes the digest; the object must not be updated afterwards.
  std::array<uint8_t, 32> Final();
  // Returns the lower-case hex digest of `data`.
  static std::string Hex(std::string_view data);

 private:
  void Block(const uint8_t* p);

  std::array<uint32_t, 8> h_;
  std::array<uint8_t, 64> buf_{};
  size_t buf_len_ = 0;
  uint64_t total_ = 0;
};

}  // namespace steppewatch::rules
