// SHA-256 (OpenSSL libcrypto), for OCI digests: "sha256:<hex>".
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "strata/status.h"

namespace strata {

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  void Update(const void* data, size_t len);
  std::string HexDigest();  // once, at the end

 private:
  struct State;
  std::unique_ptr<State> state_;
};

std::string Sha256Hex(std::string_view data);
Result<std::string> Sha256File(const std::string& path);
// The uncompressed bytes of a (gzip, zstd or plain) file, hashed: a layer's DiffID.
Result<std::string> Sha256Uncompressed(const std::string& path);

}  // namespace strata
