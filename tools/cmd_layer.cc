#include <sys/sysmacros.h>

#include <cstdio>

#include "cli.h"
#include "progress_display.h"

namespace strata::cli {

namespace {

std::string ModeString(const Entry& e) {
  char type = '-';
  switch (e.type) {
    case EntryType::kDirectory: type = 'd'; break;
    case EntryType::kSymlink: type = 'l'; break;
    case EntryType::kHardlink: type = 'h'; break;
    case EntryType::kCharDevice: type = 'c'; break;
    case EntryType::kBlockDevice: type = 'b'; break;
    case EntryType::kFifo: type = 'p'; break;
    case EntryType::kSocket: type = 's'; break;
    case EntryType::kWhiteout: type = 'w'; break;
    case EntryType::kRegular: break;
  }
  std::string s(1, type);
  const char* rwx = "rwxrwxrwx";
  for (int i = 0; i < 9; ++i) s += (e.mode & (0400u >> i)) ? rwx[i] : '-';
  return s;
}

void PrintEntries(const LayerIndex& index) {
  for (const Entry& e : index.entries) {
    if (e.implicit && !e.opaque) continue;
    std::string path = "/" + e.path;
    std::string extra;
    if (e.type == EntryType::kSymlink) extra = " -> " + e.link_target;
    if (e.type == EntryType::kHardlink) extra = " link to /" + e.link_target;
    if (e.opaque) extra += " (opaque)";
    std::string size = std::to_string(e.size);
    if (e.type == EntryType::kCharDevice || e.type == EntryType::kBlockDevice) {
      size = std::to_string(e.dev_major) + "," + std::to_string(e.dev_minor);
    }
    std::printf("%s %5u:%-5u %10s %s%s\n", ModeString(e).c_str(), e.uid, e.gid, size.c_str(), path.c_str(),
                extra.c_str());
  }
}

}  // namespace

void AddLayerCommands(CLI::App& app, Context& ctx) {
  auto* layer = app.add_subcommand("layer", "manage layers");
  layer->require_subcommand(1);

  auto* ls = layer->add_subcommand("ls", "list layers");
  auto ls_json = std::make_shared<bool>(false);
  ls->add_flag("--json", *ls_json, "print JSON");
  ls->callback([&ctx, ls_json] {
    auto layers = Check(ctx.OpenStore().ListLayers());
    if (*ls_json) {
      std::printf("%s\n", ToJson(layers).c_str());
      return;
    }
    std::printf("%-14s %-14s %-9s %-10s %s\n", "LAYER ID", "PARENT", "ENTRIES", "SIZE", "CREATED");
    for (const auto& l : layers) {
      std::printf("%-14s %-14s %-9llu %-10s %s\n", ShortId(l.id).c_str(),
                  l.parent.empty() ? "-" : ShortId(l.parent).c_str(),
                  static_cast<unsigned long long>(l.entry_count), HumanSize(l.size).c_str(),
                  FormatTime(l.created).c_str());
    }
  });

  auto* inspect = layer->add_subcommand("inspect", "show a layer (JSON), or its entries");
  auto inspect_id = std::make_shared<std::string>();
  auto inspect_entries = std::make_shared<bool>(false);
  inspect->add_option("LAYER", *inspect_id, "layer id or unique prefix")->required();
  inspect->add_flag("--entries", *inspect_entries, "list the layer's entries instead");
  inspect->callback([&ctx, inspect_id, inspect_entries] {
    Store& store = ctx.OpenStore();
    if (*inspect_entries) {
      PrintEntries(Check(store.ReadLayerIndex(*inspect_id)));
    } else {
      std::printf("%s\n", ToJson(Check(store.GetLayer(*inspect_id))).c_str());
    }
  });

  auto* exp = layer->add_subcommand("export", "write a layer as a reproducible tar");
  struct ExportArgs {
    std::string id, out, compress = "none";
    bool quiet = false;
  };
  auto export_args = std::make_shared<ExportArgs>();
  exp->add_option("LAYER", export_args->id, "layer id or unique prefix")->required();
  exp->add_option("-o,--output", export_args->out, "output file, or - for standard output")->required();
  exp->add_option("--compress", export_args->compress, "none, gzip or zstd")
      ->check(CLI::IsMember({"none", "gzip", "zstd"}));
  exp->add_flag("-q,--quiet", export_args->quiet, "no progress");
  exp->callback([&ctx, export_args] {
    const std::string& name = export_args->compress;
    Compression c = name == "gzip"   ? Compression::kGzip
                    : name == "zstd" ? Compression::kZstd
                                     : Compression::kNone;
    Store& store = ctx.OpenStore();
    StoreProgress progress(store, export_args->quiet);
    Check(store.ExportLayer(export_args->id, export_args->out, c));
  });

  auto* rm = layer->add_subcommand("rm", "remove layers no image uses");
  auto rm_ids = std::make_shared<std::vector<std::string>>();
  rm->add_option("LAYER", *rm_ids, "layer id or unique prefix")->required();
  rm->callback([&ctx, rm_ids] {
    Store& store = ctx.OpenStore();
    for (const auto& id : *rm_ids) {
      std::string full = Check(store.GetLayer(id)).id;
      Check(store.RemoveLayer(full));
      std::printf("Deleted: layer %s\n", full.c_str());
    }
  });
}

}  // namespace strata::cli
