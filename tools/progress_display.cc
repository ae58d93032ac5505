#include "progress_display.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>

#include "strata/text.h"

namespace strata::cli {

namespace {

constexpr auto kPlainInterval = std::chrono::seconds(5);  // between lines on a pipe

std::string Rate(uint64_t bytes, std::chrono::steady_clock::duration took) {
  const double seconds = std::chrono::duration<double>(took).count();
  if (seconds < 0.05) return "";
  return HumanSize(static_cast<uint64_t>(bytes / seconds)) + "/s";
}

}  // namespace

std::string ProgressBar(uint64_t done, uint64_t total, int width) {
  if (total == 0) return "";
  const int filled = static_cast<int>(width * std::min(done, total) / total);
  const bool tip = filled < width;
  return "[" + std::string(filled, '=') + (tip ? ">" : "") +
         std::string(width - filled - (tip ? 1 : 0), ' ') + "]";
}

std::string BarAndSizes(uint64_t done, uint64_t total, int width) {
  return ProgressBar(done, total, width) + " " + HumanSize(done) + "/" + HumanSize(total);
}

void RedrawLines(const std::vector<std::string>& lines, size_t* drawn) {
  if (*drawn > 0) std::fprintf(stderr, "\033[%zuA", *drawn);
  for (const auto& line : lines) std::fprintf(stderr, "\r\033[K%s\n", line.c_str());
  *drawn = lines.size();
  std::fflush(stderr);
}

ProgressDisplay::ProgressDisplay(bool quiet) : quiet_(quiet), tty_(::isatty(STDERR_FILENO) == 1) {}

ProgressFn ProgressDisplay::Fn() {
  if (quiet_) return nullptr;
  return [this](const ProgressEvent& e) { Show(e); };
}

std::string ProgressDisplay::Describe(const ProgressEvent& e, const Line& line) const {
  std::string text = e.action + (e.id.empty() ? "" : " " + e.id);
  if (e.total != 0) {
    text += " " + BarAndSizes(e.done, e.total, 30);
  } else {
    text += " " + HumanSize(e.done);
  }
  const auto took = Clock::now() - line.started;
  if (e.finished) {
    char seconds[32];
    std::snprintf(seconds, sizeof seconds, "%.1fs", std::chrono::duration<double>(took).count());
    return text + " done in " + seconds;
  }
  std::string rate = Rate(e.done, took);
  return rate.empty() ? text : text + " " + rate;
}

void ProgressDisplay::Show(const ProgressEvent& e) {
  if (quiet_) return;
  const std::string key = e.action + "\n" + e.id;
  auto [it, added] = active_.try_emplace(key);
  Line& line = it->second;
  const auto now = Clock::now();
  if (added) {
    line.started = line.printed = now;
    order_.push_back(key);
  }
  line.text = Describe(e, line);
  if (!tty_) {
    // A plain line now and then for a long operation, and its end.
    if ((e.finished && line.printed_any) || (!e.finished && now - line.printed >= kPlainInterval)) {
      std::fprintf(stderr, "%s\n", line.text.c_str());
      line.printed = now;
      line.printed_any = true;
    }
  } else {
    if (e.finished) {  // drawn first, it stays as it is; the live lines go on below it
      order_.erase(std::find(order_.begin(), order_.end(), key));
      order_.insert(order_.begin(), key);
    }
    Redraw();
  }
  if (e.finished) {
    order_.erase(std::find(order_.begin(), order_.end(), key));
    active_.erase(key);
    drawn_ = order_.size();
  }
}

void ProgressDisplay::Redraw() {
  std::vector<std::string> lines;
  for (const auto& key : order_) lines.push_back(active_[key].text);
  RedrawLines(lines, &drawn_);
}

}  // namespace strata::cli
