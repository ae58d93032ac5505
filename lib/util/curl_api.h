// libcurl, loaded when the first HTTP exchange starts (dlopen) rather than
// with the program: only registry and plugin commands pay for it. Linked in,
// its ~25 libraries (TLS, Kerberos, LDAP, IDN...) cost every strata command
// ~10 ms of dynamic loading and 450 page faults at start, half of a
// `strata mount` of a made image.
#ifndef STRATA_UTIL_CURL_API_H_
#define STRATA_UTIL_CURL_API_H_

#include <curl/curl.h>

#include "strata/status.h"

namespace strata {

// The libcurl functions strata calls, from the library loaded once per process.
struct CurlApi {
  decltype(&::curl_easy_init) easy_init;
  decltype(&::curl_easy_reset) easy_reset;
  decltype(&::curl_easy_cleanup) easy_cleanup;
  decltype(&::curl_easy_setopt) easy_setopt;
  decltype(&::curl_easy_perform) easy_perform;
  decltype(&::curl_easy_getinfo) easy_getinfo;
  decltype(&::curl_easy_strerror) easy_strerror;
  decltype(&::curl_slist_append) slist_append;
  decltype(&::curl_slist_free_all) slist_free_all;
};

// libcurl loaded and initialized (curl_global_init), or why it could not be.
Result<const CurlApi*> LoadCurl();

}  // namespace strata

#endif  // STRATA_UTIL_CURL_API_H_
