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
// How a layer blob's bytes are compressed, as its content shows (not as a
// media type claims).
enum class BlobCompression { kNone, kGzip, kZstd, kXz, kBzip2, kOther };
const char* BlobCompressionName(BlobCompression c);

struct UncompressedDigest {
  std::string hex;  // sha256 of the uncompressed bytes: a layer's DiffID
  BlobCompression compression = BlobCompression::kNone;
};
// The uncompressed bytes of a (gzip, zstd, xz, bzip2 or plain) file, hashed.
Result<UncompressedDigest> Sha256Uncompressed(const std::string& path);

}  // namespace strata
