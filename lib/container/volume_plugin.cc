// A Docker volume plugin as a VolumeDriver: Docker's plugin protocol (HTTP +
// JSON) over the plugin's unix socket, found where Docker looks for it.
// Everything the plugin answers is checked before it is used.
#include <sys/stat.h>

#include <nlohmann/json.hpp>

#include "format/json.h"
#include "strata/volume.h"
#include "util/file_util.h"
#include "util/http_client.h"
#include "util/status_macros.h"

namespace strata {

namespace {

using nlohmann::json;

// Where Docker finds plugins: a socket in /run/docker/plugins (NAME.sock, or
// NAME/NAME.sock), or a spec file naming one in /etc/docker/plugins or
// /usr/lib/docker/plugins (NAME.spec: "unix:///path"; NAME.json: {"Addr": ...}).
Result<std::string> FindPluginSocket(const std::string& name) {
  auto is_socket = [](const std::string& path) {
    struct stat st;
    return ::stat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode);
  };
  for (const std::string& path :
       {"/run/docker/plugins/" + name + ".sock", "/run/docker/plugins/" + name + "/" + name + ".sock"}) {
    if (is_socket(path)) return path;
  }
  for (const std::string dir : {"/etc/docker/plugins", "/usr/lib/docker/plugins"}) {
    std::string addr;
    if (auto spec = ReadFile(dir + "/" + name + ".spec"); spec.ok()) {
      addr = spec->substr(0, spec->find_first_of("\r\n"));
    } else if (auto text = ReadFile(dir + "/" + name + ".json"); text.ok()) {
      json j = json::parse(*text, nullptr, false);
      if (j.is_object() && j.contains("Addr") && j["Addr"].is_string()) addr = j["Addr"];
    } else {
      continue;
    }
    if (!addr.starts_with("unix://"))
      return Status::Unsupported("volume plugin " + name + " is at " + addr +
                                 ": only unix sockets are supported");
    if (!is_socket(addr.substr(7)))
      return Status::NotFound("volume plugin " + name + ": no socket at " + addr.substr(7));
    return addr.substr(7);
  }
  return Status::NotFound("no such volume driver: " + name +
                          " (not built in, and no Docker volume plugin of that name in /run/docker/plugins, "
                          "/etc/docker/plugins or /usr/lib/docker/plugins)");
}

class PluginVolumeDriver : public VolumeDriver {
 public:
  PluginVolumeDriver(std::string name, std::string socket)
      : name_(std::move(name)), socket_(std::move(socket)), http_(TlsOptions{}) {}

  std::string name() const override { return name_; }
  Capabilities capabilities() const override { return capabilities_; }

  // Plugin.Activate: the plugin must say it is a volume driver.
  Status Activate() {
    ASSIGN_OR_RETURN(json reply, Call("Plugin.Activate", nullptr));
    const json& implements = reply["Implements"];
    if (!implements.is_array() ||
        std::find(implements.begin(), implements.end(), "VolumeDriver") == implements.end())
      return Status::InvalidArgument("plugin " + name_ + " is not a volume driver");
    if (auto caps = Call("VolumeDriver.Capabilities", json::object()); caps.ok()) {
      const json& c = (*caps)["Capabilities"];
      if (c.is_object() && c.contains("Scope") && c["Scope"] == "global") capabilities_.scope = "global";
    }
    return Status::OK();
  }

  Status Create(const std::string& volume, const std::map<std::string, std::string>& options) override {
    return Call("VolumeDriver.Create", {{"Name", volume}, {"Opts", options}}).status();
  }
  Status Remove(const std::string& volume) override {
    return Call("VolumeDriver.Remove", {{"Name", volume}}).status();
  }
  Result<std::string> Path(const std::string& volume) override {
    ASSIGN_OR_RETURN(json reply, Call("VolumeDriver.Path", {{"Name", volume}}));
    return MountpointOf(reply, "VolumeDriver.Path", /*required=*/false);
  }
  Result<std::string> Mount(const std::string& volume, const std::string& user) override {
    ASSIGN_OR_RETURN(json reply, Call("VolumeDriver.Mount", {{"Name", volume}, {"ID", user}}));
    return MountpointOf(reply, "VolumeDriver.Mount", /*required=*/true);
  }
  Status Unmount(const std::string& volume, const std::string& user) override {
    return Call("VolumeDriver.Unmount", {{"Name", volume}, {"ID", user}}).status();
  }
  Result<std::vector<std::string>> List() override {
    ASSIGN_OR_RETURN(json reply, Call("VolumeDriver.List", json::object()));
    std::vector<std::string> names;
    if (!reply["Volumes"].is_array()) return Malformed("VolumeDriver.List", "no Volumes list");
    for (const json& v : reply["Volumes"]) {
      if (!v.is_object() || !v.contains("Name") || !v["Name"].is_string())
        return Malformed("VolumeDriver.List", "a volume without a name");
      names.push_back(v["Name"]);
    }
    return names;
  }

 private:
  Status Malformed(const std::string& method, const std::string& what) const {
    return Status::IOError("volume plugin " + name_ + ": " + method + ": malformed answer (" + what + ")");
  }

  // A mountpoint must be an absolute path (a directory that exists, when it is
  // where a container's data will be bound).
  Result<std::string> MountpointOf(json& reply, const std::string& method, bool required) const {
    if (!reply.contains("Mountpoint") || !reply["Mountpoint"].is_string()) {
      if (!required) return std::string();
      return Malformed(method, "no Mountpoint");
    }
    const std::string path = reply["Mountpoint"];
    if (path.empty() && !required) return path;
    if (path.empty() || path[0] != '/' || path.find("/../") != std::string::npos || path.ends_with("/.."))
      return Malformed(method, "Mountpoint '" + path + "' is not an absolute path");
    struct stat st;
    if (required && (::stat(path.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)))
      return Status::IOError("volume plugin " + name_ + ": its mountpoint " + path + " is not a directory");
    return path;
  }

  // POSTs `args` to /METHOD; the reply must be a JSON object with no "Err".
  Result<json> Call(const std::string& method, const json& args) {
    HttpRequest request;
    request.method = "POST";
    request.url = "http://plugin/" + method;
    request.unix_socket = socket_;
    request.headers = {"Accept: application/vnd.docker.plugins.v1.2+json",
                       "Content-Type: application/vnd.docker.plugins.v1.2+json"};
    request.body = DumpJson(args);
    request.follow_redirects = false;
    request.max_body = 1 << 20;
    auto response = http_.Do(request);
    if (!response.ok()) return Status::IOError("volume plugin " + name_ + ": " + response.status().message());
    json reply = json::parse(response->body, nullptr, false);
    if (!reply.is_object()) {
      if (response->status != 200)
        return Status::IOError("volume plugin " + name_ + ": " + method + ": HTTP " +
                               std::to_string(response->status));
      return Malformed(method, "not a JSON object");
    }
    if (reply.contains("Err") && reply["Err"].is_string() && !reply["Err"].get<std::string>().empty()) {
      const std::string err = reply["Err"];
      return Status::IOError("volume plugin " + name_ + ": " + err);
    }
    if (response->status != 200)
      return Status::IOError("volume plugin " + name_ + ": " + method + ": HTTP " +
                             std::to_string(response->status));
    return reply;
  }

  std::string name_, socket_;
  HttpClient http_;
  Capabilities capabilities_;
};

}  // namespace

Result<std::unique_ptr<VolumeDriver>> MakePluginVolumeDriver(const std::string& name) {
  ASSIGN_OR_RETURN(std::string socket, FindPluginSocket(name));
  auto driver = std::make_unique<PluginVolumeDriver>(name, socket);
  RETURN_IF_ERROR(driver->Activate());
  return std::unique_ptr<VolumeDriver>(std::move(driver));
}

}  // namespace strata
