// SHA-256 (FIPS 180-4), for the rule pack's content hash. Written here because the rules stage
// must not pull in OpenSSL for one hash at load time. A big pack is megabytes and is hashed on
// every start (the compiled-pack cache is keyed by it), so the compression uses the CPU's SHA
// extensions when it has them, the portable loop otherwise. Not thread-safe per object; one
// object per digest.
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
  // Compresses `count` consecutive 64-byte blocks (SHA extensions or the portable Block()).
  void Blocks(const uint8_t* p, size_t count);
  void Block(const uint8_t* p);

  std::array<uint32_t, 8> h_;
  std::array<uint8_t, 64> buf_{};
  size_t buf_len_ = 0;
  uint64_t total_ = 0;
};

}  // namespace steppewatch::rules
