// How the CLI shows progress: ProgressEvents (the library's) and the bar that
// pull and push draw too.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "strata/progress.h"
#include "strata/store.h"

namespace strata::cli {

// "[=========>          ]" of `width` columns; `done` of `total`.
std::string ProgressBar(uint64_t done, uint64_t total, int width);
// The bar and "12MB/40MB" after it.
std::string BarAndSizes(uint64_t done, uint64_t total, int width);
// Redraws `lines` on stderr in place of the `*drawn` lines drawn last (the
// cursor moved up over them first), and sets *drawn to their number.
void RedrawLines(const std::vector<std::string>& lines, size_t* drawn);

// Draws ProgressEvents on stderr. On a terminal: one live line per
// operation (what, bar, bytes done/total, rate) redrawn in place, left as
// its last state when it ends. Elsewhere (a pipe, a log): a plain line every
// few seconds while an operation lasts and one when an operation that
// printed any ends. Nothing when quiet.
class ProgressDisplay {
 public:
  explicit ProgressDisplay(bool quiet);
  // For Store::SetProgress; this object must outlive its use.
  ProgressFn Fn();
  void Show(const ProgressEvent& e);

 private:
  using Clock = std::chrono::steady_clock;
  struct Line {
    Clock::time_point started, printed;
    std::string text;
    bool printed_any = false;
  };
  std::string Describe(const ProgressEvent& e, const Line& line) const;
  void Redraw();

  bool quiet_, tty_;
  std::map<std::string, Line> active_;  // by action and id
  std::vector<std::string> order_;      // the active lines as drawn, top first
  size_t drawn_ = 0;                    // lines drawn below the first active one
};

// Shows the progress of what `store` does while it lives.
class StoreProgress {
 public:
  StoreProgress(Store& store, bool quiet) : store_(store), display_(quiet) {
    store_.SetProgress(display_.Fn());
  }
  ~StoreProgress() { store_.SetProgress(nullptr); }
  StoreProgress(const StoreProgress&) = delete;
  StoreProgress& operator=(const StoreProgress&) = delete;

 private:
  Store& store_;
  ProgressDisplay display_;
};

}  // namespace strata::cli
