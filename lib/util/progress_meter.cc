#include "util/progress_meter.h"

#include <chrono>

namespace strata {

namespace {

constexpr int64_t kInterval = 100'000'000;  // ns between events

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

ProgressMeter::ProgressMeter(const ProgressFn& fn, std::string action, std::string id, uint64_t total)
    : fn_(fn ? &fn : nullptr), action_(std::move(action)), id_(std::move(id)), total_(total) {
  MaybeSend(true);
}

void ProgressMeter::Add(uint64_t bytes) {
  if (!fn_) return;
  done_ += bytes;
  MaybeSend(false);
}

void ProgressMeter::Set(uint64_t done) {
  if (!fn_) return;
  done_ = done;
  MaybeSend(false);
}

void ProgressMeter::SetTotal(uint64_t total) {
  if (!fn_) return;
  total_ = total;
  MaybeSend(true);
}

void ProgressMeter::Finish() {
  if (!fn_) return;
  std::lock_guard lock(send_mu_);
  if (finished_) return;
  finished_ = true;
  ProgressEvent e{action_, id_, done_, total_, true};
  if (e.total != 0) e.done = e.total;  // what was read ahead or skipped counts as done
  (*fn_)(e);
}

void ProgressMeter::MaybeSend(bool force) {
  if (!fn_) return;
  const int64_t now = NowNs();
  int64_t last = last_sent_ns_.load(std::memory_order_relaxed);
  if (!force && now - last < kInterval) return;
  std::unique_lock lock(send_mu_, std::try_to_lock);
  if (!lock.owns_lock() || finished_) return;
  last_sent_ns_ = now;
  ProgressEvent e{action_, id_, done_, total_, false};
  if (e.total != 0 && e.done > e.total) e.done = e.total;
  (*fn_)(e);
}

std::string ShortName(const std::string& id_or_path) {
  std::string name = id_or_path.substr(id_or_path.rfind('/') + 1);
  if (auto colon = name.find(':'); colon != std::string::npos) name = name.substr(colon + 1);
  return name.size() > 12 && name.find('.') == std::string::npos ? name.substr(0, 12) : name;
}

}  // namespace strata
