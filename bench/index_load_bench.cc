// Times loading a 100,000-entry layer index the way the store does it:
// zstd-decompress, verify the keyed digest, decode. Prints the median of 21 loads.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <vector>

#include "format/hasher.h"
#include "format/index_codec.h"

using namespace strata;

int main() {
  LayerIndex index;
  char name[64];
  for (int d = 0; d < 1000; ++d) {
    Entry dir;
    std::snprintf(name, sizeof name, "usr/share/dir%04d", d);
    dir.path = name;
    dir.type = EntryType::kDirectory;
    dir.mode = 0755;
    index.entries.push_back(dir);
    for (int f = 0; f < 99; ++f) {
      Entry e;
      std::snprintf(name, sizeof name, "usr/share/dir%04d/file-%05d.txt", d, f);
      e.path = name;
      e.mode = 0644;
      e.size = static_cast<uint64_t>(f * 37 + d);
      e.mtime_sec = 1700000000 + f;
      e.content = HashBytes(Secret{}, name, std::strlen(name));  // random-looking, as real digests are
      index.entries.push_back(e);
    }
  }
  std::sort(index.entries.begin(), index.entries.end(),
            [](const Entry& a, const Entry& b) { return a.path < b.path; });
  Secret secret{};
  std::string raw = EncodeIndex(index);
  Digest want = HashBytes(secret, raw.data(), raw.size());
  std::string on_disk = Compress(raw);

  std::vector<double> ms;
  for (int i = 0; i < 21; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    auto unz = Decompress(on_disk);
    bool verified = unz.ok() && HashBytes(secret, unz->data(), unz->size()) == want;
    auto decoded = DecodeIndex(*unz);
    auto t1 = std::chrono::steady_clock::now();
    if (!verified || !decoded.ok() || decoded->entries.size() != index.entries.size()) return 1;
    ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  std::printf("entries: %zu, index %zu bytes raw, %zu bytes zstd (%.1f bytes/entry on disk)\n",
              index.entries.size(), raw.size(), on_disk.size(),
              static_cast<double>(on_disk.size()) / static_cast<double>(index.entries.size()));
  std::printf("load (decompress + verify + decode): median %.1f ms, min %.1f ms\n", ms[ms.size() / 2], ms[0]);
  return 0;
}
