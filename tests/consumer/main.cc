// Opens a store, its volumes and containers, and lists them: proves the
// installed headers and library work.
#include <strata/strata.h>

#include <cstdio>

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: consumer STORE_ROOT\n");
    return 2;
  }
  auto store = strata::Store::Open(argv[1]);
  if (!store.ok()) {
    std::fprintf(stderr, "consumer: %s\n", store.status().message().c_str());
    return 1;
  }
  auto images = (*store)->ListImages();
  if (!images.ok()) return 1;
  std::printf("images: %zu\n", images->size());
  auto volumes = strata::Volumes::Open(**store);
  if (!volumes.ok()) return 1;
  auto containers = strata::Containers::Open(**store, **volumes);
  if (!containers.ok()) return 1;
  auto list = (*containers)->List();
  if (!list.ok()) return 1;
  std::printf("containers: %zu\n", list->size());
  return 0;
}
