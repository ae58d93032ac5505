#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>

#include "cli.h"

namespace strata::cli {

namespace {

// On a terminal, shows how far the import has read its file (the fd's
// offset against its size) until destroyed; pipes stay quiet.
class ReadProgress {
 public:
  ReadProgress(int fd, const std::string& name) {
    struct stat st;
    if (!::isatty(STDERR_FILENO) || ::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size == 0) return;
    thread_ = std::thread([this, fd, name, size = st.st_size] {
      while (!done_) {
        off_t at = ::lseek(fd, 0, SEEK_CUR);
        if (at >= 0) std::fprintf(stderr, "\r\033[Kimporting %s: %d%%", name.c_str(), int(100.0 * at / size));
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
      }
      std::fprintf(stderr, "\r\033[K");
    });
  }
  ~ReadProgress() {
    done_ = true;
    if (thread_.joinable()) thread_.join();
  }

 private:
  std::atomic<bool> done_{false};
  std::thread thread_;
};

}  // namespace

void AddImportCommand(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("import", "make a tar (.tar, .tar.gz, .tar.zst; - for stdin) one new layer");
  struct Args {
    std::string file;
    ImportOptions options;
  };
  auto args = std::make_shared<Args>();
  cmd->add_option("FILE", args->file, "tar archive, or - for standard input")->required();
  cmd->add_option("REF", args->options.ref, "name[:tag] for the new image");
  cmd->add_option("--from", args->options.from, "image whose layers go below the new one");
  cmd->callback([&ctx, args] {
    Store& store = ctx.OpenStore();
    auto import = [&]() -> Result<Image> {
      if (args->file == "-") return store.ImportTarFd(STDIN_FILENO, "-", args->options);
      int fd = ::open(args->file.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) return Status::NotFound("open: " + args->file + ": " + std::strerror(errno));
      Result<Image> image = [&] {
        ReadProgress progress(fd, args->file);
        return store.ImportTarFd(fd, args->file, args->options);
      }();
      ::close(fd);
      return image;
    };
    Result<Image> imported = import();
    Image image = Check(std::move(imported));
    LayerInfo layer = Check(store.GetLayer(image.layers.back()));
    std::printf("layer %s: %llu entries, %s\n", ShortId(layer.id).c_str(),
                static_cast<unsigned long long>(layer.entry_count), HumanSize(layer.size).c_str());
    std::printf("%s\n", image.id.c_str());
  });
}

}  // namespace strata::cli
