// ProgressMeter: one operation's ProgressEvents, sent at its start, at most
// every 100 ms while it goes, and at its end (Finish). Add() may be called
// from several threads.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>

#include "strata/progress.h"

namespace strata {

class ProgressMeter {
 public:
  // Does nothing when `fn` is empty. `total` 0: not known.
  ProgressMeter(const ProgressFn& fn, std::string action, std::string id, uint64_t total);
  ProgressMeter(const ProgressMeter&) = delete;
  ProgressMeter& operator=(const ProgressMeter&) = delete;

  void Add(uint64_t bytes);
  void Set(uint64_t done);
  void SetTotal(uint64_t total);
  void Finish();  // the last event; an operation that failed sends none
  bool active() const { return fn_ != nullptr; }

 private:
  void MaybeSend(bool force);

  const ProgressFn* fn_;
  std::string action_, id_;
  std::atomic<uint64_t> done_{0}, total_;
  std::atomic<int64_t> last_sent_ns_{0};
  std::mutex send_mu_;
  bool finished_ = false;
};

// "abc123def456" from a layer id or a blob file's path ("…/sha256/abc123…").
std::string ShortName(const std::string& id_or_path);

}  // namespace strata
