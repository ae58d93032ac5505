// docker's -v and --mount syntaxes.
#include <sstream>
#include <vector>

#include "strata/container.h"
#include "strata/text.h"

namespace strata {

namespace {

Status CheckTarget(const std::string& target, const std::string& spec) {
  if (target.empty() || target[0] != '/') {
    return Status::InvalidArgument("mount target in " + spec + " must be an absolute path");
  }
  if (target == "/") return Status::InvalidArgument("cannot mount over / (" + spec + ")");
  return Status::OK();
}

}  // namespace

Result<MountRequest> ParseVolumeFlag(const std::string& spec) {
  auto parts = Split(spec, ':');
  MountRequest m;
  if (parts.size() == 1) {  // -v /path: an anonymous volume
    m.target = parts[0];
  } else if (parts.size() == 2 || parts.size() == 3) {
    m.source = parts[0];
    m.target = parts[1];
    if (parts.size() == 3) {
      for (const auto& opt : Split(parts[2], ',')) {
        if (opt == "ro") {
          m.readonly = true;
        } else if (opt != "rw" && opt != "z" && opt != "Z") {
          return Status::InvalidArgument("unknown volume option " + opt + " in " + spec);
        }
      }
    }
  } else {
    return Status::InvalidArgument("bad volume spec " + spec + " (want NAME:/path[:ro] or /host:/path[:ro])");
  }
  if (!m.source.empty() && m.source[0] == '/') m.type = MountRequest::Type::kBind;
  if (!m.source.empty() && m.type == MountRequest::Type::kVolume && m.source.find('/') != std::string::npos)
    return Status::InvalidArgument("bad volume name " + m.source + " in " + spec);
  if (Status st = CheckTarget(m.target, spec); !st.ok()) return st;
  return m;
}

Result<MountRequest> ParseMountFlag(const std::string& spec) {
  MountRequest m;
  std::string type = "volume";
  for (const auto& field : Split(spec, ',')) {
    auto eq = field.find('=');
    std::string key = field.substr(0, eq), value = eq == std::string::npos ? "" : field.substr(eq + 1);
    if (key == "type") {
      type = value;
    } else if (key == "source" || key == "src") {
      m.source = value;
    } else if (key == "target" || key == "destination" || key == "dst") {
      m.target = value;
    } else if (key == "readonly" || key == "ro") {
      m.readonly = value.empty() || value == "true" || value == "1";
    } else {
      return Status::InvalidArgument("unknown --mount field " + key + " in " + spec);
    }
  }
  if (type == "bind") {
    m.type = MountRequest::Type::kBind;
    if (m.source.empty() || m.source[0] != '/')
      return Status::InvalidArgument("a bind mount needs an absolute source (" + spec + ")");
  } else if (type != "volume") {
    return Status::InvalidArgument("unsupported mount type " + type + " (bind or volume)");
  }
  if (Status st = CheckTarget(m.target, spec); !st.ok()) return st;
  return m;
}

}  // namespace strata
