#include <cstdio>

#include "cli.h"

namespace strata::cli {

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
    Image image = Check(store.ImportTar(args->file, args->options));
    LayerInfo layer = Check(store.GetLayer(image.layers.back()));
    std::printf("layer %s: %llu entries, %s\n", ShortId(layer.id).c_str(),
                static_cast<unsigned long long>(layer.entry_count), HumanSize(layer.size).c_str());
    std::printf("%s\n", image.id.c_str());
  });
}

}  // namespace strata::cli
