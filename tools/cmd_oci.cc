// strata save / load: OCI image layouts (and docker save archives) as tars.
#include <cstdio>

#include "cli.h"
#include "progress_display.h"

namespace strata::cli {

void AddOciCommands(CLI::App& app, Context& ctx) {
  struct SaveArgs {
    std::vector<std::string> refs;
    std::string output, compression = "gzip";
    bool quiet = false;
  };
  auto save_args = std::make_shared<SaveArgs>();
  auto* save = app.add_subcommand("save", "write images as an OCI image layout tar");
  save->add_option("IMAGE", save_args->refs, "name[:tag] or id")->required();
  save->add_option("-o,--output", save_args->output, "the tar to write")->required();
  save->add_option("--compression", save_args->compression, "layer blobs: gzip (default), zstd or none")
      ->check(CLI::IsMember({"gzip", "zstd", "none"}));
  save->add_flag("-q,--quiet", save_args->quiet, "no progress");
  save->callback([&ctx, save_args] {
    SaveOptions options;
    options.compression = save_args->compression == "zstd"   ? Compression::kZstd
                          : save_args->compression == "none" ? Compression::kNone
                                                             : Compression::kGzip;
    Store& store = ctx.OpenStore();
    StoreProgress progress(store, save_args->quiet);
    Check(SaveImages(store, save_args->refs, save_args->output, options));
  });

  struct LoadArgs {
    std::string input, platform;
    bool quiet = false;
  };
  auto load_args = std::make_shared<LoadArgs>();
  auto* load = app.add_subcommand("load", "read images from an OCI image layout tar or a docker save tar");
  load->add_option("-i,--input", load_args->input, "the tar to read")->required();
  load->add_option(
      "--platform", load_args->platform,
      "from a multi-platform archive, load this one (os/arch[/variant]; default: this machine's)");
  load->add_flag("-q,--quiet", load_args->quiet, "no progress");
  load->callback([&ctx, load_args] {
    LoadOptions options;
    if (!load_args->platform.empty()) options.platform = Check(ParsePlatform(load_args->platform));
    Store& store = ctx.OpenStore();
    StoreProgress progress(store, load_args->quiet);
    auto images = Check(LoadImages(store, load_args->input, options));
    for (const auto& image : images) {
      if (image.names.empty()) std::printf("Loaded image ID: %s\n", image.id.c_str());
      for (const auto& name : image.names) std::printf("Loaded image: %s\n", name.c_str());
    }
  });
}

}  // namespace strata::cli
