#include "strata/dockerfile.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <regex>
#include <set>

#include "util/status_macros.h"

namespace strata {

namespace {

const std::set<std::string> kKeywords = {"ADD",    "ARG",   "CMD",         "COPY",  "ENTRYPOINT", "ENV",
                                         "EXPOSE", "FROM",  "HEALTHCHECK", "LABEL", "MAINTAINER", "ONBUILD",
                                         "RUN",    "SHELL", "STOPSIGNAL",  "USER",  "VOLUME",     "WORKDIR"};

std::string Trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

std::string Upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

bool IsComment(std::string_view line) {
  std::string t = Trim(line);
  return !t.empty() && t[0] == '#';
}

// A line ends in the escape character (trailing blanks allowed): it continues.
bool Continues(std::string& line, char escape) {
  size_t e = line.size();
  while (e > 0 && (line[e - 1] == ' ' || line[e - 1] == '\t' || line[e - 1] == '\r')) --e;
  if (e == 0 || line[e - 1] != escape) return false;
  line.resize(e - 1);
  return true;
}

Status Error(const std::string& name, int line, const std::string& what) {
  return Status::InvalidArgument(name + ":" + std::to_string(line) + ": " + what);
}

std::vector<std::string> SplitLines(std::string_view text) {
  std::vector<std::string> lines;
  for (size_t i = 0; i <= text.size();) {
    size_t j = text.find('\n', i);
    if (j == std::string_view::npos) j = text.size();
    std::string line(text.substr(i, j - i));
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(std::move(line));
    i = j + 1;
  }
  return lines;
}

// Parser directives: "# key=value" lines before anything else. Returns the
// index of the first line after them.
Result<size_t> ParseDirectives(const std::vector<std::string>& lines, const std::string& name,
                               Dockerfile& df) {
  size_t n = 0;
  for (; n < lines.size(); ++n) {
    std::string t = Trim(lines[n]);
    if (t.size() < 2 || t[0] != '#') break;
    std::string body = Trim(std::string_view(t).substr(1));
    auto eq = body.find('=');
    if (eq == std::string::npos) break;
    std::string key = Upper(Trim(std::string_view(body).substr(0, eq)));
    std::string value = Trim(std::string_view(body).substr(eq + 1));
    if (key == "ESCAPE") {
      if (value != "\\" && value != "`")
        return Error(name, static_cast<int>(n + 1), "escape must be \\ or `");
      df.escape = value[0];
    } else if (key != "SYNTAX" && key != "CHECK") {
      break;  // not a directive: an ordinary comment
    }
  }
  return n;
}

// One instruction from its text, continuation lines already joined.
Result<Instruction> ParseInstruction(const std::string& joined, int start, const std::string& name) {
  std::string t = Trim(joined);
  size_t sp = 0;
  while (sp < t.size() && !std::isspace(static_cast<unsigned char>(t[sp]))) ++sp;
  Instruction ins;
  ins.keyword = Upper(t.substr(0, sp));
  ins.line = start;
  if (!kKeywords.count(ins.keyword)) return Error(name, start, "unknown instruction: " + t.substr(0, sp));
  std::string rest = Trim(std::string_view(t).substr(sp));
  // --flags, for the instructions that take them.
  while (rest.rfind("--", 0) == 0 && ins.keyword != "RUN" && ins.keyword != "CMD" &&
         ins.keyword != "ENTRYPOINT" && ins.keyword != "SHELL") {
    size_t end = 0;
    while (end < rest.size() && !std::isspace(static_cast<unsigned char>(rest[end]))) ++end;
    std::string flag = rest.substr(2, end - 2);
    auto eq = flag.find('=');
    ins.flags[flag.substr(0, eq)] = eq == std::string::npos ? "true" : flag.substr(eq + 1);
    rest = Trim(std::string_view(rest).substr(end));
  }
  if (rest.empty() && ins.keyword != "CMD" && ins.keyword != "ENTRYPOINT") {
    return Error(name, start, ins.keyword + " needs arguments");
  }
  ins.rest = rest;
  if (!rest.empty() && rest.front() == '[') {
    nlohmann::json j = nlohmann::json::parse(rest, nullptr, false);
    if (!j.is_discarded() && j.is_array() &&
        std::all_of(j.begin(), j.end(), [](const auto& v) { return v.is_string(); })) {
      ins.json_form = true;
      for (const auto& v : j) ins.json_args.push_back(v.template get<std::string>());
    }
  }
  if (ins.keyword == "SHELL" && !ins.json_form) return Error(name, start, "SHELL needs the JSON form");
  ins.original = ins.keyword;
  for (const auto& [k, v] : ins.flags) ins.original += " --" + k + "=" + v;
  if (!rest.empty()) ins.original += " " + rest;
  return ins;
}

// The here-documents a RUN line opens (BuildKit's Dockerfile syntax):
// <<WORD, <<-WORD (leading tabs stripped), <<"WORD" or <<'WORD'; their
// terminating words, in order.
struct Heredoc {
  std::string word;
  bool strip_tabs = false;
};
std::vector<Heredoc> HeredocsIn(const std::string& line) {
  static const std::regex kHeredoc(R"(<<(-?)(["']?)([A-Za-z_][A-Za-z0-9_]*)\2)");
  std::vector<Heredoc> out;
  for (auto it = std::sregex_iterator(line.begin(), line.end(), kHeredoc); it != std::sregex_iterator();
       ++it) {
    out.push_back({(*it)[3].str(), (*it)[1].length() > 0});
  }
  return out;
}

// Reads the bodies of `docs` from lines[n...]; the RUN's text becomes a
// shell script: the command line with its here-documents, as sh reads them,
// or, for a bare "RUN <<EOF", the body alone (BuildKit runs it with the shell).
Result<std::string> TakeHeredocs(const std::vector<std::string>& lines, size_t& n, const std::string& command,
                                 const std::vector<Heredoc>& docs, const std::string& name, int start) {
  std::string script = command, bodies;
  for (const Heredoc& doc : docs) {
    bool closed = false;
    std::string body;
    while (n < lines.size()) {
      std::string line = lines[n++];
      if (doc.strip_tabs) line.erase(0, line.find_first_not_of('\t'));
      if (line == doc.word) {
        closed = true;
        break;
      }
      body += line + "\n";
    }
    if (!closed)
      return Error(name, start, "here-document <<" + doc.word + " has no closing " + doc.word + " line");
    bodies += body;
    script += "\n" + body + doc.word;
  }
  const std::string bare = Trim(command);
  if (docs.size() == 1 && bare.rfind("<<", 0) == 0 && HeredocsIn(bare).size() == 1 &&
      bare.find(' ') == std::string::npos) {
    return bodies;
  }
  return script;
}

}  // namespace

Result<Dockerfile> ParseDockerfile(std::string_view text, const std::string& name) {
  Dockerfile df;
  const std::vector<std::string> lines = SplitLines(text);
  ASSIGN_OR_RETURN(size_t n, ParseDirectives(lines, name, df));
  while (n < lines.size()) {
    std::string line = lines[n];
    const int start = static_cast<int>(n + 1);
    ++n;
    if (Trim(line).empty() || IsComment(line)) continue;
    bool more = Continues(line, df.escape);
    std::string joined = line;
    while (more && n < lines.size()) {
      std::string next = lines[n++];
      if (IsComment(next)) continue;  // comments inside a continued instruction vanish
      more = Continues(next, df.escape);
      joined += next;  // Docker joins continued lines with nothing in between
    }
    ASSIGN_OR_RETURN(Instruction ins, ParseInstruction(joined, start, name));
    if (ins.keyword == "RUN" && !ins.json_form) {
      if (auto docs = HeredocsIn(ins.rest); !docs.empty()) {
        ASSIGN_OR_RETURN(ins.rest, TakeHeredocs(lines, n, ins.rest, docs, name, start));
        ins.original = "RUN " + ins.rest;
      }
    }
    df.instructions.push_back(std::move(ins));
  }
  if (df.instructions.empty()) return Status::InvalidArgument(name + ": no instructions");
  for (const Instruction& ins : df.instructions) {
    if (ins.keyword == "FROM") break;
    if (ins.keyword != "ARG") return Error(name, ins.line, "the first instruction must be FROM (or ARG)");
  }
  return df;
}

namespace {

// The '}' that closes the "${" whose inside starts at `from`, nested "${...}" skipped.
size_t ClosingBrace(std::string_view w, size_t from, char escape) {
  int depth = 1;
  for (size_t i = from; i < w.size(); ++i) {
    if (w[i] == escape && i + 1 < w.size()) {
      ++i;
    } else if (w[i] == '$' && i + 1 < w.size() && w[i + 1] == '{') {
      ++depth;
      ++i;
    } else if (w[i] == '}' && --depth == 0) {
      return i;
    }
  }
  return std::string_view::npos;
}

Result<std::string> Expand(std::string_view w, const std::map<std::string, std::string>& vars, char escape,
                           int depth);

// ${NAME}, ${NAME:-word}, ${NAME-word}, ${NAME:+word}, ${NAME+word}, as
// docker's shell lexer reads them; `word` is expanded in its turn.
Result<std::string> ExpandBraced(const std::string& inner, const std::map<std::string, std::string>& vars,
                                 char escape, int depth) {
  size_t op = inner.find_first_of(":-+");
  std::string key = inner.substr(0, op);
  auto it = vars.find(key);
  const std::string* value = it == vars.end() ? nullptr : &it->second;
  if (op == std::string::npos) return value ? *value : std::string();
  const bool colon = inner[op] == ':';
  const size_t kind_at = colon ? op + 1 : op;
  if (kind_at >= inner.size() || (inner[kind_at] != '-' && inner[kind_at] != '+')) {
    return Status::InvalidArgument("unsupported modifier in ${" + inner + "}");
  }
  // With ':' an empty value counts as unset, as in the shell.
  const bool set = value && (!colon || !value->empty());
  const std::string word = inner.substr(kind_at + 1);
  if (inner[kind_at] == '-') return set ? *value : Expand(word, vars, escape, depth + 1);
  return set ? Expand(word, vars, escape, depth + 1) : Result<std::string>(std::string());
}

Result<std::string> Expand(std::string_view w, const std::map<std::string, std::string>& vars, char escape,
                           int depth) {
  if (depth > 32) return Status::InvalidArgument("variables nested too deep in '" + std::string(w) + "'");
  std::string out;
  auto lookup = [&](const std::string& k) -> const std::string* {
    auto it = vars.find(k);
    return it == vars.end() ? nullptr : &it->second;
  };
  for (size_t i = 0; i < w.size(); ++i) {
    char c = w[i];
    if (c == escape && i + 1 < w.size() && w[i + 1] == '$') {
      out += '$';
      ++i;
      continue;
    }
    if (c != '$' || i + 1 >= w.size()) {
      out += c;
      continue;
    }
    if (w[i + 1] == '{') {
      size_t close = ClosingBrace(w, i + 2, escape);
      if (close == std::string_view::npos)
        return Status::InvalidArgument("missing } in '" + std::string(w) + "'");
      std::string inner(w.substr(i + 2, close - i - 2));
      i = close;
      ASSIGN_OR_RETURN(std::string expanded, ExpandBraced(inner, vars, escape, depth));
      out += expanded;
      continue;
    }
    size_t j = i + 1;
    while (j < w.size() && (std::isalnum(static_cast<unsigned char>(w[j])) || w[j] == '_')) ++j;
    if (j == i + 1) {
      out += c;
      continue;
    }
    if (const std::string* value = lookup(std::string(w.substr(i + 1, j - i - 1)))) out += *value;
    i = j - 1;
  }
  return out;
}

}  // namespace

Result<std::string> ExpandVariables(std::string_view w, const std::map<std::string, std::string>& vars,
                                    char escape) {
  return Expand(w, vars, escape, 0);
}

// Words with quotes: '...' literal, "..." with escapes, escape outside quotes.
Result<std::vector<std::string>> SplitWords(std::string_view text, char escape) {
  std::vector<std::string> words;
  std::string cur;
  bool in_word = false;
  char quote = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (quote) {
      if (c == quote) {
        quote = 0;
      } else if (quote == '"' && c == escape && i + 1 < text.size()) {
        cur += text[++i];
      } else {
        cur += c;
      }
    } else if (c == '\'' || c == '"') {
      quote = c;
      in_word = true;
    } else if (c == escape && i + 1 < text.size()) {
      cur += text[++i];
      in_word = true;
    } else if (std::isspace(static_cast<unsigned char>(c))) {
      if (in_word) words.push_back(std::move(cur));
      cur.clear();
      in_word = false;
    } else {
      cur += c;
      in_word = true;
    }
  }
  if (quote) return Status::InvalidArgument("unterminated quote in '" + std::string(text) + "'");
  if (in_word) words.push_back(std::move(cur));
  return words;
}

Result<std::vector<std::pair<std::string, std::string>>> ParseKeyValues(std::string_view text,
                                                                        bool allow_legacy, char escape) {
  std::vector<std::pair<std::string, std::string>> out;
  ASSIGN_OR_RETURN(auto words, SplitWords(text, escape));
  if (words.empty()) return Status::InvalidArgument("no key=value pairs");
  if (words[0].find('=') == std::string::npos) {
    if (!allow_legacy) return Status::InvalidArgument("want key=value, got '" + words[0] + "'");
    // "ENV KEY value with spaces": the rest of the line, trimmed, is the value.
    std::string t = Trim(text);
    size_t sp = t.find_first_of(" \t");
    if (sp == std::string::npos) return Status::InvalidArgument("'" + t + "' has no value");
    out.emplace_back(t.substr(0, sp), Trim(std::string_view(t).substr(sp)));
    return out;
  }
  for (const std::string& w : words) {
    auto eq = w.find('=');
    if (eq == std::string::npos || eq == 0) return Status::InvalidArgument("want key=value, got '" + w + "'");
    out.emplace_back(w.substr(0, eq), w.substr(eq + 1));
  }
  return out;
}

}  // namespace strata
