#include "registry/credentials.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <nlohmann/json.hpp>
#include <vector>

#include "format/json.h"
#include "util/file_util.h"
#include "util/status_macros.h"

namespace strata {

using nlohmann::json;

namespace {

std::string Env(const char* name) {
  const char* v = ::getenv(name);
  return v ? v : "";
}

// Candidate files, in lookup order.
std::vector<std::string> AuthFiles() {
  std::vector<std::string> files;
  if (std::string f = Env("REGISTRY_AUTH_FILE"); !f.empty()) files.push_back(f);
  if (std::string d = Env("XDG_RUNTIME_DIR"); !d.empty()) files.push_back(d + "/containers/auth.json");
  files.push_back(DockerConfigFile());
  return files;
}

// Keys a file may use for one registry: "host", "https://host", and Docker
// Hub's historical "https://index.docker.io/v1/".
std::vector<std::string> KeysFor(const std::string& host) {
  std::vector<std::string> keys = {host, "https://" + host, "http://" + host};
  if (host == "docker.io" || host == "registry-1.docker.io" || host == "index.docker.io") {
    keys.insert(keys.end(),
                {"https://index.docker.io/v1/", "index.docker.io", "docker.io", "registry-1.docker.io"});
  }
  return keys;
}

Result<std::optional<json>> ReadAuthFile(const std::string& path) {
  if (!PathExists(path)) return std::optional<json>();
  ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Status::InvalidArgument(path + ": not a JSON object");
  return std::optional<json>(std::move(j));
}

}  // namespace

std::string DockerConfigFile() {
  if (std::string d = Env("DOCKER_CONFIG"); !d.empty()) return d + "/config.json";
  std::string home = Env("HOME");
  return (home.empty() ? std::string("/root") : home) + "/.docker/config.json";
}

std::string Base64Encode(const std::string& bytes) {
  std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
  int n =
      EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                      reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
  out.resize(static_cast<size_t>(n));
  return out;
}

Result<std::string> Base64Decode(const std::string& text) {
  if (text.size() % 4 != 0) return Status::InvalidArgument("not base64");
  std::string out(3 * text.size() / 4 + 1, '\0');
  int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                          reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
  if (n < 0) return Status::InvalidArgument("not base64");
  size_t len = static_cast<size_t>(n);
  for (size_t i = text.size(); i > 0 && text[i - 1] == '='; --i) --len;  // the padding's zero bytes
  out.resize(len);
  return out;
}

Result<std::optional<Credentials>> FindCredentials(const std::string& host) {
  for (const auto& file : AuthFiles()) {
    ASSIGN_OR_RETURN(auto j, ReadAuthFile(file));
    if (!j || !j->contains("auths") || !(*j)["auths"].is_object()) continue;
    const json& auths = (*j)["auths"];
    for (const auto& key : KeysFor(host)) {
      if (!auths.contains(key) || !auths[key].is_object()) continue;
      const json& entry = auths[key];
      if (entry.contains("auth") && entry["auth"].is_string()) {
        auto decoded = Base64Decode(entry["auth"].get<std::string>());
        auto colon = decoded.ok() ? decoded->find(':') : std::string::npos;
        if (colon == std::string::npos)
          return Status::InvalidArgument(file + ": the auth for " + key + " is not base64 of user:password");
        return std::optional<Credentials>(Credentials{decoded->substr(0, colon), decoded->substr(colon + 1)});
      }
      if (entry.contains("username") && entry.contains("password")) {
        return std::optional<Credentials>(
            Credentials{entry.value("username", ""), entry.value("password", "")});
      }
    }
  }
  return std::optional<Credentials>();
}

Result<std::string> StoreCredentials(const std::string& host, const Credentials& credentials) {
  std::string file = DockerConfigFile();
  for (const auto& f : AuthFiles()) {
    if (PathExists(f)) {
      file = f;
      break;
    }
  }
  ASSIGN_OR_RETURN(auto existing, ReadAuthFile(file));
  json j = existing ? *existing : json::object();
  if (!j.contains("auths") || !j["auths"].is_object()) j["auths"] = json::object();
  for (const auto& key : KeysFor(host)) j["auths"].erase(key);
  j["auths"][host] = {{"auth", Base64Encode(credentials.username + ":" + credentials.password)}};
  auto slash = file.rfind('/');
  if (slash != std::string::npos) RETURN_IF_ERROR(MakeDirs(file.substr(0, slash)));
  RETURN_IF_ERROR(WriteFileAtomic(file, j.dump(1, '\t') + "\n", 0600));
  return file;
}

Status EraseCredentials(const std::string& host) {
  bool found = false;
  for (const auto& file : AuthFiles()) {
    ASSIGN_OR_RETURN(auto j, ReadAuthFile(file));
    if (!j || !j->contains("auths") || !(*j)["auths"].is_object()) continue;
    size_t erased = 0;
    for (const auto& key : KeysFor(host)) erased += (*j)["auths"].erase(key);
    if (erased == 0) continue;
    found = true;
    RETURN_IF_ERROR(WriteFileAtomic(file, j->dump(1, '\t') + "\n", 0600));
  }
  if (!found) return Status::NotFound("not logged in to " + host);
  return Status::OK();
}

}  // namespace strata
