#include "snapshot/snapshot_filter.h"

#include <regex>

namespace strata {

namespace {

// A cursor over the filter text.
class Scanner {
 public:
  explicit Scanner(const std::string& text) : text_(text) {}
  bool done() const { return at_ >= text_.size(); }
  char peek() const { return done() ? '\0' : text_[at_]; }
  bool Take(const std::string& s) {
    if (text_.compare(at_, s.size(), s) != 0) return false;
    at_ += s.size();
    return true;
  }
  // A quoted string ("..." with \" and \\), or a bare run of characters not in `stops`.
  Result<std::string> Word(const std::string& stops) {
    std::string out;
    if (peek() == '"') {
      ++at_;
      for (;;) {
        if (done()) return Status::InvalidArgument("filter " + text_ + ": a quote is not closed");
        char c = text_[at_++];
        if (c == '"') return out;
        if (c == '\\' && !done()) c = text_[at_++];
        out += c;
      }
    }
    while (!done() && stops.find(peek()) == std::string::npos) out += text_[at_++];
    return out;
  }

 private:
  const std::string& text_;
  size_t at_ = 0;
};

}  // namespace

Result<SnapshotFilter> SnapshotFilter::Parse(const std::string& text) {
  SnapshotFilter filter;
  Scanner s(text);
  auto bad = [&](const std::string& why) { return Status::InvalidArgument("filter '" + text + "': " + why); };
  while (!s.done()) {
    Condition c;
    for (;;) {  // field path: name, or labels.KEY
      Result<std::string> part = s.Word(".=!~,");
      if (!part.ok()) return part.status();
      if (part->empty()) return bad("a field name is missing");
      c.field.push_back(*part);
      if (!s.Take(".")) break;
    }
    const std::string& head = c.field[0];
    if (!((head == "name" || head == "parent" || head == "kind") && c.field.size() == 1) &&
        !(head == "labels" && c.field.size() == 2)) {
      return bad("no field " + head + " (name, parent, kind, labels.KEY)");
    }
    for (const char* op : {"==", "!=", "~="}) {
      if (s.Take(op)) c.op = op;
    }
    if (!c.op.empty()) {
      Result<std::string> value = s.Word(",");
      if (!value.ok()) return value.status();
      c.value = *value;
      if (c.op == "~=") {
        try {
          std::regex check(c.value);
        } catch (const std::regex_error&) {
          return bad("'" + c.value + "' is not a regular expression");
        }
      }
    }
    filter.conditions_.push_back(std::move(c));
    if (s.done()) break;
    if (!s.Take(",")) return bad("expected ',' after a condition");
  }
  if (filter.conditions_.empty()) return bad("empty");
  return filter;
}

bool SnapshotFilter::Matches(const SnapshotInfo& info) const {
  for (const Condition& c : conditions_) {
    std::string value;
    bool present = true;
    const std::string& head = c.field[0];
    if (head == "name") {
      value = info.name;
    } else if (head == "parent") {
      value = info.parent;
      present = !value.empty();
    } else if (head == "kind") {
      value = SnapshotKindName(info.kind);
    } else {
      auto it = info.labels.find(c.field[1]);
      present = it != info.labels.end();
      if (present) value = it->second;
    }
    bool ok = false;
    if (c.op.empty()) ok = present;
    if (c.op == "==") ok = present && value == c.value;
    if (c.op == "!=") ok = !present || value != c.value;
    if (c.op == "~=") ok = present && std::regex_search(value, std::regex(c.value));
    if (!ok) return false;
  }
  return true;
}

}  // namespace strata
