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
