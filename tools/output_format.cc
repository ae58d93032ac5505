#include "output_format.h"

#include <cstdio>

#include "cli.h"
#include "strata/text.h"

namespace strata::cli {

namespace {

using nlohmann::json;

// How a Go template prints a value: strings bare, lists as [a b], maps as map[k:v].
std::string GoText(const json& v) {
  switch (v.type()) {
    case json::value_t::string: return v.get<std::string>();
    case json::value_t::null: return "[]";
    case json::value_t::array: {
      std::string out = "[";
      for (size_t i = 0; i < v.size(); ++i) out += (i ? " " : "") + GoText(v[i]);
      return out + "]";
    }
    case json::value_t::object: {
      std::string out = "map[";
      bool first = true;
      for (auto it = v.begin(); it != v.end(); ++it) {
        out += (first ? "" : " ") + it.key() + ":" + GoText(it.value());
        first = false;
      }
      return out + "]";
    }
    default: return v.dump();
  }
}

// ".Config.Env" (or "." for the whole item) inside `item`.
Result<json> FieldPath(const json& item, const std::string& path) {
  if (path.empty() || path[0] != '.') return Status::InvalidArgument("not a field path: " + path);
  const json* at = &item;
  if (path == ".") return *at;
  for (const auto& name : Split(path.substr(1), '.')) {
    if (!at->is_object() || !at->contains(name))
      return Status::InvalidArgument("--format: no field " + name + " in " + path);
    at = &(*at)[name];
  }
  return *at;
}

Result<std::string> Action(const json& item, std::string action) {
  // Trim "{{- " and " -}}" spaces as Go does.
  while (!action.empty() && (action.front() == ' ' || action.front() == '-')) action.erase(0, 1);
  while (!action.empty() && (action.back() == ' ' || action.back() == '-')) action.pop_back();
  if (action.rfind("json ", 0) == 0) {
    std::string path = action.substr(5);
    while (!path.empty() && path.front() == ' ') path.erase(0, 1);
    Result<json> value = FieldPath(item, path);
    if (!value.ok()) return value.status();
    return value->dump(-1, ' ', false, json::error_handler_t::replace);
  }
  if (!action.empty() && action[0] == '.' && action.find(' ') == std::string::npos) {
    Result<json> value = FieldPath(item, action);
    if (!value.ok()) return value.status();
    return GoText(*value);
  }
  return Status::InvalidArgument("--format: {{" + action +
                                 "}} is not supported (use {{.Field}}, {{.A.B}}, {{json .Field}} "
                                 "or a JSON pointer such as /Config/Env)");
}

}  // namespace

Result<std::string> ApplyFormat(const json& item, const std::string& format) {
  if (!format.empty() && format[0] == '/') {  // a JSON pointer
    json::json_pointer pointer;
    try {
      pointer = json::json_pointer(format);
    } catch (const json::exception&) {
      return Status::InvalidArgument("--format: " + format + " is not a JSON pointer");
    }
    if (!item.contains(pointer)) return Status::InvalidArgument("--format: nothing at " + format);
    const json& value = item.at(pointer);
    return value.is_string() ? value.get<std::string>()
                             : value.dump(-1, ' ', false, json::error_handler_t::replace);
  }
  std::string out;
  size_t at = 0;
  while (at < format.size()) {
    size_t open = format.find("{{", at);
    if (open == std::string::npos) {
      out += format.substr(at);
      break;
    }
    size_t close = format.find("}}", open + 2);
    if (close == std::string::npos) return Status::InvalidArgument("--format: {{ without }}");
    out += format.substr(at, open - at);
    Result<std::string> text = Action(item, format.substr(open + 2, close - open - 2));
    if (!text.ok()) return text.status();
    out += *text;
    at = close + 2;
  }
  return out;
}

void PrintItems(const json& items, const std::string& format) {
  if (format.empty()) {
    PrintJson(items);
    return;
  }
  for (const auto& item : items) {
    std::string line = Check(ApplyFormat(item, format));
    std::printf("%s\n", line.c_str());
  }
}

}  // namespace strata::cli
