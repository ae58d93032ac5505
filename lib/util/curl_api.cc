#include "util/curl_api.h"

#include <dlfcn.h>

namespace strata {

namespace {

// The soname of libcurl 7 and 8 (Debian's libcurl4).
constexpr const char* kLibrary = "libcurl.so.4";

template <typename F>
bool Resolve(void* library, const char* name, F* fn) {
  *fn = reinterpret_cast<F>(::dlsym(library, name));
  return *fn != nullptr;
}

Result<const CurlApi*> Load() {
  // Never closed: curl_global_cleanup is not safe while other threads run.
  void* library = ::dlopen(kLibrary, RTLD_NOW | RTLD_LOCAL);
  if (!library) return Status::Unsupported(std::string("cannot load ") + kLibrary + ": " + ::dlerror());
  static CurlApi api;
  decltype(&::curl_global_init) global_init;
  if (!Resolve(library, "curl_global_init", &global_init) ||
      !Resolve(library, "curl_easy_init", &api.easy_init) ||
      !Resolve(library, "curl_easy_reset", &api.easy_reset) ||
      !Resolve(library, "curl_easy_cleanup", &api.easy_cleanup) ||
      !Resolve(library, "curl_easy_setopt", &api.easy_setopt) ||
      !Resolve(library, "curl_easy_perform", &api.easy_perform) ||
      !Resolve(library, "curl_easy_getinfo", &api.easy_getinfo) ||
      !Resolve(library, "curl_easy_strerror", &api.easy_strerror) ||
      !Resolve(library, "curl_slist_append", &api.slist_append) ||
      !Resolve(library, "curl_slist_free_all", &api.slist_free_all)) {
    return Status::Unsupported(std::string(kLibrary) + " lacks a function strata needs: " + ::dlerror());
  }
  if (CURLcode rc = global_init(CURL_GLOBAL_DEFAULT); rc != CURLE_OK)
    return Status::IOError("libcurl failed to start: " + std::string(api.easy_strerror(rc)));
  return &api;
}

}  // namespace

Result<const CurlApi*> LoadCurl() {
  static const Result<const CurlApi*> loaded = Load();  // once per process, thread-safe
  return loaded;
}

}  // namespace strata
