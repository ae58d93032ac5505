#include "format/header_guard.h"

#include <string>

namespace strata {

namespace {

constexpr size_t kBlock = 512;

// A ustar name field is NUL-padded: any byte after the first NUL means the
// name itself contained one.
bool FieldHasInnerNul(std::string_view field) {
  size_t nul = field.find('\0');
  return nul != std::string_view::npos && field.find_first_not_of('\0', nul) != std::string_view::npos;
}

Status NulError(std::string_view where) {
  return Status::InvalidArgument("tar entry has a NUL byte inside its " + std::string(where));
}

// pax records are "LEN key=value\n".
Status CheckPaxRecords(std::string_view data) {
  size_t pos = 0;
  while (pos < data.size()) {
    if (data[pos] == '\0') break;  // padding
    size_t space = data.find(' ', pos);
    if (space == std::string_view::npos) return Status::InvalidArgument("tar has a malformed pax header");
    uint64_t len = 0;
    for (size_t i = pos; i < space; ++i) {
      if (data[i] < '0' || data[i] > '9' || len > data.size()) {
        return Status::InvalidArgument("tar has a malformed pax header");
      }
      len = len * 10 + static_cast<uint64_t>(data[i] - '0');
    }
    if (len <= space - pos || pos + len > data.size()) {
      return Status::InvalidArgument("tar has a malformed pax header");
    }
    std::string_view record = data.substr(space + 1, pos + len - space - 2);  // drops '\n'
    size_t eq = record.find('=');
    if (eq != std::string_view::npos) {
      std::string_view key = record.substr(0, eq), value = record.substr(eq + 1);
      bool is_name = key == "path" || key == "linkpath" || key == "GNU.sparse.name";
      if (is_name && value.find('\0') != std::string_view::npos) return NulError("pax " + std::string(key));
    }
    pos += len;
  }
  return Status::OK();
}

}  // namespace

bool ParseTarNumber(std::string_view field, uint64_t* out) {
  uint64_t v = 0;
  if (!field.empty() && (static_cast<uint8_t>(field[0]) & 0x80)) {
    if (static_cast<uint8_t>(field[0]) & 0x40) return false;  // negative
    v = static_cast<uint8_t>(field[0]) & 0x3f;
    for (size_t i = 1; i < field.size(); ++i) {
      if (v >> 56) return false;
      v = v << 8 | static_cast<uint8_t>(field[i]);
    }
    *out = v;
    return true;
  }
  size_t i = 0;
  while (i < field.size() && field[i] == ' ') ++i;
  for (; i < field.size() && field[i] >= '0' && field[i] <= '7'; ++i) {
    if (v >> 60) return false;
    v = v * 8 + static_cast<uint64_t>(field[i] - '0');
  }
  *out = v;
  return true;
}

Status CheckHeaderRegion(std::string_view region) {
  size_t pos = 0;
  // Zero blocks can precede a header (end-of-archive padding read as lone blocks).
  while (pos + kBlock <= region.size() &&
         region.substr(pos, kBlock).find_first_not_of('\0') == std::string_view::npos) {
    pos += kBlock;
  }
  for (;;) {
    if (pos + kBlock > region.size()) return Status::InvalidArgument("tar header is truncated");
    std::string_view h = region.substr(pos, kBlock);
    char type = h[156];
    uint64_t size = 0;
    if (!ParseTarNumber(h.substr(124, 12), &size)) {
      return Status::InvalidArgument("tar header has an invalid size field");
    }
    bool extension = type == 'x' || type == 'g' || type == 'L' || type == 'K';
    if (!extension) {
      if (FieldHasInnerNul(h.substr(0, 100))) return NulError("name");
      if (FieldHasInnerNul(h.substr(157, 100))) return NulError("link name");
      if (h.substr(257, 6) == std::string_view("ustar\0", 6) && FieldHasInnerNul(h.substr(345, 155))) {
        return NulError("name prefix");
      }
      return Status::OK();
    }
    if (size > kMaxExtensionHeader) {
      return Status::InvalidArgument("tar extension header of " + std::to_string(size) +
                                     " bytes is too large (1 MiB allowed)");
    }
    if (pos + kBlock + size > region.size()) return Status::InvalidArgument("tar header is truncated");
    std::string_view data = region.substr(pos + kBlock, size);
    if (type == 'x' || type == 'g') {
      if (Status st = CheckPaxRecords(data); !st.ok()) return st;
    } else {
      size_t end = data.find_last_not_of('\0');  // GNU long names end in NULs
      std::string_view name = end == std::string_view::npos ? std::string_view() : data.substr(0, end + 1);
      if (name.find('\0') != std::string_view::npos) return NulError("GNU long name");
    }
    pos += kBlock + (size + kBlock - 1) / kBlock * kBlock;
  }
}

}  // namespace strata
