// Helpers for the unit tests: temporary directories, tar archives built with
// libarchive (and raw ustar blocks for archives libarchive would not write),
// and a snapshot of a store's files to prove an operation left it unchanged.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "strata/container.h"
#include "strata/entry.h"
#include "strata/store.h"

namespace strata::test {

class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

enum class Kind { kFile, kDir, kSymlink, kHardlink, kChar, kBlock, kFifo };

struct TarSpec {
  std::string name;
  Kind kind = Kind::kFile;
  std::string content;  // files
  std::string link;     // symlink target or hardlink target
  unsigned mode = 0644;
  unsigned uid = 0, gid = 0;
  int64_t mtime = 1700000000;
  long mtime_nsec = 0;
  unsigned dev_major = 0, dev_minor = 0;
  std::vector<std::pair<std::string, std::string>> xattrs;
};

TarSpec File(std::string name, std::string content, unsigned mode = 0644);
TarSpec Dir(std::string name, unsigned mode = 0755);
TarSpec Symlink(std::string name, std::string target);
TarSpec Hardlink(std::string name, std::string target);
// A character or block device, mode 0666.
TarSpec Device(std::string name, Kind kind, unsigned major, unsigned minor);

enum class TarCompression { kNone, kGzip, kZstd };
// Writes a pax tar with libarchive.
void WriteTar(const std::string& path, const std::vector<TarSpec>& entries,
              TarCompression compression = TarCompression::kNone);

// One raw 512-byte ustar header with a valid checksum. `name` may hold NULs.
std::string RawHeader(const std::string& name, char typeflag, uint64_t size,
                      const std::string& linkname = "");
// Pads `data` to a whole number of 512-byte blocks.
std::string Pad(std::string data);
// A pax extended header block ('x') holding `records` ("key=value" each).
std::string PaxHeader(const std::vector<std::string>& records);
std::string EndOfArchive();
void WriteBytes(const std::string& path, const std::string& bytes);
std::string ReadBytes(const std::string& path);

// Every file under `root` (but the SQLite journal files and the lock) mapped
// to its contents' hash, plus the catalog's logical contents.
std::map<std::string, std::string> SnapshotStore(const std::string& root);

class TempDir;
// A store under TMP/store; fails the test when it cannot be opened.
std::unique_ptr<Store> OpenTestStore(const TempDir& tmp);
std::unique_ptr<Volumes> OpenTestVolumes(Store& store);
// Imports a one-layer image with /bin/sh, tagged `ref`.
Image ImportShellImage(Store& store, const TempDir& tmp, const std::string& ref = "base");
std::unique_ptr<Containers> OpenTestContainers(Store& store, Volumes& volumes);
// An index entry (mtime 1600000000, everything else zero).
Entry MakeEntry(std::string path, EntryType type = EntryType::kRegular, uint32_t mode = 0644);

// Runs a shell command, returning its exit status.
int Sh(const std::string& command);

}  // namespace strata::test
