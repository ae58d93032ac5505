// strata volume-plugin: Docker's volume plugin protocol (HTTP + JSON on a
// unix socket, docs.docker.com/engine/extend/plugins_volume/) over this
// store's volumes, so that `docker volume create -d strata NAME` and
// `docker run -v NAME:/data` keep data in strata volumes. The HTTP is
// cpp-httplib's; each request is one call of the Volumes API.
#include <httplib.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <mutex>
#include <thread>

#include "cli.h"

namespace strata::cli {

namespace {

using nlohmann::json;
constexpr const char* kContentType = "application/vnd.docker.plugins.v1.2+json";

// A request's JSON body (Docker sends `null` or nothing to the calls that take no arguments).
Result<json> Body(const httplib::Request& req) {
  if (req.body.empty()) return json::object();
  json body = json::parse(req.body, nullptr, false);
  if (body.is_null()) return json::object();
  if (body.is_discarded() || !body.is_object())
    return Status::InvalidArgument("the request body is not a JSON object");
  return body;
}

void Reply(httplib::Response& res, const Result<json>& result) {
  if (result.ok()) {
    json out = *result;
    out["Err"] = "";
    res.set_content(DumpJsonText(out), kContentType);
    return;
  }
  res.status = result.status().code() == Code::kInvalidArgument ? 400
               : result.status().code() == Code::kNotFound      ? 404
                                                                : 500;
  res.set_content(DumpJsonText({{"Err", result.status().message()}}), kContentType);
}

class VolumePlugin {
 public:
  explicit VolumePlugin(Volumes& volumes) : volumes_(volumes) {}

  void Route(httplib::Server& server) {
    On(server, "/Plugin.Activate", {}, [](const json&) -> Result<json> {
      return json{{"Implements", {"VolumeDriver"}}};
    });
    On(server, "/VolumeDriver.Capabilities", {}, [](const json&) -> Result<json> {
      return json{{"Capabilities", {{"Scope", "local"}}}};
    });
    On(server, "/VolumeDriver.Create", {"Name"}, [this](const json& b) -> Result<json> {
      VolumeCreateOptions options;
      if (b.contains("Opts") && b["Opts"].is_object()) {
        for (auto it = b["Opts"].begin(); it != b["Opts"].end(); ++it) {
          if (!it->is_string()) return Status::InvalidArgument("option " + it.key() + " is not a string");
          options.options[it.key()] = it->get<std::string>();
        }
      }
      auto made = volumes_.Create(b["Name"], options);
      if (!made.ok()) return made.status();
      return json::object();
    });
    On(server, "/VolumeDriver.Remove", {"Name"}, [this](const json& b) -> Result<json> {
      Status removed = volumes_.Remove(b["Name"]);
      if (!removed.ok()) return removed;
      return json::object();
    });
    // Docker names its container by ID; strata records it as a user of the
    // volume ("docker:ID"), so neither strata nor Docker removes it in use.
    On(server, "/VolumeDriver.Mount", {"Name", "ID"}, [this](const json& b) -> Result<json> {
      auto path = volumes_.Mount(b["Name"], "docker:" + b["ID"].get<std::string>());
      if (!path.ok()) return path.status();
      return json{{"Mountpoint", *path}};
    });
    On(server, "/VolumeDriver.Unmount", {"Name", "ID"}, [this](const json& b) -> Result<json> {
      Status done = volumes_.Unmount(b["Name"], "docker:" + b["ID"].get<std::string>());
      if (!done.ok()) return done;
      return json::object();
    });
    On(server, "/VolumeDriver.Path", {"Name"}, [this](const json& b) -> Result<json> {
      auto v = volumes_.Get(b["Name"]);
      if (!v.ok()) return v.status();
      return json{{"Mountpoint", v->mountpoint}};
    });
    On(server, "/VolumeDriver.Get", {"Name"}, [this](const json& b) -> Result<json> {
      auto v = volumes_.Get(b["Name"]);
      if (!v.ok()) return v.status();
      return json{{"Volume", Describe(*v)}};
    });
    On(server, "/VolumeDriver.List", {}, [this](const json&) -> Result<json> {
      auto all = volumes_.List();
      if (!all.ok()) return all.status();
      json out = json::array();
      for (const auto& v : *all) out.push_back(Describe(v));
      return json{{"Volumes", out}};
    });
  }

 private:
  using Handler = std::function<Result<json>(const json&)>;

  static json Describe(const VolumeInfo& v) {
    return {{"Name", v.name},
            {"Mountpoint", v.mountpoint},
            {"CreatedAt", FormatRfc3339(v.created)},
            {"Status", json::object()}};
  }

  void On(httplib::Server& server, const char* path, std::initializer_list<const char*> fields,
          Handler handler) {
    std::vector<const char*> required(fields);
    server.Post(path, [this, required, handler](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(mu_);  // Volumes serves one call at a time
      Result<json> body = Body(req);
      if (body.ok()) {
        for (const char* field : required) {
          if (!body->contains(field) || !(*body)[field].is_string()) {
            body = Status::InvalidArgument(std::string("the request has no string ") + field);
            break;
          }
        }
      }
      Reply(res, body.ok() ? handler(*body) : Result<json>(body.status()));
    });
  }

  std::mutex mu_;
  Volumes& volumes_;
};

}  // namespace

void AddVolumePluginCommand(CLI::App& app, Context& ctx) {
  struct Args {
    std::string socket = "/run/docker/plugins/strata.sock";
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("volume-plugin", "serve this store's volumes to Docker as a volume plugin");
  cmd->add_option(
      "--socket", args->socket,
      "where Docker finds it (default /run/docker/plugins/strata.sock: the plugin is named strata)");
  cmd->callback([&ctx, args] {
    Volumes& volumes = ctx.OpenVolumes();
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, nullptr);

    const std::string dir = args->socket.substr(0, args->socket.rfind('/'));
    if (!dir.empty()) std::filesystem::create_directories(dir);  // /run/docker/plugins before Docker made it
    struct stat st;
    if (::lstat(args->socket.c_str(), &st) == 0) {
      if (!S_ISSOCK(st.st_mode)) Fail(args->socket + " exists and is not a socket");
      ::unlink(args->socket.c_str());  // one a killed server left
    }
    httplib::Server server;
    VolumePlugin plugin(volumes);
    plugin.Route(server);
    server.set_address_family(AF_UNIX);
    const mode_t old_mask = ::umask(0077);  // root's alone, as the store is
    if (!server.bind_to_port(args->socket, 80)) Fail("cannot listen on " + args->socket);
    ::umask(old_mask);
    std::thread stopper([&] {
      int signal = 0;
      sigwait(&stop, &signal);
      server.stop();
    });
    std::fprintf(stderr, "strata volume-plugin: serving %s on %s\n", ctx.root.c_str(), args->socket.c_str());
    server.listen_after_bind();
    ::unlink(args->socket.c_str());
    stopper.join();
  });
}

}  // namespace strata::cli
