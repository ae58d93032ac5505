#include "container/container_json.h"
#include "format/json.h"

#include <nlohmann/json.hpp>

#include "strata/text.h"

namespace strata {

using nlohmann::json;

namespace {

json MountToJson(const MountRequest& m) {
  return {{"Type", m.type == MountRequest::Type::kBind ? "bind" : "volume"},
          {"Source", m.source},
          {"Destination", m.target},
          {"RW", !m.readonly}};
}

json InfoToJson(const ContainerInfo& c) {
  json mounts = json::array();
  for (const auto& m : c.mounts) mounts.push_back(MountToJson(m));
  return {{"Id", c.id},
          {"Name", c.name},
          {"Image", c.image_id},
          {"ImageRef", c.image_ref},
          {"TopLayer", c.top_layer},
          {"Args", c.args},
          {"Env", c.env},
          {"WorkingDir", c.working_dir},
          {"User", c.user},
          {"Mounts", mounts},
          {"Seccomp", c.seccomp},
          {"NoNewPrivileges", c.no_new_privileges},
          {"Privileged", c.privileged},
          {"Verify", c.verify},
          {"Tty", c.tty},
          {"Created", c.created},
          {"State", ContainerStateName(c.state)},
          {"ExitCode", c.exit_code},
          {"StartedAt", c.started},
          {"FinishedAt", c.finished},
          {"Pid", c.pid},
          {"PidStart", c.pid_start},
          {"MonitorPid", c.monitor_pid},
          {"MonitorStart", c.monitor_start},
          {"MountedAt", c.mounted_at},
          {"Runtime", c.runtime}};
}

}  // namespace

const char* ContainerStateName(ContainerState state) {
  switch (state) {
    case ContainerState::kCreated: return "created";
    case ContainerState::kRunning: return "running";
    case ContainerState::kExited: return "exited";
  }
  return "created";
}

std::string EncodeContainer(const ContainerInfo& info) {
  return DumpJson(InfoToJson(info));
}

Result<ContainerInfo> DecodeContainer(const std::string& text) {
  json j = json::parse(text, nullptr, false);
  if (!j.is_object()) return Status::Corruption("a container record is not JSON");
  try {
    ContainerInfo c;
    c.id = j.at("Id").get<std::string>();
    c.name = j.at("Name").get<std::string>();
    c.image_id = j.at("Image").get<std::string>();
    c.image_ref = j.value("ImageRef", "");
    c.top_layer = j.value("TopLayer", "");
    c.args = j.value("Args", std::vector<std::string>{});
    c.env = j.value("Env", std::vector<std::string>{});
    c.working_dir = j.value("WorkingDir", "");
    c.user = j.value("User", "");
    for (const auto& m : j.value("Mounts", json::array())) {
      MountRequest r;
      r.type = m.at("Type") == "bind" ? MountRequest::Type::kBind : MountRequest::Type::kVolume;
      r.source = m.at("Source").get<std::string>();
      r.target = m.at("Destination").get<std::string>();
      r.readonly = !m.value("RW", true);
      c.mounts.push_back(std::move(r));
    }
    c.created = j.value("Created", int64_t{0});
    std::string state = j.value("State", "created");
    c.state = state == "running"  ? ContainerState::kRunning
              : state == "exited" ? ContainerState::kExited
                                  : ContainerState::kCreated;
    c.exit_code = j.value("ExitCode", 0);
    c.started = j.value("StartedAt", int64_t{0});
    c.finished = j.value("FinishedAt", int64_t{0});
    c.pid = j.value("Pid", 0);
    c.pid_start = j.value("PidStart", uint64_t{0});
    c.monitor_pid = j.value("MonitorPid", 0);
    c.monitor_start = j.value("MonitorStart", uint64_t{0});
    c.mounted_at = j.value("MountedAt", "");
    c.runtime = j.value("Runtime", "runc");
    c.seccomp = j.value("Seccomp", true);
    c.no_new_privileges = j.value("NoNewPrivileges", false);
    c.privileged = j.value("Privileged", false);
    c.verify = j.value("Verify", false);
    c.tty = j.value("Tty", false);
    return c;
  } catch (const json::exception& e) {
    return Status::Corruption(std::string("a container record is malformed: ") + e.what());
  }
}

std::string ToJson(const std::vector<ContainerInfo>& containers) {
  // The record's times are seconds; shown, they are RFC 3339 (never: Go's zero time, as docker's).
  auto time = [](int64_t t) { return t == 0 ? std::string("0001-01-01T00:00:00Z") : FormatRfc3339(t); };
  json out = json::array();
  for (const auto& c : containers) {
    json j = InfoToJson(c);
    j["Created"] = time(c.created);
    j["StartedAt"] = time(c.started);
    j["FinishedAt"] = time(c.finished);
    out.push_back(std::move(j));
  }
  return DumpJson(out, 2);
}

}  // namespace strata
