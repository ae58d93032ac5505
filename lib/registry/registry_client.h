// RegistryClient: the OCI distribution API (v2) of one repository on one
// registry, with its authentication: Basic, or the bearer-token flow every
// major registry uses (a 401's WWW-Authenticate names a token endpoint; the
// token is fetched with the user's credentials, or anonymously, for the
// repository's pull or push scope). 429 and 5xx answers and dropped
// connections are retried with backoff.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "registry/credentials.h"
#include "registry/registry_ref.h"
#include "strata/registry.h"
#include "util/http_client.h"

namespace strata {

class RegistryClient {
 public:
  // `push`: ask for push scope as well as pull.
  RegistryClient(const RegistryOptions& options, std::string host, std::string repository, bool push);

  // GET /v2/ with credentials: checks the registry answers and accepts them.
  Status Ping();
  // Sends `request` (its url relative to /v2/<repository>/ when it starts
  // with no scheme), authenticating as the registry asks.
  Result<HttpResponse> Send(HttpRequest request);
  // "https://host/v2/<repository>/<path>"
  std::string Url(const std::string& path) const;
  // An error naming the registry, the repository and what failed.
  Status Error(const std::string& what, const HttpResponse& response) const;
  Status Error(const std::string& what, const Status& status) const;
  const std::string& host() const { return host_; }
  std::string Repo() const { return host_ + "/" + repository_; }
  const std::string& repository() const { return repository_; }

 private:
  Status ChooseScheme();
  Status Authenticate(const HttpResponse& challenge);
  Result<HttpResponse> SendOnce(HttpRequest request);

  RegistryOptions options_;
  std::string host_, repository_;
  bool push_;
  std::string scheme_;  // "https" or "http", once chosen
  std::optional<Credentials> credentials_;
  bool credentials_read_ = false;
  std::string authorization_;  // the header value, once known
  HttpClient http_;
};

}  // namespace strata
