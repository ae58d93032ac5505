#include "registry/registries_conf.h"

#include <stdlib.h>

#include <algorithm>

#include "util/file_util.h"

namespace strata {

std::vector<std::string> ParseInsecureRegistries(const std::string& text) {
  std::vector<std::string> out;
  std::string location;
  bool insecure = false;
  auto flush = [&] {
    if (insecure && !location.empty()) out.push_back(location);
    location.clear();
    insecure = false;
  };
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find('\n', start);
    std::string line = text.substr(start, end == std::string::npos ? std::string::npos : end - start);
    start = end == std::string::npos ? text.size() + 1 : end + 1;
    line = line.substr(0, line.find('#'));
    line.erase(std::remove_if(line.begin(), line.end(), [](char c) { return c == ' ' || c == '\t'; }),
               line.end());
    if (line.starts_with("[")) {
      flush();
    } else if (line.starts_with("location=")) {
      location = line.substr(9);
      if (location.size() >= 2 && location.front() == '"' && location.back() == '"')
        location = location.substr(1, location.size() - 2);
    } else if (line == "insecure=true") {
      insecure = true;
    }
  }
  flush();
  return out;
}

std::vector<std::string> InsecureRegistriesFromConf() {
  const char* env = ::getenv("CONTAINERS_REGISTRIES_CONF");
  auto text = ReadFile(env && *env ? env : "/etc/containers/registries.conf");
  return text.ok() ? ParseInsecureRegistries(*text) : std::vector<std::string>();
}

}  // namespace strata
