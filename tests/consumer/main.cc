// Opens a store, lists its images: proves the installed headers and library work.
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
  return 0;
}
