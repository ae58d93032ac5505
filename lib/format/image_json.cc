#include "format/image_json.h"
#include "format/json.h"

#include <nlohmann/json.hpp>

namespace strata {

using nlohmann::json;

namespace {

json ConfigToJson(const ImageConfig& c) {
  return json{{"Env", c.env},
              {"Cmd", c.cmd},
              {"Entrypoint", c.entrypoint},
              {"WorkingDir", c.working_dir},
              {"User", c.user},
              {"Labels", c.labels},
              {"ExposedPorts", c.exposed_ports},
              {"Volumes", c.volumes},
              {"Shell", c.shell}};
}

json HistoryToJson(const std::vector<HistoryEntry>& history) {
  json out = json::array();
  for (const auto& h : history) {
    out.push_back({{"created", h.created},
                   {"created_by", h.created_by},
                   {"comment", h.comment},
                   {"empty_layer", h.empty_layer}});
  }
  return out;
}

json ImageToJson(const Image& image) {
  json j{{"created", image.created},
         {"layers", image.layers},
         {"config", ConfigToJson(image.config)},
         {"history", HistoryToJson(image.history)}};
  // Absent in images made before platforms were recorded: their ids stay as they were.
  if (!image.platform.empty()) {
    j["os"] = image.platform.os;
    j["architecture"] = image.platform.architecture;
    if (!image.platform.variant.empty()) j["variant"] = image.platform.variant;
  }
  return j;
}

json LayerToJson(const LayerInfo& l) {
  return json{{"id", l.id},     {"parent", l.parent},       {"diff_digest", l.diff_digest},
              {"size", l.size}, {"entries", l.entry_count}, {"created", l.created}};
}

template <typename T>
void Get(const json& j, const char* key, T* out) {
  if (auto it = j.find(key); it != j.end()) it->get_to(*out);
}

}  // namespace

std::string EncodeImageConfig(const Image& image) {
  return DumpJson(ImageToJson(image));
}

Result<Image> DecodeImageConfig(std::string_view text) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return Status::Corruption("image config is not a JSON object");
  try {
    Image image;
    Get(j, "created", &image.created);
    Get(j, "layers", &image.layers);
    Get(j, "os", &image.platform.os);
    Get(j, "architecture", &image.platform.architecture);
    Get(j, "variant", &image.platform.variant);
    if (auto c = j.find("config"); c != j.end()) {
      Get(*c, "Env", &image.config.env);
      Get(*c, "Cmd", &image.config.cmd);
      Get(*c, "Entrypoint", &image.config.entrypoint);
      Get(*c, "WorkingDir", &image.config.working_dir);
      Get(*c, "User", &image.config.user);
      Get(*c, "Labels", &image.config.labels);
      Get(*c, "ExposedPorts", &image.config.exposed_ports);
      Get(*c, "Volumes", &image.config.volumes);
      Get(*c, "Shell", &image.config.shell);
    }
    if (auto h = j.find("history"); h != j.end()) {
      for (const auto& item : *h) {
        HistoryEntry e;
        Get(item, "created", &e.created);
        Get(item, "created_by", &e.created_by);
        Get(item, "comment", &e.comment);
        Get(item, "empty_layer", &e.empty_layer);
        image.history.push_back(std::move(e));
      }
    }
    return image;
  } catch (const json::exception& e) {
    return Status::Corruption(std::string("image config: ") + e.what());
  }
}

std::string ToJson(const Image& image) {
  json j = ImageToJson(image);
  j["id"] = image.id;
  j["names"] = image.names;
  j["repo_digests"] = image.repo_digests;
  return DumpJson(j, 2);
}

std::string ToJson(const LayerInfo& layer) {
  return DumpJson(LayerToJson(layer), 2);
}

std::string ToJson(const std::vector<Image>& images) {
  json out = json::array();
  for (const auto& image : images) {
    json j = ImageToJson(image);
    j["id"] = image.id;
    j["names"] = image.names;
    j["repo_digests"] = image.repo_digests;
    out.push_back(std::move(j));
  }
  return DumpJson(out, 2);
}

std::string ToJson(const std::vector<LayerInfo>& layers) {
  json out = json::array();
  for (const auto& l : layers) out.push_back(LayerToJson(l));
  return DumpJson(out, 2);
}

}  // namespace strata
