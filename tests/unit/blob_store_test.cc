#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <filesystem>

#include "store/blob_store.h"
#include "test_util.h"

using namespace strata;
using namespace strata::test;
namespace fs = std::filesystem;

namespace {

Secret TestSecret() {
  Secret s;
  for (size_t i = 0; i < s.size(); ++i) s[i] = static_cast<uint8_t>(i * 31 + 7);
  return s;
}

size_t CountBlobFiles(const std::string& dir) {
  size_t n = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir)) n += e.is_regular_file();
  return n;
}

}  // namespace

TEST_CASE("blobs are stored once and read back verified") {
  TempDir tmp;
  Secret secret = TestSecret();
  BlobStore store(tmp.path(), secret);
  Digest a, b;
  {
    BlobBatch batch(store);
    a = *batch.AddBytes("same content");
    b = *batch.AddBytes("same content");
    REQUIRE(a == b);
    REQUIRE(batch.Commit({a}).ok());
    REQUIRE(batch.created().size() == 1);
  }
  {
    BlobBatch again(store);
    REQUIRE(*again.AddBytes("same content") == a);
    REQUIRE(again.Commit({a}).ok());
    REQUIRE(again.created().empty());  // already held: nothing new
  }
  REQUIRE(CountBlobFiles(tmp.path()) == 1);
  std::string read;
  REQUIRE(store
              .Read(a,
                    [&](const void* p, size_t n) {
                      read.append(static_cast<const char*>(p), n);
                      return Status::OK();
                    })
              .ok());
  REQUIRE(read == "same content");
}

TEST_CASE("an aborted batch leaves nothing behind") {
  TempDir tmp;
  Secret secret = TestSecret();
  BlobStore store(tmp.path(), secret);
  {
    BlobBatch batch(store);
    REQUIRE(batch.AddBytes("never committed").ok());
  }
  REQUIRE(CountBlobFiles(tmp.path()) == 0);
  REQUIRE(fs::is_empty(tmp.path()));
}

TEST_CASE("different bytes under an existing digest are refused, not merged") {
  TempDir tmp;
  Secret secret = TestSecret();
  BlobStore store(tmp.path(), secret);
  // Small content is compared in memory, large content file to file: test both.
  std::string victim = GENERATE(std::string("victim"), std::string(3 << 20, 'v'));
  Digest d = HashBytes(secret, victim.data(), victim.size());
  // Plant other bytes under the digest, as a collision would.
  fs::create_directories(fs::path(store.PathOf(d)).parent_path());
  WriteBytes(store.PathOf(d), "attack");
  BlobBatch batch(store);
  auto r = batch.AddBytes(victim);
  REQUIRE(r.status().code() == Code::kCorruption);
  REQUIRE_THAT(r.status().message(), Catch::Contains("collision"));
  REQUIRE(ReadBytes(store.PathOf(d)) == "attack");  // nothing replaced
}

TEST_CASE("a flipped byte in a blob is caught on read") {
  TempDir tmp;
  Secret secret = TestSecret();
  BlobStore store(tmp.path(), secret);
  BlobBatch batch(store);
  Digest d = *batch.AddBytes("precious bytes");
  REQUIRE(batch.Commit({d}).ok());
  REQUIRE(store.Verify(d).ok());
  std::string path = store.PathOf(d);
  fs::permissions(path, fs::perms::owner_write, fs::perm_options::add);
  WriteBytes(path, "precious bytez");
  REQUIRE(store.Verify(d).code() == Code::kCorruption);
}

TEST_CASE("holes are written as holes and hashed as zeros") {
  TempDir tmp;
  Secret secret = TestSecret();
  BlobStore store(tmp.path(), secret);
  BlobBatch batch(store);
  const uint64_t size = 64 << 20;
  int calls = 0;
  auto d = batch.Add(size, [&](const void** data, size_t* len, int64_t* offset, bool* done) {
    static const char kTail[] = "tail";
    *done = calls++ > 0;
    *data = kTail;
    *len = 4;
    *offset = static_cast<int64_t>(size - 4);
    return Status::OK();
  });
  REQUIRE(d.ok());
  std::string full(size - 4, '\0');
  full += "tail";
  REQUIRE(*d == HashBytes(secret, full.data(), full.size()));
  REQUIRE(batch.Commit({*d}).ok());
  REQUIRE(fs::file_size(store.PathOf(*d)) == size);
  struct stat st;
  REQUIRE(::stat(store.PathOf(*d).c_str(), &st) == 0);
  REQUIRE(static_cast<uint64_t>(st.st_blocks) * 512 < size / 2);  // sparse on disk
}
