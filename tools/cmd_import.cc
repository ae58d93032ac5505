#include <cstdio>

#include "cli.h"

namespace strata::cli {

void AddImportCommand(CLI::App& app, Context& ctx) {
  auto* cmd = app.add_subcommand("import", "make a tar (.tar, .tar.gz, .tar.zst; - for stdin) one new layer");
  static std::string file, ref;
  static ImportOptions options;
  cmd->add_option("FILE", file, "tar archive, or - for standard input")->required();
  cmd->add_option("REF", ref, "name[:tag] for the new image");
  cmd->add_option("--from", options.from, "image whose layers go below the new one");
  cmd->callback([&ctx] {
    options.ref = ref;
    Store& store = ctx.OpenStore();
    Image image = Check(store.ImportTar(file, options));
    LayerInfo layer = Check(store.GetLayer(image.layers.back()));
    std::printf("layer %s: %llu entries, %s\n", ShortId(layer.id).c_str(),
                static_cast<unsigned long long>(layer.entry_count), HumanSize(layer.size).c_str());
    std::printf("%s\n", image.id.c_str());
  });
}

}  // namespace strata::cli
