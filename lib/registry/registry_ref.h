// Where an image lives on a registry, from a reference as docker spells it:
// "debian:12", "localhost:5000/team/app@sha256:...", "quay.io/x/y".
#pragma once

#include <string>

#include "strata/status.h"

namespace strata {

struct RegistryRef {
  std::string host;        // "docker.io", "localhost:5000"
  std::string repository;  // "library/debian", "team/app"
  std::string tag;         // "12" ("latest" when neither tag nor digest is given)
  std::string digest;      // "sha256:<hex>" when pinned

  // The reference the API names: the digest when pinned, else the tag.
  std::string Reference() const { return digest.empty() ? tag : digest; }
  // The API's host: Docker Hub's is not its name.
  std::string ApiHost() const { return host == "docker.io" ? "registry-1.docker.io" : host; }
  // The local image name docker gives it: "debian:12", "localhost:5000/team/app:1".
  std::string LocalName() const;
  // "host/repository" (what a credential or an error names).
  std::string Repo() const { return host + "/" + repository; }
};

Result<RegistryRef> ParseRegistryRef(const std::string& ref);

// "localhost", "127.0.0.1:5000", "[::1]:5000": a registry reached over plain
// HTTP without asking (as docker treats the loopback).
bool IsLoopbackHost(const std::string& host);

}  // namespace strata
