#include <cstdio>

#include "cli.h"
#include "output_format.h"

namespace strata::cli {

namespace {

uint64_t ImageSize(Store& store, const Image& image) {
  uint64_t total = 0;
  for (const auto& id : image.layers) total += Check(store.GetLayer(id)).size;
  return total;
}

std::pair<std::string, std::string> SplitName(const std::string& name) {
  auto colon = name.rfind(':');
  return {name.substr(0, colon), name.substr(colon + 1)};
}

// The manifest digest a registry gave the image under `repo` ("<none>" if none).
std::string RepoDigest(const Image& image, const std::string& repo) {
  for (const auto& d : image.repo_digests) {
    if (d.substr(0, d.find('@')) == repo) return d.substr(d.find('@') + 1);
  }
  return "<none>";
}

void PrintImageTable(Store& store, const std::vector<Image>& images, bool quiet, bool digests) {
  if (!quiet && digests) {
    std::printf("%-30s %-12s %-71s %-14s %-21s %s\n", "REPOSITORY", "TAG", "DIGEST", "IMAGE ID", "CREATED",
                "SIZE");
  } else if (!quiet) {
    std::printf("%-30s %-12s %-14s %-21s %s\n", "REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE");
  }
  for (const Image& image : images) {
    if (quiet) {
      std::printf("%s\n", image.id.c_str());
      continue;
    }
    std::string size = HumanSize(ImageSize(store, image));
    std::vector<std::string> names = image.names;
    if (names.empty()) names.push_back("<none>:<none>");
    for (const auto& name : names) {
      auto [repo, tag] = SplitName(name);
      if (digests) {
        std::printf("%-30s %-12s %-71s %-14s %-21s %s\n", repo.c_str(), tag.c_str(),
                    RepoDigest(image, repo).c_str(), ShortId(image.id).c_str(),
                    FormatTime(image.created).c_str(), size.c_str());
        continue;
      }
      std::printf("%-30s %-12s %-14s %-21s %s\n", repo.c_str(), tag.c_str(), ShortId(image.id).c_str(),
                  FormatTime(image.created).c_str(), size.c_str());
    }
  }
}

void PrintImage(Store& store, const Image& image) {
  std::printf("Id:      %s\n", image.id.c_str());
  for (const auto& name : image.names) std::printf("Name:    %s\n", name.c_str());
  for (const auto& digest : image.repo_digests) std::printf("Digest:  %s\n", digest.c_str());
  std::printf("Created: %s\n", FormatTime(image.created).c_str());
  std::printf("Size:    %s\n", HumanSize(ImageSize(store, image)).c_str());
  std::printf("Layers:\n");
  for (const auto& id : image.layers) std::printf("  %s\n", id.c_str());
}

void ListImages(Context& ctx, bool json, bool quiet, bool digests) {
  Store& store = ctx.OpenStore();
  auto images = Check(store.ListImages());
  if (json) {
    std::printf("%s\n", ToJson(images).c_str());
  } else {
    PrintImageTable(store, images, quiet, digests);
  }
}

void RemoveImages(Context& ctx, const std::vector<std::string>& refs, bool force) {
  Store& store = ctx.OpenStore();
  for (const auto& ref : refs) {
    RemoveImageReport report = Check(store.RemoveImage(ref, {.force = force}));
    for (const auto& name : report.untagged) std::printf("Untagged: %s\n", name.c_str());
    if (!report.deleted_image.empty()) std::printf("Deleted: image %s\n", report.deleted_image.c_str());
    for (const auto& layer : report.deleted_layers) std::printf("Deleted: layer %s\n", layer.c_str());
  }
}

// `images`/`image ls` and `rmi`/`image rm`: the same commands under docker's two names.
void AddListImages(CLI::App* cmd, Context& ctx) {
  auto json = std::make_shared<bool>(false), quiet = std::make_shared<bool>(false),
       digests = std::make_shared<bool>(false);
  cmd->add_flag("--json", *json, "print JSON");
  cmd->add_flag("-q,--quiet", *quiet, "print image ids only");
  cmd->add_flag("--digests", *digests, "show the manifest digest a registry gave each image");
  cmd->callback([&ctx, json, quiet, digests] { ListImages(ctx, *json, *quiet, *digests); });
}

void AddRemoveImages(CLI::App* cmd, Context& ctx) {
  auto refs = std::make_shared<std::vector<std::string>>();
  auto force = std::make_shared<bool>(false);
  cmd->add_option("IMAGE", *refs, "name[:tag], id or id prefix")->required();
  cmd->add_flag("-f,--force", *force, "remove an image by id even when it has several names");
  cmd->callback([&ctx, refs, force] { RemoveImages(ctx, *refs, *force); });
}

}  // namespace

void AddImageCommands(CLI::App& app, Context& ctx) {
  AddListImages(app.add_subcommand("images", "list images"), ctx);
  AddRemoveImages(app.add_subcommand("rmi", "remove images, and the layers no other image needs"), ctx);
  auto* image = app.add_subcommand("image", "manage images");
  image->require_subcommand(1);

  AddListImages(image->add_subcommand("ls", "list images"), ctx);

  struct InspectArgs {
    std::vector<std::string> refs;
    std::string format;
    bool json = false;
  };
  auto inspect_args = std::make_shared<InspectArgs>();
  auto* inspect = image->add_subcommand("inspect", "show images (docker's JSON with --json or --format)");
  inspect->add_option("IMAGE", inspect_args->refs, "name[:tag], id or id prefix")->required();
  inspect->add_flag("--json", inspect_args->json, "print docker's JSON: an array, one object per image");
  inspect->add_option("-f,--format", inspect_args->format,
                      "per image: a JSON pointer (/Config/Env) or {{.Field}}, {{.A.B}}, {{json .Field}}");
  inspect->callback([&ctx, inspect_args] {
    Store& store = ctx.OpenStore();
    std::vector<Image> images;
    for (const auto& ref : inspect_args->refs) images.push_back(Check(store.GetImage(ref)));
    if (!inspect_args->json && inspect_args->format.empty()) {
      for (const auto& img : images) PrintImage(store, img);
      return;
    }
    nlohmann::json items = nlohmann::json::array();
    for (const auto& img : images) {
      nlohmann::json item = nlohmann::json::parse(ToJson(img));
      item["Size"] = ImageSize(store, img);
      items.push_back(std::move(item));
    }
    PrintItems(items, inspect_args->format);
  });

  AddRemoveImages(image->add_subcommand("rm", "remove images, and the layers no other image needs"), ctx);

  auto* tag = app.add_subcommand("tag", "give an image another name");
  auto tag_args = std::make_shared<std::pair<std::string, std::string>>();
  tag->add_option("SOURCE", tag_args->first, "image")->required();
  tag->add_option("TARGET", tag_args->second, "new name[:tag]")->required();
  tag->callback([&ctx, tag_args] { Check(ctx.OpenStore().Tag(tag_args->first, tag_args->second)); });
}

}  // namespace strata::cli
