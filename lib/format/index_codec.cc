#include "format/index_codec.h"

#include <zstd.h>

#include <cstring>

#include "util/file_util.h"

namespace strata {

namespace {

constexpr char kMagic[8] = {'S', 'T', 'R', 'A', 'T', 'A', 'I', 'X'};
constexpr uint32_t kVersion = 1;
constexpr uint8_t kFlagOpaque = 1;
constexpr uint8_t kFlagImplicit = 2;

class Writer {
 public:
  void U8(uint8_t v) { out_.push_back(static_cast<char>(v)); }
  template <typename T>
  void Int(T v) {
    for (size_t i = 0; i < sizeof(T); ++i)
      out_.push_back(static_cast<char>((static_cast<uint64_t>(v) >> (8 * i)) & 0xff));
  }
  void Str(std::string_view s) {
    Int<uint32_t>(static_cast<uint32_t>(s.size()));
    out_.append(s);
  }
  void Bytes(const void* p, size_t n) { out_.append(static_cast<const char*>(p), n); }
  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
};

class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  bool ok() const { return ok_; }
  bool AtEnd() const { return pos_ == in_.size(); }
  template <typename T>
  T Int() {
    if (!Need(sizeof(T))) return T{};
    uint64_t v = 0;
    for (size_t i = 0; i < sizeof(T); ++i)
      v |= static_cast<uint64_t>(static_cast<uint8_t>(in_[pos_ + i])) << (8 * i);
    pos_ += sizeof(T);
    return static_cast<T>(v);
  }
  std::string Str() {
    uint32_t n = Int<uint32_t>();
    if (!Need(n)) return {};
    std::string s(in_.substr(pos_, n));
    pos_ += n;
    return s;
  }
  void Bytes(void* p, size_t n) {
    if (!Need(n)) return;
    std::memcpy(p, in_.data() + pos_, n);
    pos_ += n;
  }

 private:
  bool Need(size_t n) {
    if (!ok_ || in_.size() - pos_ < n) ok_ = false;
    return ok_;
  }
  std::string_view in_;
  size_t pos_ = 0;
  bool ok_ = true;
};

}  // namespace

std::string EncodeIndex(const LayerIndex& index) {
  Writer w;
  w.Bytes(kMagic, sizeof kMagic);
  w.Int<uint32_t>(kVersion);
  w.Int<uint64_t>(index.entries.size());
  for (const Entry& e : index.entries) {
    w.Str(e.path);
    w.U8(static_cast<uint8_t>(e.type));
    w.U8(static_cast<uint8_t>((e.opaque ? kFlagOpaque : 0) | (e.implicit ? kFlagImplicit : 0)));
    w.Int<uint32_t>(e.mode);
    w.Int<uint32_t>(e.uid);
    w.Int<uint32_t>(e.gid);
    w.Int<int64_t>(e.mtime_sec);
    w.Int<uint32_t>(e.mtime_nsec);
    w.Int<uint64_t>(e.size);
    w.Bytes(e.content.bytes.data(), e.content.bytes.size());
    w.Str(e.link_target);
    w.Int<uint32_t>(e.dev_major);
    w.Int<uint32_t>(e.dev_minor);
    w.Int<uint32_t>(static_cast<uint32_t>(e.xattrs.size()));
    for (const Xattr& x : e.xattrs) {
      w.Str(x.name);
      w.Str(x.value);
    }
  }
  return w.Take();
}

Result<LayerIndex> DecodeIndex(std::string_view bytes) {
  Reader r(bytes);
  char magic[sizeof kMagic];
  r.Bytes(magic, sizeof magic);
  if (!r.ok() || std::memcmp(magic, kMagic, sizeof kMagic) != 0) {
    return Status::Corruption("layer index: bad magic");
  }
  if (uint32_t version = r.Int<uint32_t>(); version != kVersion) {
    return Status::Corruption("layer index: unknown version " + std::to_string(version));
  }
  uint64_t count = r.Int<uint64_t>();
  // Each entry takes at least 60 bytes, which bounds a corrupt count.
  if (!r.ok() || count > bytes.size() / 60) return Status::Corruption("layer index: bad entry count");
  LayerIndex index;
  index.entries.reserve(count);
  PrepareLargeBuffer(index.entries.data(), count * sizeof(Entry));
  for (uint64_t i = 0; i < count && r.ok(); ++i) {
    Entry& e = index.entries.emplace_back();  // decoded in place: no move per entry
    e.path = r.Str();
    uint8_t type = r.Int<uint8_t>();
    if (type < 1 || type > static_cast<uint8_t>(EntryType::kWhiteout)) {
      return Status::Corruption("layer index: bad entry type");
    }
    e.type = static_cast<EntryType>(type);
    uint8_t flags = r.Int<uint8_t>();
    e.opaque = flags & kFlagOpaque;
    e.implicit = flags & kFlagImplicit;
    e.mode = r.Int<uint32_t>();
    e.uid = r.Int<uint32_t>();
    e.gid = r.Int<uint32_t>();
    e.mtime_sec = r.Int<int64_t>();
    e.mtime_nsec = r.Int<uint32_t>();
    e.size = r.Int<uint64_t>();
    r.Bytes(e.content.bytes.data(), e.content.bytes.size());
    e.link_target = r.Str();
    e.dev_major = r.Int<uint32_t>();
    e.dev_minor = r.Int<uint32_t>();
    uint32_t nx = r.Int<uint32_t>();
    for (uint32_t j = 0; j < nx && r.ok(); ++j) {
      Xattr x;
      x.name = r.Str();
      x.value = r.Str();
      e.xattrs.push_back(std::move(x));
    }
    if (i > 0 && !(index.entries[i - 1].path < e.path)) {
      return Status::Corruption("layer index: entries out of order");
    }
  }
  if (!r.ok() || !r.AtEnd()) return Status::Corruption("layer index: truncated or trailing bytes");
  return index;
}

std::string Compress(std::string_view raw, int level) {
  std::string out(ZSTD_compressBound(raw.size()), '\0');
  size_t n = ZSTD_compress(out.data(), out.size(), raw.data(), raw.size(), level);
  out.resize(n);  // cannot fail with a bound-sized buffer
  return out;
}

Result<std::string> Decompress(std::string_view compressed) {
  unsigned long long size = ZSTD_getFrameContentSize(compressed.data(), compressed.size());
  if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN || size > (1ull << 34)) {
    return Status::Corruption("layer index: not a zstd frame of known size");
  }
  std::string out;
  out.reserve(size);
  PrepareLargeBuffer(out.data(), size);
  out.resize(size);
  size_t n = ZSTD_decompress(out.data(), out.size(), compressed.data(), compressed.size());
  if (ZSTD_isError(n) || n != size) {
    return Status::Corruption(std::string("layer index: zstd: ") + ZSTD_getErrorName(n));
  }
  return out;
}

}  // namespace strata
