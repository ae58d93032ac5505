#include "format/image_json.h"
#include "format/json.h"

#include <nlohmann/json.hpp>

#include "strata/text.h"

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
    json e = {{"created", h.created},
              {"created_by", h.created_by},
              {"comment", h.comment},
              {"empty_layer", h.empty_layer}};
    if (h.created_nanos != 0) e["created_nanos"] = h.created_nanos;  // absent before: ids stay
    out.push_back(std::move(e));
  }
  return out;
}

json ImageToJson(const Image& image) {
  json j{{"created", image.created},
         {"layers", image.layers},
         {"config", ConfigToJson(image.config)},
         {"history", HistoryToJson(image.history)}};
  if (image.created_nanos != 0) j["created_nanos"] = image.created_nanos;
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
              {"size", l.size}, {"entries", l.entry_count}, {"created", FormatRfc3339(l.created)}};
}

// Empty lists and maps as docker prints them: null.
template <typename T>
json OrNull(const T& value) {
  return value.empty() ? json(nullptr) : json(value);
}

// `docker image inspect`'s shape, for the fields that mean the same here.
json InspectJson(const Image& image) {
  const ImageConfig& c = image.config;
  json config = {{"User", c.user},
                 {"Env", OrNull(c.env)},
                 {"Cmd", OrNull(c.cmd)},
                 {"WorkingDir", c.working_dir},
                 {"Entrypoint", OrNull(c.entrypoint)},
                 {"Volumes", c.volumes.empty() ? json(nullptr) : JsonSet(c.volumes)},
                 {"Labels", OrNull(c.labels)}};
  if (!c.exposed_ports.empty()) config["ExposedPorts"] = JsonSet(c.exposed_ports);
  if (!c.shell.empty()) config["Shell"] = c.shell;
  json j = {{"Id", image.id},
            {"RepoTags", image.names},
            {"RepoDigests", image.repo_digests},
            {"Created", FormatRfc3339(image.created, image.created_nanos)},
            {"Config", config},
            {"Architecture", image.platform.architecture},
            {"Os", image.platform.os},
            {"GraphDriver", {{"Name", "strata"}, {"Data", {{"Layers", image.layers}}}}},
            {"History", OciHistoryJson(image.history)}};
  if (!image.platform.variant.empty()) j["Variant"] = image.platform.variant;
  return j;
}

template <typename T>
void Get(const json& j, const char* key, T* out) {
  if (auto it = j.find(key); it != j.end()) it->get_to(*out);
}

}  // namespace

json OciHistoryJson(const std::vector<HistoryEntry>& history) {
  json out = json::array();
  for (const auto& h : history) {
    json e = {{"created", FormatRfc3339(h.created, h.created_nanos)}, {"created_by", h.created_by}};
    if (!h.comment.empty()) e["comment"] = h.comment;
    if (h.empty_layer) e["empty_layer"] = true;
    out.push_back(std::move(e));
  }
  return out;
}

json JsonSet(const std::vector<std::string>& keys) {
  json out = json::object();
  for (const auto& k : keys) out[k] = json::object();
  return out;
}

std::string EncodeImageConfig(const Image& image) {
  return DumpJson(ImageToJson(image));
}

Result<Image> DecodeImageConfig(std::string_view text) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return Status::Corruption("image config is not a JSON object");
  try {
    Image image;
    Get(j, "created", &image.created);
    Get(j, "created_nanos", &image.created_nanos);
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
        Get(item, "created_nanos", &e.created_nanos);
        image.history.push_back(std::move(e));
      }
    }
    return image;
  } catch (const json::exception& e) {
    return Status::Corruption(std::string("image config: ") + e.what());
  }
}

std::string ToJson(const Image& image) {
  return DumpJson(InspectJson(image), 2);
}

std::string ToJson(const LayerInfo& layer) {
  return DumpJson(LayerToJson(layer), 2);
}

std::string ToJson(const std::vector<Image>& images) {
  json out = json::array();
  for (const auto& image : images) out.push_back(InspectJson(image));
  return DumpJson(out, 2);
}

std::string ToJson(const std::vector<LayerInfo>& layers) {
  json out = json::array();
  for (const auto& l : layers) out.push_back(LayerToJson(l));
  return DumpJson(out, 2);
}

}  // namespace strata
