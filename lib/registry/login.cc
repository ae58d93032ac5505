// strata login / logout: credentials checked against the registry, then kept
// where docker and podman keep them.
#include "registry/credentials.h"
#include "registry/registry_client.h"
#include "registry/registry_ref.h"
#include "strata/registry.h"
#include "util/status_macros.h"

namespace strata {

namespace {

// "https://index.docker.io/v1/", "docker.io", "localhost:5000/" -> the host as a reference names it.
std::string RegistryHost(std::string registry) {
  for (const char* scheme : {"https://", "http://"}) {
    if (registry.starts_with(scheme)) registry = registry.substr(std::string(scheme).size());
  }
  if (auto slash = registry.find('/'); slash != std::string::npos) registry = registry.substr(0, slash);
  if (registry.empty() || registry == "index.docker.io" || registry == "registry-1.docker.io")
    return "docker.io";
  return registry;
}

}  // namespace

Result<std::string> Login(const std::string& registry, const std::string& username,
                          const std::string& password, const RegistryOptions& options) {
  const std::string host = RegistryHost(registry);
  if (username.empty()) return Status::InvalidArgument("login to " + host + ": no username");
  if (password.empty()) return Status::InvalidArgument("login to " + host + ": no password");
  RegistryOptions with = options;
  with.username = username;
  with.password = password;
  RegistryRef probe;
  probe.host = host;
  RegistryClient client(with, probe.ApiHost(), "", false);
  RETURN_IF_ERROR(client.Ping());
  return StoreCredentials(host, {username, password});
}

Status Logout(const std::string& registry) {
  return EraseCredentials(RegistryHost(registry));
}

}  // namespace strata
