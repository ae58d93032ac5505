// The registries containers-registries.conf(5) marks insecure (plain HTTP
// allowed): the `location` of each [[registry]] table with `insecure = true`.
// Only the lines those two keys use are read (v2 TOML).
#pragma once

#include <string>
#include <vector>

namespace strata {

std::vector<std::string> ParseInsecureRegistries(const std::string& conf);
// From $CONTAINERS_REGISTRIES_CONF, else /etc/containers/registries.conf (none if unreadable).
std::vector<std::string> InsecureRegistriesFromConf();

}  // namespace strata
