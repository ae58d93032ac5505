// Images from and to registries over the OCI distribution protocol: what
// `strata pull`, `push`, `login` and `logout` do.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "strata/image.h"
#include "strata/status.h"
#include "strata/store.h"

namespace strata {

struct RegistryOptions {
  // false: HTTPS without checking the certificate, and plain HTTP when the
  // registry speaks no TLS (podman's --tls-verify=false).
  bool tls_verify = true;
  // A directory of CA certificates (*.crt) to trust besides the system's, as
  // podman's --cert-dir. Without it, /etc/containers/certs.d/<host>/ and
  // /etc/docker/certs.d/<host>/ are used when they exist.
  std::string cert_dir;
  // Registries reached over plain HTTP (besides localhost and 127.0.0.0/8,
  // which always may be, and those containers-registries.conf marks
  // `insecure = true`: $CONTAINERS_REGISTRIES_CONF, else /etc/containers/registries.conf).
  std::vector<std::string> insecure_registries;
  // Credentials for this call only (else the auth files' are used).
  std::string username, password;
  int retries = 3;  // on 429, 5xx and dropped connections, with backoff
};

// What a transfer reports: one line per change of a blob's state.
struct TransferEvent {
  enum Kind { kWaiting, kExists, kDownloading, kVerifying, kDone, kPushing, kMounted };
  Kind kind = kWaiting;
  std::string id;  // the blob's short digest
  uint64_t done = 0, total = 0;
};

struct PullOptions {
  RegistryOptions registry;
  Platform platform;  // empty: the host's
  int parallel = 3;   // layers fetched at once
  std::function<void(const TransferEvent&)> progress;
};

// Pulls `ref` ("debian:12", "localhost:5000/app@sha256:...") into the store
// and names it as docker does. Every blob is verified by sha256 as it
// streams; a layer the store already holds is not fetched; a blob cut short
// resumes on the next pull. A failure leaves the store as it was.
Result<Image> Pull(Store& store, const std::string& ref, const PullOptions& options = {});

struct PushOptions {
  RegistryOptions registry;
  Compression compression = Compression::kGzip;  // for layers that have no blob from a pull or load
  bool docker_format = false;                    // Docker schema 2 manifest instead of OCI
  std::function<void(const TransferEvent&)> progress;
};

// Pushes image `image` (a name or id) as `ref` (default: the image's name).
// Returns the manifest digest ("sha256:..."); the same image pushed again
// gives the same digest.
Result<std::string> Push(Store& store, const std::string& image, const std::string& ref,
                         const PushOptions& options = {});

// The tags of a repository ("localhost:5000/team/app"), as the registry lists them.
Result<std::vector<std::string>> ListRegistryTags(const std::string& repository,
                                                  const RegistryOptions& options = {});

// Checks the credentials against `registry` ("localhost:5000", "docker.io")
// and saves them; returns the file they went to.
Result<std::string> Login(const std::string& registry, const std::string& username,
                          const std::string& password, const RegistryOptions& options = {});
Status Logout(const std::string& registry);

}  // namespace strata
