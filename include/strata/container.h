// Containers: an image's layers plus one writable layer that lives until the
// container is removed, a command to run in them, and the volumes and bind
// mounts it gets (never through the union: as bind mounts in the OCI config).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "strata/status.h"

namespace strata {

// -v NAME:/path[:ro], -v /host:/path[:ro], --mount type=volume|bind,...
struct MountRequest {
  enum class Type { kVolume, kBind };
  Type type = Type::kVolume;
  std::string source{};  // volume name ("" for a new anonymous volume) or absolute host path
  std::string target{};  // absolute path in the container
  bool readonly = false;
};

// Parses docker's -v and --mount forms; errors name what is wrong.
Result<MountRequest> ParseVolumeFlag(const std::string& spec);
Result<MountRequest> ParseMountFlag(const std::string& spec);

struct ContainerConfig {
  std::string name{};                     // "" for a generated one
  std::string image{};                    // name[:tag] or id
  std::vector<std::string> cmd{};         // overrides the image's CMD when not empty
  std::vector<std::string> entrypoint{};  // overrides the image's ENTRYPOINT when not empty
  std::vector<std::string> env{};         // KEY=value, over the image's
  std::string working_dir{};              // overrides the image's when not ""
  std::string user{};                     // overrides the image's when not ""
  std::vector<MountRequest> mounts{};
};

enum class ContainerState { kCreated, kRunning, kExited };
const char* ContainerStateName(ContainerState state);

struct ContainerInfo {
  std::string id;
  std::string name;
  std::string image_id;
  std::string image_ref;          // as the user named it
  std::string top_layer;          // the image's top layer: the writable layer's lower tree
  std::vector<std::string> args;  // entrypoint + cmd, resolved at create
  std::vector<std::string> env;
  std::string working_dir;
  std::string user;
  std::vector<MountRequest> mounts;  // volumes by their (possibly generated) names
  int64_t created = 0;
  ContainerState state = ContainerState::kCreated;
  int exit_code = 0;
  int64_t started = 0;
  int64_t finished = 0;
  int pid = 0;  // of the process running it, while running
};

// A change in a container's writable layer, as `docker diff` prints it.
struct ContainerChange {
  char kind = 'C';  // 'A' added, 'C' changed, 'D' deleted
  std::string path;
};

std::string ToJson(const std::vector<ContainerInfo>& containers);

}  // namespace strata
