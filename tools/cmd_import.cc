// strata import: a tar as one new layer and image.
#include <cstdio>

#include "cli.h"
#include "progress_display.h"

namespace strata::cli {

void AddImportCommand(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("import", "make a tar (.tar, .tar.gz, .tar.zst; - for stdin) one new layer");
  struct Args {
    std::string file;
    ImportOptions options;
    bool quiet = false;
  };
  auto args = std::make_shared<Args>();
  cmd->add_option("FILE", args->file, "tar archive, or - for standard input")->required();
  cmd->add_option("REF", args->options.ref, "name[:tag] for the new image");
  cmd->add_option("--from", args->options.from, "image whose layers go below the new one");
  cmd->add_flag("-q,--quiet", args->quiet, "no progress and no summary: only the image id");
  cmd->callback([&ctx, args] {
    Store& store = ctx.OpenStore();
    Image image = [&] {
      StoreProgress progress(store, args->quiet);
      return Check(store.ImportTar(args->file, args->options));
    }();
    if (!args->quiet) {  // the id alone goes to stdout, for $(strata import ...)
      LayerInfo layer = Check(store.GetLayer(image.layers.back()));
      std::fprintf(stderr, "layer %s: %llu entries, %s\n", ShortId(layer.id).c_str(),
                   static_cast<unsigned long long>(layer.entry_count), HumanSize(layer.size).c_str());
    }
    std::printf("%s\n", image.id.c_str());
  });
}

}  // namespace strata::cli
