#include <catch2/catch.hpp>

#include "format/index_codec.h"

using namespace strata;

static LayerIndex EveryKind() {
  LayerIndex index;
  auto add = [&](std::string path, EntryType type) -> Entry& {
    Entry e;
    e.path = std::move(path);
    e.type = type;
    e.mode = 0640;
    e.uid = 1000;
    e.gid = 100;
    e.mtime_sec = 1700000000;
    e.mtime_nsec = 123456789;
    index.entries.push_back(e);
    return index.entries.back();
  };
  add("", EntryType::kDirectory).implicit = true;
  add("bin", EntryType::kDirectory).opaque = true;
  add("bin/sh", EntryType::kSymlink).link_target = "busybox";
  Entry& f = add("bin/busybox", EntryType::kRegular);
  f.size = 42;
  f.content.bytes[0] = 0xab;
  f.xattrs = {{"security.capability", std::string("\x01\x00\x00\x02", 4)}, {"user.a", "b"}};
  add("bin/link", EntryType::kHardlink).link_target = "bin/busybox";
  Entry& c = add("dev/null", EntryType::kCharDevice);
  c.dev_major = 1;
  c.dev_minor = 3;
  Entry& b = add("dev/sda", EntryType::kBlockDevice);
  b.dev_major = 8;
  add("run/fifo", EntryType::kFifo);
  add("run/sock", EntryType::kSocket);
  add("var/gone", EntryType::kWhiteout);
  std::sort(index.entries.begin(), index.entries.end(),
            [](const Entry& x, const Entry& y) { return x.path < y.path; });
  return index;
}

TEST_CASE("index encodes and decodes every entry type losslessly") {
  LayerIndex index = EveryKind();
  std::string raw = EncodeIndex(index);
  auto back = DecodeIndex(raw);
  REQUIRE(back.ok());
  REQUIRE(back->entries == index.entries);
  REQUIRE(EncodeIndex(*back) == raw);  // canonical: encoding is a function of content

  auto unz = Decompress(Compress(raw));
  REQUIRE(unz.ok());
  REQUIRE(*unz == raw);
  REQUIRE(back->Find("bin/busybox")->size == 42);
  REQUIRE(back->Find("bin/nope") == nullptr);
}

TEST_CASE("corrupt indexes are refused, never misread") {
  std::string raw = EncodeIndex(EveryKind());
  SECTION("truncated") {
    REQUIRE(DecodeIndex(raw.substr(0, raw.size() - 3)).status().code() == Code::kCorruption);
  }
  SECTION("trailing bytes") {
    REQUIRE(DecodeIndex(raw + "x").status().code() == Code::kCorruption);
  }
  SECTION("bad magic") {
    raw[0] = 'X';
    REQUIRE(DecodeIndex(raw).status().code() == Code::kCorruption);
  }
  SECTION("absurd count") {
    raw[12] = '\x7f';
    REQUIRE(DecodeIndex(raw).status().code() == Code::kCorruption);
  }
  SECTION("not zstd") {
    REQUIRE(Decompress("plain text").status().code() == Code::kCorruption);
  }
}

TEST_CASE("an index read in place gives each entry as decoding it whole does") {
  const LayerIndex index = EveryKind();
  auto encoded = EncodedIndex::Parse(EncodeIndex(index));
  REQUIRE(encoded.ok());
  REQUIRE(encoded->size() == index.entries.size());
  for (size_t i = 0; i < index.entries.size(); ++i) {
    const Entry& e = index.entries[i];
    INFO(e.path);
    CHECK(encoded->Path(i) == e.path);
    CHECK(encoded->Type(i) == e.type);
    CHECK(encoded->LinkTarget(i) == e.link_target);
    CHECK(encoded->Decode(i) == e);
    CHECK(encoded->Find(e.path) == i);
    CHECK(encoded->LowerBound(e.path) == i);
  }
  CHECK_FALSE(encoded->Find("bin/nope").has_value());
  CHECK(encoded->LowerBound("bin/nope") == *encoded->Find("bin/sh"));  // the next path in order
  CHECK(encoded->LowerBound("zz") == encoded->size());
  CHECK(encoded->LowerBound("", 3) == 3);  // from a position on
  const EncodedIndex copy = *encoded;      // copies share the bytes the views point into
  CHECK(copy.Path(2).data() == encoded->Path(2).data());
}

TEST_CASE("an index read in place is checked whole, as decoding checks it") {
  const std::string raw = EncodeIndex(EveryKind());
  std::string out_of_order = raw;  // "bin" and "bin/busybox" swap their first letters' order
  const size_t at = out_of_order.find("bin/busybox");
  REQUIRE(at != std::string::npos);
  out_of_order[at] = 'a';
  std::string bad_type = raw;  // the root's type byte: after magic, version, count, path length
  bad_type[8 + 4 + 8 + 4] = 42;
  for (const std::string& bad :
       {raw.substr(0, raw.size() - 3), raw + "x", "X" + raw.substr(1), out_of_order, bad_type}) {
    CHECK(EncodedIndex::Parse(bad).status().code() == Code::kCorruption);
    CHECK(DecodeIndex(bad).status().code() == Code::kCorruption);
  }
}
