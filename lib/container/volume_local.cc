// The `local` volume driver: one directory per volume, <volumes>/<name>/_data,
// made atomically (a temporary directory renamed into place).
#include <errno.h>
#include <sys/stat.h>

#include <cstdio>

#include "strata/volume.h"
#include "util/file_util.h"
#include "util/status_macros.h"

namespace strata {

namespace {

class LocalVolumeDriver final : public VolumeDriver {
 public:
  explicit LocalVolumeDriver(std::string dir) : dir_(std::move(dir)) {}

  std::string name() const override { return "local"; }
  Capabilities capabilities() const override { return {"local"}; }

  Status Create(const std::string& volume, const std::map<std::string, std::string>& options) override {
    if (!options.empty()) {
      return Status::InvalidArgument("volume driver local: option '" + options.begin()->first +
                                     "' is not supported");
    }
    std::string tmp = dir_ + "/.tmp-" + RandomHex(8);
    RETURN_IF_ERROR(MakeDirs(tmp + "/_data"));
    if (::rename(tmp.c_str(), (dir_ + "/" + volume).c_str()) != 0) {
      Status st = errno == EEXIST || errno == ENOTEMPTY
                      ? Status::AlreadyExists("volume directory " + volume + " already exists")
                      : ErrnoStatus("create volume", volume);
      (void)RemoveAll(tmp);
      return st;
    }
    return FsyncDir(dir_);
  }

  Status Remove(const std::string& volume) override { return RemoveAll(dir_ + "/" + volume); }

  Result<std::string> Path(const std::string& volume) override {
    std::string path = dir_ + "/" + volume + "/_data";
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) return ErrnoStatus("volume " + volume, path);
    return path;
  }

  Result<std::string> Mount(const std::string& volume, const std::string&) override { return Path(volume); }
  Status Unmount(const std::string&, const std::string&) override { return Status::OK(); }

  Result<std::vector<std::string>> List() override {
    auto names = ListDir(dir_);
    if (!names.ok()) return ErrnoStatus("list volumes", dir_);
    std::erase_if(*names, [](const std::string& n) { return n.starts_with('.'); });
    return names;
  }

 private:
  std::string dir_;
};

}  // namespace

std::unique_ptr<VolumeDriver> MakeLocalVolumeDriver(const std::string& volumes_dir) {
  return std::make_unique<LocalVolumeDriver>(volumes_dir);
}

}  // namespace strata
