// Progress of long operations (import, load, save, commit, layer export,
// build's COPY and layer commits), as events a caller can draw: set a
// function on the store (Store::SetProgress) and every operation on it
// reports through it.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

namespace strata {

struct ProgressEvent {
  // What is being done: "Importing", "Unpacking", "Extracting", "Committing",
  // "Exporting", "Compressing", "Copying", "Writing".
  std::string action;
  std::string id;  // what it is done to: a file name or a short layer id ("" for none)
  uint64_t done = 0;
  uint64_t total = 0;     // 0: not known (a pipe)
  bool finished = false;  // the last event of this operation
};

// Called on the thread doing the work, at the start, at most ten times a
// second meanwhile, and once at the end; keep it quick.
using ProgressFn = std::function<void(const ProgressEvent&)>;

}  // namespace strata
