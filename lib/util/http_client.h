// HttpClient: one HTTP exchange at a time over libcurl, for the registry
// client and Docker's plugins (over a unix socket). HTTPS verifies the server against the system's CAs (or
// the given ones); a response body is either kept (up to a limit) or streamed to a sink.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "strata/status.h"

namespace strata {

struct TlsOptions {
  bool verify = true;  // false: any certificate (--tls-verify=false)
  std::string ca_pem;  // CA certificates (PEM) to trust instead of the system's file
};

struct HttpRequest {
  std::string method = "GET";
  std::string url;
  std::string unix_socket;           // connect here instead of the URL's host (Docker's plugins)
  std::vector<std::string> headers;  // "Name: value"
  std::string body;                  // sent as is (PUT, POST, PATCH)
  int body_fd = -1;                  // or a file, from its current offset, `body_size` bytes
  uint64_t body_size = 0;
  bool follow_redirects = true;  // to blob storage; credentials are not sent on to other hosts
  // With a sink the body goes there as it arrives; a sink's error ends the exchange.
  std::function<Status(const char* data, size_t len)> sink;
  // Called once with the status before a success's body reaches the sink.
  std::function<Status(long status)> on_success;
  size_t max_body = 4 << 20;  // without a sink: a longer body is an error
};

struct HttpResponse {
  long status = 0;
  std::multimap<std::string, std::string> headers;  // names lowercased; the last response's
  std::string body;
  std::string effective_url;

  std::string Header(const std::string& lowercase_name) const;
};

class HttpClient {
 public:
  explicit HttpClient(TlsOptions tls);
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // A transport failure (no connection, TLS, a body cut short, a sink's
  // error) is an error; any HTTP status is a response.
  Result<HttpResponse> Do(const HttpRequest& request);

 private:
  struct Curl;
  TlsOptions tls_;
  std::unique_ptr<Curl> curl_;
};

// "a b" -> "a%20b": for query values.
std::string UrlEscape(const std::string& s);

}  // namespace strata
