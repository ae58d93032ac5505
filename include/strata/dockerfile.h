// Dockerfile parsing, as Docker documents the syntax: parser directives
// (escape, syntax), comments, line continuations, case-insensitive
// keywords, exec (JSON) and shell forms, --flags, and variable substitution.
// Heredocs are not supported yet.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "strata/status.h"

namespace strata {

struct Instruction {
  std::string keyword;                       // upper case: FROM, RUN, COPY...
  std::map<std::string, std::string> flags;  // --chown=1:1 -> {"chown", "1:1"}
  std::string rest;                          // the text after keyword and flags, continuations joined
  bool json_form = false;                    // rest was a JSON array of strings
  std::vector<std::string> json_args;        // its elements, when json_form
  int line = 0;                              // 1-based line of the keyword
  std::string original;                      // "RUN apt-get update" as history shows it
};

struct Dockerfile {
  char escape = '\\';
  std::vector<Instruction> instructions;
};

// `name` is used in error messages: "NAME:LINE: what is wrong".
Result<Dockerfile> ParseDockerfile(std::string_view text, const std::string& name = "Dockerfile");

// $VAR, ${VAR}, ${VAR:-default}, ${VAR:+alternative}; `escape` before $ keeps it literal.
Result<std::string> ExpandVariables(std::string_view word, const std::map<std::string, std::string>& vars,
                                    char escape = '\\');

// ENV and LABEL arguments: key=value pairs with quotes and escapes, or the
// legacy "KEY value with spaces" form (`allow_legacy`).
Result<std::vector<std::pair<std::string, std::string>>> ParseKeyValues(std::string_view text,
                                                                        bool allow_legacy,
                                                                        char escape = '\\');

// Splits on unquoted whitespace, removing quotes (COPY sources, EXPOSE ports...).
Result<std::vector<std::string>> SplitWords(std::string_view text, char escape = '\\');

}  // namespace strata
