#include "format/sha256.h"

#include <archive.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <vector>

#include "util/file_util.h"

namespace strata {

struct Sha256::State {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  ~State() { EVP_MD_CTX_free(ctx); }
};

Sha256::Sha256() : state_(std::make_unique<State>()) {
  EVP_DigestInit_ex(state_->ctx, EVP_sha256(), nullptr);
}
Sha256::~Sha256() = default;

void Sha256::Update(const void* data, size_t len) {
  EVP_DigestUpdate(state_->ctx, data, len);
}

std::string Sha256::HexDigest() {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(state_->ctx, md, &len);
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < len; ++i) {
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 15];
  }
  return out;
}

std::string Sha256Hex(std::string_view data) {
  Sha256 h;
  h.Update(data.data(), data.size());
  return h.HexDigest();
}

Result<std::string> Sha256File(const std::string& path) {
  Sha256 h;
  Status st = ReadChunks(path, [&](const char* data, size_t len) {
    h.Update(data, len);
    return Status::OK();
  });
  if (!st.ok()) return st;
  return h.HexDigest();
}

const char* BlobCompressionName(BlobCompression c) {
  switch (c) {
    case BlobCompression::kNone: return "uncompressed";
    case BlobCompression::kGzip: return "gzip";
    case BlobCompression::kZstd: return "zstd";
    case BlobCompression::kXz: return "xz";
    case BlobCompression::kBzip2: return "bzip2";
    case BlobCompression::kOther: break;
  }
  return "compressed in another format";
}

namespace {

BlobCompression FromFilterCode(int code) {
  switch (code) {
    case ARCHIVE_FILTER_NONE: return BlobCompression::kNone;
    case ARCHIVE_FILTER_GZIP: return BlobCompression::kGzip;
    case ARCHIVE_FILTER_ZSTD: return BlobCompression::kZstd;
    case ARCHIVE_FILTER_XZ: return BlobCompression::kXz;
    case ARCHIVE_FILTER_BZIP2: return BlobCompression::kBzip2;
    default: return BlobCompression::kOther;
  }
}

}  // namespace

Result<UncompressedDigest> Sha256Uncompressed(const std::string& path) {
  archive* a = archive_read_new();
  archive_read_support_filter_all(a);
  archive_read_support_format_raw(a);
  Status st;
  Sha256 h;
  archive_entry* entry = nullptr;
  if (archive_read_open_filename(a, path.c_str(), 1 << 18) != ARCHIVE_OK ||
      archive_read_next_header(a, &entry) != ARCHIVE_OK) {
    st = Status::InvalidArgument(path + ": " +
                                 (archive_error_string(a) ? archive_error_string(a) : "unreadable"));
  }
  std::vector<char> buf(1 << 18);
  while (st.ok()) {
    la_ssize_t n = archive_read_data(a, buf.data(), buf.size());
    if (n < 0) st = Status::InvalidArgument(path + ": " + archive_error_string(a));
    if (n <= 0) break;
    h.Update(buf.data(), static_cast<size_t>(n));
  }
  // Filters count from the one nearest the reader; the last is the file itself
  // (code none), the one before it the compression of the blob's own bytes.
  int filters = archive_filter_count(a);
  BlobCompression compression =
      filters >= 2 ? FromFilterCode(archive_filter_code(a, filters - 2)) : BlobCompression::kNone;
  archive_read_free(a);
  if (!st.ok()) return st;
  return UncompressedDigest{h.HexDigest(), compression};
}

}  // namespace strata
