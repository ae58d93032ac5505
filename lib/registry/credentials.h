// Registry credentials where users already keep them: containers' auth.json
// ($REGISTRY_AUTH_FILE, else $XDG_RUNTIME_DIR/containers/auth.json) and
// docker's config.json ($DOCKER_CONFIG/config.json, else ~/.docker/config.json),
// each {"auths": {"<registry>": {"auth": base64("user:password")}}}.
#pragma once

#include <optional>
#include <string>

#include "strata/status.h"

namespace strata {

struct Credentials {
  std::string username;
  std::string password;
};

// The first file (in the order above) with an entry for `host` decides.
// A file that exists but is not readable JSON is an error naming it.
Result<std::optional<Credentials>> FindCredentials(const std::string& host);
// Writes them into the file strata writes (the first of the list above that
// exists, else docker's config.json), 0600, atomically, keeping its other keys.
// Returns the file's path.
Result<std::string> StoreCredentials(const std::string& host, const Credentials& credentials);
// Removes `host` from every file above; NotFound when none had it.
Status EraseCredentials(const std::string& host);

// docker's config.json: $DOCKER_CONFIG/config.json, else ~/.docker/config.json.
std::string DockerConfigFile();

std::string Base64Encode(const std::string& bytes);
Result<std::string> Base64Decode(const std::string& text);

}  // namespace strata
