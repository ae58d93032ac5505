// strata completion bash|zsh: shell completion scripts made from the CLI's
// own definition (its commands, subcommands and options), so they never
// drift from it. CMake runs this at build time and installs the output.
#include <cstdio>
#include <set>
#include <string>
#include <vector>

#include "cli.h"

namespace strata::cli {

namespace {

// One command of the tree: its path ("", "image", "image ls"), what it offers.
struct CommandNode {
  std::string path;
  std::vector<std::pair<std::string, std::string>> subcommands;  // name, description
  std::vector<std::pair<std::string, std::string>> options;      // --long or -s, description
  std::vector<std::string> value_options;                        // those that take a value
};

void Walk(CLI::App& app, const std::string& path, std::vector<CommandNode>& out) {
  CommandNode node;
  node.path = path;
  const auto all = [](CLI::App*) { return true; };
  for (CLI::App* sub : app.get_subcommands(all)) {
    if (!sub->get_name().empty()) node.subcommands.emplace_back(sub->get_name(), sub->get_description());
  }
  for (const CLI::Option* opt : app.get_options()) {
    if (opt->get_positional()) continue;
    std::vector<std::string> names;
    for (const auto& l : opt->get_lnames()) names.push_back("--" + l);
    for (const auto& s : opt->get_snames()) names.push_back("-" + s);
    for (const auto& name : names) {
      node.options.emplace_back(name, opt->get_description());
      if (opt->get_expected_min() > 0 && opt->get_items_expected_max() > 0)
        node.value_options.push_back(name);
    }
  }
  out.push_back(node);
  for (CLI::App* sub : app.get_subcommands(all)) {
    if (!sub->get_name().empty())
      Walk(*sub, path.empty() ? sub->get_name() : path + " " + sub->get_name(), out);
  }
}

std::string Quoted(const std::string& text) {  // in single quotes, for either shell
  std::string out = "'";
  for (char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string Joined(const std::set<std::string>& words) {
  std::string out;
  for (const auto& w : words) out += (out.empty() ? "" : " ") + w;
  return out;
}

// The shared part: the command path the words before the cursor name
// ($path), and whether the word at the cursor is an option's value ($skip).
// Options are skipped, with the value of one that takes it; the root's
// options (--root) may come after any command.
std::string PathFinder(const std::vector<CommandNode>& nodes, const std::string& words,
                       const std::string& first, const std::string& count) {
  std::string s;
  s += "  local path='' skip=0 w i\n";
  s += "  for ((i = " + first + "; i < " + count + "; i++)); do\n";
  s += "    w=" + words + "[i]}\n";
  s += "    if ((skip)); then skip=0; continue; fi\n";
  s += "    case \"$path|$w\" in\n";
  std::string alts;
  for (const auto& node : nodes) {
    for (const auto& o : node.value_options)
      alts += (alts.empty() ? "" : "|") +
              (node.path.empty() ? "*" + Quoted("|" + o) : Quoted(node.path + "|" + o));
  }
  if (!alts.empty()) s += "      " + alts + ") skip=1 ;;\n";
  s += "      *'|-'*) ;;\n";
  for (const auto& node : nodes) {
    for (const auto& [name, _] : node.subcommands) {
      std::string next = node.path.empty() ? name : node.path + " " + name;
      s += "      " + Quoted(node.path + "|" + name) + ") path=" + Quoted(next) + " ;;\n";
    }
  }
  s += "    esac\n";
  s += "  done\n";
  return s;
}

std::string BashScript(const std::vector<CommandNode>& nodes) {
  std::string s = "# bash completion for strata (made by `strata completion bash`)\n_strata() {\n";
  s += "  local cur=${COMP_WORDS[COMP_CWORD]}\n";
  s += PathFinder(nodes, "${COMP_WORDS", "1", "COMP_CWORD");
  s += "  if ((skip)); then COMPREPLY=($(compgen -f -- \"$cur\")); return; fi\n";
  s += "  local words=''\n  case \"$path\" in\n";
  for (const auto& node : nodes) {
    std::set<std::string> offered;
    for (const auto& [name, _] : node.subcommands) offered.insert(name);
    for (const auto& [name, _] : node.options) offered.insert(name);
    s += "    " + Quoted(node.path) + ") words=" + Quoted(Joined(offered)) + " ;;\n";
  }
  s += "  esac\n";
  s += "  COMPREPLY=($(compgen -W \"$words\" -- \"$cur\"))\n";
  s += "}\ncomplete -o default -F _strata strata\n";
  return s;
}

std::string ZshScript(const std::vector<CommandNode>& nodes) {
  std::string s =
      "#compdef strata\n# zsh completion for strata (made by `strata completion zsh`)\n_strata() {\n";
  s += PathFinder(nodes, "${words", "2", "CURRENT");
  s += "  if ((skip)); then _files; return; fi\n";
  s += "  local -a commands options\n  case \"$path\" in\n";
  for (const auto& node : nodes) {
    s += "    " + Quoted(node.path) + ")\n";
    s += "      commands=(";
    // (appended piecewise: GCC 12 warns falsely on " " + std::string here, -Wrestrict)
    for (const auto& [name, description] : node.subcommands)
      s.append(" ").append(Quoted(name + ":" + description));
    s += " )\n      options=(";
    for (const auto& [name, description] : node.options)
      s.append(" ").append(Quoted(name + ":" + description));
    s += " ) ;;\n";
  }
  s += "  esac\n";
  s += "  if [[ ${words[CURRENT]} == -* ]]; then\n";
  s += "    _describe -t options 'option' options\n";
  s += "  elif (( ${#commands} )); then\n";
  s += "    _describe -t commands 'command' commands\n";
  s += "  else\n    _files\n  fi\n}\n";
  s += "if [[ $zsh_eval_context[-1] == loadautofunc ]]; then _strata \"$@\"; else compdef _strata strata; "
       "fi\n";
  return s;
}

}  // namespace

void AddCompletionCommand(CLI::App& app) {
  auto shell = std::make_shared<std::string>();
  auto* cmd = app.add_subcommand("completion", "print a shell completion script (bash or zsh)");
  cmd->add_option("SHELL", *shell, "bash or zsh")->required()->check(CLI::IsMember({"bash", "zsh"}));
  cmd->callback([&app, shell] {
    std::vector<CommandNode> nodes;
    Walk(app, "", nodes);
    const std::string script = *shell == "bash" ? BashScript(nodes) : ZshScript(nodes);
    std::fputs(script.c_str(), stdout);
  });
}

}  // namespace strata::cli
