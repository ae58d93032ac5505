#include "oci/oci_config.h"
#include "format/image_json.h"
#include "format/json.h"
#include "strata/text.h"
#include "util/status_macros.h"

#include <time.h>

#include <nlohmann/json.hpp>

namespace strata {

using nlohmann::json;

namespace {

// A config's time; one that is missing or does not parse counts as the epoch (as docker's does).
Timestamp ConfigTime(const json& j) {
  const auto it = j.find("created");
  if (it == j.end() || !it->is_string()) return {};
  return ParseRfc3339(it->get<std::string>()).value_or(Timestamp{});
}

std::vector<std::string> Keys(const json& j) {
  std::vector<std::string> out;
  if (j.is_object()) {
    for (auto it = j.begin(); it != j.end(); ++it) out.push_back(it.key());
  }
  return out;
}

}  // namespace

bool IsSha256Digest(const std::string& d) {
  return d.size() == 71 && d.rfind("sha256:", 0) == 0 &&
         d.find_first_not_of("0123456789abcdef", 7) == std::string::npos;
}

std::string OciConfigJson(const Image& image, const std::vector<std::string>& diff_ids) {
  const ImageConfig& c = image.config;
  json config = json::object();
  if (!c.env.empty()) config["Env"] = c.env;
  if (!c.cmd.empty()) config["Cmd"] = c.cmd;
  if (!c.entrypoint.empty()) config["Entrypoint"] = c.entrypoint;
  if (!c.working_dir.empty()) config["WorkingDir"] = c.working_dir;
  if (!c.user.empty()) config["User"] = c.user;
  if (!c.labels.empty()) config["Labels"] = c.labels;
  if (!c.exposed_ports.empty()) config["ExposedPorts"] = JsonSet(c.exposed_ports);
  if (!c.volumes.empty()) config["Volumes"] = JsonSet(c.volumes);
  if (!c.shell.empty()) config["Shell"] = c.shell;
  const json history = OciHistoryJson(image.history);
  const Platform platform = image.platform.empty() ? HostPlatform() : image.platform;
  json out = {{"created", FormatRfc3339(image.created, image.created_nanos)},
              {"architecture", platform.architecture},
              {"os", platform.os},
              {"config", config},
              {"rootfs", {{"type", "layers"}, {"diff_ids", diff_ids}}},
              {"history", history}};
  if (!platform.variant.empty()) out["variant"] = platform.variant;
  return DumpJson(out);
}

Result<OciImageConfig> ParseOciConfig(const std::string& text) {
  json j = json::parse(text, nullptr, false);
  if (!j.is_object()) return Status::InvalidArgument("image config is not a JSON object");
  try {
    OciImageConfig out;
    Image& image = out.image;
    const Timestamp created = ConfigTime(j);
    image.created = created.seconds;
    image.created_nanos = created.nanos;
    image.platform = {j.value("os", ""), j.value("architecture", ""), j.value("variant", "")};
    if (image.platform.architecture.empty() != image.platform.os.empty())
      return Status::InvalidArgument("image config names an architecture or an os, not both");
    if (!image.platform.empty()) RETURN_IF_ERROR(ParsePlatform(PlatformString(image.platform)).status());
    json c = j.value("config", json::object());
    if (c.is_null()) c = json::object();
    auto strings = [&](const char* key) {
      return c.contains(key) && c[key].is_array() ? c[key].get<std::vector<std::string>>()
                                                  : std::vector<std::string>{};
    };
    image.config.env = strings("Env");
    image.config.cmd = strings("Cmd");
    image.config.entrypoint = strings("Entrypoint");
    image.config.shell = strings("Shell");
    image.config.working_dir =
        c.contains("WorkingDir") && c["WorkingDir"].is_string() ? c["WorkingDir"].get<std::string>() : "";
    image.config.user = c.contains("User") && c["User"].is_string() ? c["User"].get<std::string>() : "";
    if (c.contains("Labels") && c["Labels"].is_object()) c["Labels"].get_to(image.config.labels);
    image.config.exposed_ports = Keys(c.value("ExposedPorts", json::object()));
    image.config.volumes = Keys(c.value("Volumes", json::object()));
    for (const auto& h : j.value("history", json::array())) {
      const Timestamp when = ConfigTime(h);
      image.history.push_back({when.seconds, h.value("created_by", ""), h.value("comment", ""),
                               h.value("empty_layer", false), when.nanos});
    }
    const json& rootfs = j.at("rootfs");
    if (rootfs.value("type", "") != "layers")
      return Status::InvalidArgument("image config: rootfs.type is not layers");
    out.diff_ids = rootfs.at("diff_ids").get<std::vector<std::string>>();
    for (const auto& d : out.diff_ids) {
      if (!IsSha256Digest(d)) return Status::InvalidArgument("image config: bad diff_id " + d);
    }
    return out;
  } catch (const json::exception& e) {
    return Status::InvalidArgument(std::string("image config: ") + e.what());
  }
}

}  // namespace strata
