#include "registry/registry_client.h"

#include <dirent.h>
#include <stdlib.h>
#include <time.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>

#include "registry/registries_conf.h"
#include "util/file_util.h"
#include "util/status_macros.h"

namespace strata {

using nlohmann::json;

namespace {

// The system's CAs and every *.crt of `dir` (podman's --cert-dir, docker's certs.d).
std::string CaBundle(const std::string& dir) {
  std::string pem;
  if (auto system = ReadFile("/etc/ssl/certs/ca-certificates.crt"); system.ok()) pem = *system;
  auto names = ListDir(dir);
  if (!names.ok()) return "";
  std::sort(names->begin(), names->end());
  std::string extra;
  for (const auto& name : *names) {
    if (name.size() > 4 && name.ends_with(".crt")) {
      if (auto cert = ReadFile(dir + "/" + name); cert.ok()) extra += "\n" + *cert;
    }
  }
  return extra.empty() ? "" : pem + extra;
}

TlsOptions TlsFor(const RegistryOptions& options, const std::string& host) {
  TlsOptions tls;
  tls.verify = options.tls_verify;
  std::vector<std::string> dirs;
  if (!options.cert_dir.empty()) {
    dirs = {options.cert_dir};
  } else {
    dirs = {"/etc/containers/certs.d/" + host, "/etc/docker/certs.d/" + host};
  }
  for (const auto& dir : dirs) {
    if (tls.ca_pem = CaBundle(dir); !tls.ca_pem.empty()) break;
  }
  return tls;
}

// WWW-Authenticate: Bearer realm="https://auth/token",service="registry",scope="repository:x:pull"
std::map<std::string, std::string> ParseChallenge(const std::string& header, std::string* scheme) {
  std::map<std::string, std::string> params;
  size_t space = header.find(' ');
  *scheme = header.substr(0, space);
  for (char& c : *scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (space == std::string::npos) return params;
  size_t i = space + 1;
  while (i < header.size()) {
    while (i < header.size() && (header[i] == ' ' || header[i] == ',')) ++i;
    size_t eq = header.find('=', i);
    if (eq == std::string::npos) break;
    std::string key = header.substr(i, eq - i);
    for (char& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string value;
    i = eq + 1;
    if (i < header.size() && header[i] == '"') {
      ++i;
      while (i < header.size() && header[i] != '"') {
        if (header[i] == '\\' && i + 1 < header.size()) ++i;
        value += header[i++];
      }
      ++i;
    } else {
      size_t end = header.find(',', i);
      value = header.substr(i, end == std::string::npos ? std::string::npos : end - i);
      i = end == std::string::npos ? header.size() : end;
    }
    params[key] = value;
  }
  return params;
}

bool Retryable(long status) {
  return status == 429 || status == 500 || status == 502 || status == 503 || status == 504;
}

void Backoff(int attempt) {
  struct timespec ts = {0, (100'000'000L << attempt) % 1'000'000'000L};
  if (attempt >= 4) ts = {1, 600'000'000L};
  ::nanosleep(&ts, nullptr);
}

}  // namespace

RegistryClient::RegistryClient(const RegistryOptions& options, std::string host, std::string repository,
                               bool push)
    : options_(options),
      host_(std::move(host)),
      repository_(std::move(repository)),
      push_(push),
      http_(TlsFor(options, host_)) {
  if (!options_.username.empty()) {
    credentials_ = Credentials{options_.username, options_.password};
    credentials_read_ = true;
  }
}

std::string RegistryClient::Url(const std::string& path) const {
  return scheme_ + "://" + host_ + "/v2/" + repository_ + "/" + path;
}

Status RegistryClient::Error(const std::string& what, const HttpResponse& r) const {
  std::string detail;
  json j = json::parse(r.body, nullptr, false);
  if (!j.is_discarded() && j.contains("errors") && j["errors"].is_array() && !j["errors"].empty()) {
    const json& e = j["errors"][0];
    if (e.is_object())
      detail = e.value("code", "") + (e.contains("message") ? ": " + e.value("message", "") : "");
  }
  std::string text = host_ + "/" + repository_ + ": " + what + ": HTTP " + std::to_string(r.status) +
                     (detail.empty() ? "" : " (" + detail + ")");
  switch (r.status) {
    case 401:
    case 403: return Status::PermissionDenied(text);
    case 404: return Status::NotFound(text);
    default: return Status::IOError(text);
  }
}

Status RegistryClient::Error(const std::string& what, const Status& status) const {
  return status.WithContext(host_ + "/" + repository_ + ": " + what);
}

Status RegistryClient::ChooseScheme() {
  if (!scheme_.empty()) return Status::OK();
  std::vector<std::string> insecure = options_.insecure_registries;
  for (auto& location : InsecureRegistriesFromConf()) insecure.push_back(std::move(location));
  const bool may_be_plain = !options_.tls_verify || IsLoopbackHost(host_) ||
                            std::find(insecure.begin(), insecure.end(), host_) != insecure.end();
  HttpRequest ping;
  ping.url = "https://" + host_ + "/v2/";
  auto r = http_.Do(ping);
  if (r.ok()) {
    scheme_ = "https";
    return Status::OK();
  }
  // A TLS server whose certificate is not trusted is refused, never retried as plain HTTP.
  if (!may_be_plain || r.status().code() == Code::kPermissionDenied) return r.status();
  ping.url = "http://" + host_ + "/v2/";
  auto plain = http_.Do(ping);
  if (!plain.ok()) return Status::IOError(host_ + ": " + plain.status().message());
  scheme_ = "http";
  return Status::OK();
}

Status RegistryClient::Authenticate(const HttpResponse& challenge) {
  std::string scheme;
  auto params = ParseChallenge(challenge.Header("www-authenticate"), &scheme);
  if (!credentials_read_) {
    ASSIGN_OR_RETURN(credentials_, FindCredentials(host_));
    credentials_read_ = true;
  }
  if (scheme == "basic") {
    if (!credentials_)
      return Status::PermissionDenied(host_ + ": the registry asks for a login (strata login " + host_ + ")");
    authorization_ = "Basic " + Base64Encode(credentials_->username + ":" + credentials_->password);
    return Status::OK();
  }
  if (scheme != "bearer" || params["realm"].empty()) {
    return Status::PermissionDenied(
        host_ + ": unsupported authentication challenge: " + challenge.Header("www-authenticate"));
  }
  std::string url = params["realm"];
  url += url.find('?') == std::string::npos ? "?" : "&";
  if (!params["service"].empty()) url += "service=" + UrlEscape(params["service"]) + "&";
  std::string scope = params["scope"];
  if (scope.empty() && !repository_.empty())
    scope = "repository:" + repository_ + ":" + (push_ ? "pull,push" : "pull");
  if (!scope.empty()) url += "scope=" + UrlEscape(scope);
  HttpRequest token_request;
  token_request.url = url;
  if (credentials_) {
    token_request.headers.push_back("Authorization: Basic " +
                                    Base64Encode(credentials_->username + ":" + credentials_->password));
  }
  ASSIGN_OR_RETURN(HttpResponse r, http_.Do(token_request));
  if (r.status != 200) return Error("token from " + params["realm"], r);
  json j = json::parse(r.body, nullptr, false);
  std::string token;
  if (!j.is_discarded() && j.is_object()) token = j.value("token", j.value("access_token", ""));
  if (token.empty()) return Status::PermissionDenied(host_ + ": the token endpoint gave no token");
  authorization_ = "Bearer " + token;
  return Status::OK();
}

Result<HttpResponse> RegistryClient::SendOnce(HttpRequest request) {
  if (!authorization_.empty()) request.headers.push_back("Authorization: " + authorization_);
  return http_.Do(request);
}

Result<HttpResponse> RegistryClient::Send(HttpRequest request) {
  RETURN_IF_ERROR(ChooseScheme());
  if (request.url.find("://") == std::string::npos) request.url = Url(request.url);
  const uint64_t body_start =
      request.body_fd >= 0 ? static_cast<uint64_t>(::lseek(request.body_fd, 0, SEEK_CUR)) : 0;
  bool authenticated = false;
  for (int attempt = 0;; ++attempt) {
    if (request.body_fd >= 0) ::lseek(request.body_fd, static_cast<off_t>(body_start), SEEK_SET);
    auto r = SendOnce(request);
    const bool can_retry = attempt < options_.retries && !request.sink;  // a sink's data cannot be unsent
    if (!r.ok()) {
      if (!can_retry) return r.status();
      Backoff(attempt);
      continue;
    }
    if (r->status == 401 && !authenticated) {
      authenticated = true;
      RETURN_IF_ERROR(Authenticate(*r));
      continue;
    }
    if (Retryable(r->status) && can_retry) {
      Backoff(attempt);
      continue;
    }
    return r;
  }
}

Status RegistryClient::Ping() {
  RETURN_IF_ERROR(ChooseScheme());
  HttpRequest ping;
  ping.url = scheme_ + "://" + host_ + "/v2/";
  ASSIGN_OR_RETURN(HttpResponse r, Send(ping));
  if (r.status == 401 || r.status == 403)
    return Status::PermissionDenied(host_ + ": login refused (HTTP " + std::to_string(r.status) + ")");
  if (r.status != 200) return Error("ping", r);
  return Status::OK();
}

}  // namespace strata
