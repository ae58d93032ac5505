// Containers: an image's layers plus one writable layer that lives until the
// container is removed, a command to run in them, and the volumes and bind
// mounts it gets (never through the union: as bind mounts in the OCI config).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "strata/image.h"
#include "strata/status.h"
#include "strata/store.h"
#include "strata/volume.h"

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
  std::string volume_driver{};  // --volume-driver: of the volumes this creates ("" for local)
  // Docker's hardening and its ways out (strata/runtime.h, RunSpec).
  bool seccomp = true;             // false: --security-opt seccomp=unconfined
  bool no_new_privileges = false;  // --security-opt no-new-privileges
  bool privileged = false;         // --privileged
  bool verify = false;             // --verify: its mount checks each blob at its first open (EIO if not)
  bool tty = false;                // -t: its process gets a terminal (and TERM=xterm unless set)
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
  bool seccomp = true;
  bool no_new_privileges = false;
  bool privileged = false;
  bool verify = false;
  bool tty = false;
  int64_t created = 0;
  ContainerState state = ContainerState::kCreated;
  int exit_code = 0;
  int64_t started = 0;
  int64_t finished = 0;
  // While it runs: its process (the container's init, as the runtime started
  // it) and that process's start time (clock ticks since boot, from
  // /proc/PID/stat), so that a reused pid is never taken for it; and the
  // monitor that waits for it and records how it ended.
  int pid = 0;
  uint64_t pid_start = 0;
  int monitor_pid = 0;
  uint64_t monitor_start = 0;
  std::string mounted_at;        // where `strata mount` last mounted its layer ("" when never)
  std::string runtime = "runc";  // the OCI runtime of its last run
};

// A change in a container's writable layer, as `docker diff` prints it.
struct ContainerChange {
  char kind = 'C';  // 'A' added, 'C' changed, 'D' deleted
  std::string path;
};

// `ps --json`: docker's keys, times in RFC 3339.
std::string ToJson(const std::vector<ContainerInfo>& containers);

// Where a container's files are, named once: containers/<id>/...
struct ContainerPaths {
  std::string dir;     // containers/<id>
  std::string record;  // config.json: the ContainerInfo as JSON
  std::string upper;   // the writable layer (overlayfs upper directory format)
  std::string work;    // the overlay work directory
  std::string merged;  // the mount point while it runs
  std::string lock;    // flock'd by the daemon that mounts the writable layer
  std::string log;     // output of detached runs (`strata logs`)
};

struct ContainerRemoveOptions {
  bool force = false;                     // remove it even while it runs (the run is killed)
  bool remove_anonymous_volumes = false;  // and the anonymous volumes only it used
};

// The containers of one store: a directory each under <root>/containers/ with
// its record and writable layer, a hold on its image in the store, and its
// volumes mounted (recorded as used) in `Volumes`.
//
// Thread safety: one Containers object is used by one thread at a time.
// Several processes may use the same containers at once: every change takes
// the lock file <root>/containers/.lock first (then the volumes', then the
// store's), and a record is replaced atomically.
class Containers {
 public:
  static Result<std::unique_ptr<Containers>> Open(Store& store, Volumes& volumes);
  ~Containers();
  Containers(const Containers&) = delete;
  Containers& operator=(const Containers&) = delete;

  Store& store();
  Volumes& volumes();

  // Makes the writable layer, creates the named volumes it lacks, records which
  // volumes it uses, and holds its image (which cannot be removed meanwhile).
  Result<ContainerInfo> Create(const ContainerConfig& config);
  Result<std::vector<ContainerInfo>> List();
  // By name, id or unique id prefix; a run whose process is gone reads as exited.
  Result<ContainerInfo> Get(const std::string& name_or_id);
  Status Update(const ContainerInfo& info);  // its state, after a run
  // Refused while it runs unless `force`. Its volumes stay, but anonymous ones
  // when asked; returns the volumes removed.
  Result<std::vector<std::string>> Remove(const std::string& name_or_id,
                                          const ContainerRemoveOptions& options);
  // What its writable layer changed: A, C and D lines as docker diff prints them.
  Result<std::vector<ContainerChange>> Diff(const std::string& name_or_id);
  // Its writable layer becomes a layer on its image, in a new image tagged `ref`.
  Result<Image> Commit(const std::string& name_or_id, const std::string& ref);
  ContainerPaths Paths(const std::string& id) const;
  // fsck's part for containers: records that do not read, missing writable
  // layers or images, holds and directories of containers that are gone; with
  // `repair`, removes the last two.
  Result<FsckReport> Check(const FsckOptions& options);

 private:
  struct Impl;
  explicit Containers(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace strata
