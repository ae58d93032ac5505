#include "util/http_client.h"

#include <unistd.h>

#include <cctype>

#include "util/curl_api.h"

namespace strata {

namespace {

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string Trim(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return s.substr(b, e - b);
}

struct Exchange {
  const CurlApi* api;
  CURL* curl;
  const HttpRequest* request;
  HttpResponse* response;
  Status sink_error;
  bool started = false;
  bool too_long = false;
  size_t sent = 0;  // of request->body
};

size_t OnHeader(char* data, size_t size, size_t n, void* p) {
  auto* x = static_cast<Exchange*>(p);
  std::string line(data, size * n);
  if (line.rfind("HTTP/", 0) == 0) {
    x->response->headers.clear();  // a new response (after a redirect or a 100 Continue)
  } else if (auto colon = line.find(':'); colon != std::string::npos) {
    x->response->headers.emplace(Lower(line.substr(0, colon)), Trim(line.substr(colon + 1)));
  }
  return size * n;
}

size_t OnBody(char* data, size_t size, size_t n, void* p) {
  auto* x = static_cast<Exchange*>(p);
  const size_t len = size * n;
  long status = 0;
  x->api->easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &status);
  // Only a success's body goes to the sink; an error's is kept to be read.
  if (x->request->sink && status >= 200 && status < 300) {
    if (!x->started && x->request->on_success) x->sink_error = x->request->on_success(status);
    x->started = true;
    if (x->sink_error.ok()) x->sink_error = x->request->sink(data, len);
    return x->sink_error.ok() ? len : 0;
  }
  if (x->response->body.size() + len > x->request->max_body) {
    x->too_long = true;
    return 0;
  }
  x->response->body.append(data, len);
  return len;
}

size_t OnUpload(char* buffer, size_t size, size_t n, void* p) {
  auto* x = static_cast<Exchange*>(p);
  const size_t room = size * n;
  const HttpRequest& r = *x->request;
  if (r.body_fd >= 0) {
    const size_t want = std::min<uint64_t>(room, r.body_size - x->sent);
    if (want == 0) return 0;
    ssize_t got = ::read(r.body_fd, buffer, want);
    if (got <= 0) return CURL_READFUNC_ABORT;
    x->sent += static_cast<size_t>(got);
    return static_cast<size_t>(got);
  }
  const size_t len = std::min(room, r.body.size() - x->sent);
  std::copy_n(r.body.data() + x->sent, len, buffer);
  x->sent += len;
  return len;
}

}  // namespace

std::string HttpResponse::Header(const std::string& lowercase_name) const {
  auto it = headers.find(lowercase_name);
  return it == headers.end() ? std::string() : it->second;
}

struct HttpClient::Curl {
  const CurlApi* api = nullptr;  // null: libcurl could not be loaded (Do says why)
  CURL* handle = nullptr;
  ~Curl() {
    if (handle) api->easy_cleanup(handle);
  }
};

HttpClient::HttpClient(TlsOptions tls) : tls_(std::move(tls)), curl_(std::make_unique<Curl>()) {
  if (Result<const CurlApi*> api = LoadCurl(); api.ok()) {
    curl_->api = *api;
    curl_->handle = curl_->api->easy_init();  // one handle: connections are kept alive between requests
  }
}

HttpClient::~HttpClient() = default;

Result<HttpResponse> HttpClient::Do(const HttpRequest& request) {
  if (!curl_->api) return LoadCurl().status();  // the load's own error, kept from the first try
  const CurlApi& api = *curl_->api;
  CURL* c = curl_->handle;
  if (!c) return Status::IOError("cannot start libcurl");
  api.easy_reset(c);
  HttpResponse response;
  Exchange x{&api, c, &request, &response, Status::OK()};
  char error[CURL_ERROR_SIZE] = "";
  api.easy_setopt(c, CURLOPT_ERRORBUFFER, error);
  api.easy_setopt(c, CURLOPT_URL, request.url.c_str());
  if (!request.unix_socket.empty()) api.easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, request.unix_socket.c_str());
  api.easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  api.easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
  api.easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  api.easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
  // A stalled transfer (under 1 KiB/s for 60 s) is a failure, not a hang.
  api.easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1024L);
  api.easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
  api.easy_setopt(c, CURLOPT_USERAGENT, "strata/0.1");
  api.easy_setopt(c, CURLOPT_FOLLOWLOCATION, request.follow_redirects ? 1L : 0L);
  api.easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
  api.easy_setopt(c, CURLOPT_SSL_VERIFYPEER, tls_.verify ? 1L : 0L);
  api.easy_setopt(c, CURLOPT_SSL_VERIFYHOST, tls_.verify ? 2L : 0L);
  curl_blob ca{tls_.ca_pem.data(), tls_.ca_pem.size(), CURL_BLOB_NOCOPY};
  if (!tls_.ca_pem.empty()) api.easy_setopt(c, CURLOPT_CAINFO_BLOB, &ca);
  api.easy_setopt(c, CURLOPT_HEADERFUNCTION, OnHeader);
  api.easy_setopt(c, CURLOPT_HEADERDATA, &x);
  api.easy_setopt(c, CURLOPT_WRITEFUNCTION, OnBody);
  api.easy_setopt(c, CURLOPT_WRITEDATA, &x);
  struct curl_slist* headers = nullptr;
  for (const auto& h : request.headers) headers = api.slist_append(headers, h.c_str());
  if (request.method == "HEAD") {
    api.easy_setopt(c, CURLOPT_NOBODY, 1L);
  } else if (request.method != "GET") {
    const uint64_t size = request.body_fd >= 0 ? request.body_size : request.body.size();
    api.easy_setopt(c, CURLOPT_UPLOAD, 1L);
    api.easy_setopt(c, CURLOPT_READFUNCTION, OnUpload);
    api.easy_setopt(c, CURLOPT_READDATA, &x);
    api.easy_setopt(c, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(size));
    api.easy_setopt(c, CURLOPT_CUSTOMREQUEST, request.method.c_str());
    headers = api.slist_append(headers, "Expect:");  // no 100-continue round trip
  }
  api.easy_setopt(c, CURLOPT_HTTPHEADER, headers);
  CURLcode rc = api.easy_perform(c);
  api.slist_free_all(headers);
  api.easy_getinfo(c, CURLINFO_RESPONSE_CODE, &response.status);
  char* effective = nullptr;
  api.easy_getinfo(c, CURLINFO_EFFECTIVE_URL, &effective);
  if (effective) response.effective_url = effective;
  if (!x.sink_error.ok()) return x.sink_error;
  if (x.too_long) {
    return Status::InvalidArgument(request.url + ": response body over " +
                                   std::to_string(request.max_body >> 20) + " MiB");
  }
  if (rc == CURLE_PEER_FAILED_VERIFICATION) {
    return Status::PermissionDenied(request.url + ": the server's TLS certificate is not trusted (" + error +
                                    ")");
  }
  if (rc != CURLE_OK) return Status::IOError(request.url + ": " + (error[0] ? error : api.easy_strerror(rc)));
  return response;
}

std::string UrlEscape(const std::string& s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char ch : s) {
    if (std::isalnum(ch) || ch == '-' || ch == '_' || ch == '.' || ch == '~') {
      out += static_cast<char>(ch);
    } else {
      out += '%';
      out += kHex[ch >> 4];
      out += kHex[ch & 15];
    }
  }
  return out;
}

}  // namespace strata
