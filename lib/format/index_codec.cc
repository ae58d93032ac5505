#include "format/index_codec.h"

#include <zstd.h>

#include <cstring>

#include "util/file_util.h"
#include "util/status_macros.h"

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
  std::string_view View() {
    uint32_t n = Int<uint32_t>();
    if (!Need(n)) return {};
    std::string_view s = in_.substr(pos_, n);
    pos_ += n;
    return s;
  }
  std::string Str() { return std::string(View()); }
  void Skip(size_t n) {
    if (Need(n)) pos_ += n;
  }
  size_t pos() const { return pos_; }
  void Seek(size_t pos) { pos_ = pos; }
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

namespace {

// The fixed-size fields between an entry's type and its link: flags, mode,
// uid, gid, mtime (sec, nsec), size, content.
constexpr size_t kFixedAfterType = 1 + 4 + 4 + 4 + 8 + 4 + 8 + 16;

// Decodes the entry at r's position into `e`. The entry was checked by
// IndexOffsets, so nothing here can run past the end.
void ReadEntry(Reader& r, Entry& e) {
  e.path = r.Str();
  e.type = static_cast<EntryType>(r.Int<uint8_t>());
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
  e.xattrs.resize(nx);
  for (Xattr& x : e.xattrs) {
    x.name = r.Str();
    x.value = r.Str();
  }
}

// Checks the whole encoding (magic, version, every entry's lengths and type,
// path order, no trailing bytes) and returns where each entry starts.
Result<std::vector<uint32_t>> IndexOffsets(std::string_view bytes) {
  if (bytes.size() > UINT32_MAX) return Status::Corruption("layer index: larger than 4 GiB");
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
  std::vector<uint32_t> offsets;
  offsets.reserve(count);
  std::string_view previous;
  for (uint64_t i = 0; i < count && r.ok(); ++i) {
    offsets.push_back(static_cast<uint32_t>(r.pos()));
    std::string_view path = r.View();
    uint8_t type = r.Int<uint8_t>();
    if (type < 1 || type > static_cast<uint8_t>(EntryType::kWhiteout)) {
      return Status::Corruption("layer index: bad entry type");
    }
    r.Skip(kFixedAfterType);
    r.View();       // link
    r.Skip(4 + 4);  // device numbers
    uint32_t nx = r.Int<uint32_t>();
    for (uint32_t j = 0; j < nx && r.ok(); ++j) {
      r.View();
      r.View();
    }
    if (i > 0 && !(previous < path)) return Status::Corruption("layer index: entries out of order");
    previous = path;
  }
  if (!r.ok() || !r.AtEnd()) return Status::Corruption("layer index: truncated or trailing bytes");
  return offsets;
}

}  // namespace

Result<LayerIndex> DecodeIndex(std::string_view bytes) {
  ASSIGN_OR_RETURN(std::vector<uint32_t> offsets, IndexOffsets(bytes));
  LayerIndex index;
  index.entries.reserve(offsets.size());
  PrepareLargeBuffer(index.entries.data(), offsets.size() * sizeof(Entry));
  Reader r(bytes);
  for (uint32_t offset : offsets) {
    r.Seek(offset);
    ReadEntry(r, index.entries.emplace_back());  // decoded in place: no move per entry
  }
  return index;
}

Result<EncodedIndex> EncodedIndex::Parse(std::shared_ptr<const std::string_view> bytes) {
  EncodedIndex index;
  ASSIGN_OR_RETURN(index.offsets_, IndexOffsets(*bytes));
  index.bytes_ = std::move(bytes);
  return index;
}

Result<EncodedIndex> EncodedIndex::Parse(std::string bytes) {
  struct Owned {
    std::string bytes;
    std::string_view view;
  };
  auto owned = std::make_shared<Owned>();
  owned->bytes = std::move(bytes);
  owned->view = owned->bytes;
  return Parse(
      std::shared_ptr<const std::string_view>(owned, &owned->view));  // aliasing: one allocation owns both
}

std::string_view EncodedIndex::Path(size_t i) const {
  Reader r(*bytes_);
  r.Seek(offsets_[i]);
  return r.View();
}

EntryType EncodedIndex::Type(size_t i) const {
  Reader r(*bytes_);  // bounds-checked even so: the bytes are a mapped file
  r.Seek(offsets_[i]);
  r.View();
  return static_cast<EntryType>(r.Int<uint8_t>());
}

std::string_view EncodedIndex::LinkTarget(size_t i) const {
  Reader r(*bytes_);
  r.Seek(offsets_[i] + 4 + Path(i).size() + 1 + kFixedAfterType);
  return r.View();
}

Entry EncodedIndex::Decode(size_t i) const {
  Reader r(*bytes_);
  r.Seek(offsets_[i]);
  Entry e;
  ReadEntry(r, e);
  return e;
}

size_t EncodedIndex::LowerBound(std::string_view path, size_t from) const {
  size_t lo = from, hi = size();
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (Path(mid) < path) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return lo;
}

std::optional<size_t> EncodedIndex::Find(std::string_view path) const {
  size_t i = LowerBound(path);
  if (i == size() || Path(i) != path) return std::nullopt;
  return i;
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
