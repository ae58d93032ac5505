#include <catch2/catch.hpp>

#include "strata/dockerfile.h"

using namespace strata;

// Written in the style of the official images' Dockerfiles: a global ARG,
// multi-pair ENV, long RUN lines continued with comments between them,
// COPY flags, exec-form CMD and ENTRYPOINT, multi-stage.
static const char* kOfficialStyle = R"(# syntax=docker/dockerfile:1
ARG BASE=busybox:latest
FROM ${BASE} AS build

# runtime user first, so its ids are stable
RUN set -eux; \
	addgroup -S app; \
# a comment inside a continued line
	adduser -S -G app app

ENV APP_VERSION=1.2.3 \
    APP_HOME="/opt/my app" \
    PATH=/opt/app/bin:$PATH
WORKDIR $APP_HOME
COPY --chown=app:app --chmod=0755 src/ ./src/
RUN ["/bin/sh", "-c", "echo built > /built"]

FROM busybox:latest
LABEL org.opencontainers.image.title="demo app" maintainer=someone
COPY --from=build /built /built
EXPOSE 8080/tcp 9090
VOLUME ["/data"]
USER app:app
ENTRYPOINT ["/bin/sh"]
CMD ["-c", "cat /built"]
)";

TEST_CASE("an official-style Dockerfile parses instruction by instruction") {
  auto df = ParseDockerfile(kOfficialStyle);
  REQUIRE(df.ok());
  const auto& ins = df->instructions;
  REQUIRE(ins.size() == 15);
  REQUIRE(ins[0].keyword == "ARG");
  REQUIRE(ins[1].keyword == "FROM");
  REQUIRE(ins[1].rest == "${BASE} AS build");
  REQUIRE(ins[2].keyword == "RUN");
  REQUIRE(ins[2].line == 6);
  REQUIRE_FALSE(ins[2].json_form);
  REQUIRE(ins[2].rest == "set -eux; \taddgroup -S app; \tadduser -S -G app app");
  REQUIRE(ins[3].keyword == "ENV");
  REQUIRE(ins[5].flags.at("chown") == "app:app");
  REQUIRE(ins[5].flags.at("chmod") == "0755");
  REQUIRE(ins[5].rest == "src/ ./src/");
  REQUIRE(ins[6].json_form);
  REQUIRE(ins[6].json_args == std::vector<std::string>{"/bin/sh", "-c", "echo built > /built"});
  REQUIRE(ins[9].flags.at("from") == "build");
  REQUIRE(ins[11].json_args == std::vector<std::string>{"/data"});
  REQUIRE(ins[14].keyword == "CMD");
  REQUIRE(ins[14].original == "CMD [\"-c\", \"cat /built\"]");
}

TEST_CASE("keywords are case-insensitive; the escape directive changes the continuation character") {
  auto df = ParseDockerfile("# escape=`\nfrom scratch\nrun echo a `\n  b\ncopy C:\\dir\\file /x\n");
  REQUIRE(df.ok());
  REQUIRE(df->escape == '`');
  REQUIRE(df->instructions[1].keyword == "RUN");
  REQUIRE(df->instructions[1].rest == "echo a   b");
  REQUIRE(df->instructions[2].rest == "C:\\dir\\file /x");
}

TEST_CASE("parse errors name the file, the line and what is wrong") {
  auto unknown = ParseDockerfile("FROM scratch\n\nFROBNICATE x\n", "app/Dockerfile");
  REQUIRE(unknown.status().message() == "app/Dockerfile:3: unknown instruction: FROBNICATE");
  REQUIRE(ParseDockerfile("FROM scratch\nRUN\n").status().message() == "Dockerfile:2: RUN needs arguments");
  REQUIRE(ParseDockerfile("RUN echo\n").status().message() ==
          "Dockerfile:1: the first instruction must be FROM (or ARG)");
  // A trailing escape on the last line just ends the file, as Docker takes it.
  REQUIRE(ParseDockerfile("FROM scratch\nRUN echo \\\n")->instructions[1].rest == "echo");
  REQUIRE(ParseDockerfile("FROM scratch\nSHELL /bin/bash\n").status().message() ==
          "Dockerfile:2: SHELL needs the JSON form");
  REQUIRE(ParseDockerfile("# just a comment\n\n").status().code() == Code::kInvalidArgument);
}

TEST_CASE("variables expand as Docker expands them") {
  std::map<std::string, std::string> vars = {{"A", "alpha"}, {"EMPTY", ""}, {"P", "/usr/bin"}};
  REQUIRE(*ExpandVariables("$A-${A}_x", vars) == "alpha-alpha_x");
  REQUIRE(*ExpandVariables("${MISSING:-fallback} ${EMPTY:-e} ${A:-no}", vars) == "fallback e alpha");
  REQUIRE(*ExpandVariables("${A:+set}${MISSING:+never}", vars) == "set");
  // $5 is a positional parameter to Docker's lexer: empty, as is an unset $PATH.
  REQUIRE(*ExpandVariables("\\$A costs $5 ${P}:$PATH", vars) == "$A costs  /usr/bin:");
  REQUIRE_FALSE(ExpandVariables("${A", vars).ok());
  REQUIRE_FALSE(ExpandVariables("${A:?err}", vars).ok());
}

TEST_CASE("nested defaults and alternatives expand as docker's lexer expands them") {
  std::map<std::string, std::string> vars = {{"A", "alpha"}, {"B", "beta"}, {"EMPTY", ""}};
  CHECK(*ExpandVariables("${MISSING:-${B:-x}}", vars) == "beta");
  CHECK(*ExpandVariables("${MISSING:-${NONE:-x}}", vars) == "x");
  CHECK(*ExpandVariables("${A:-${B:-x}}", vars) == "alpha");
  CHECK(*ExpandVariables("${A:+${B}}", vars) == "beta");
  CHECK(*ExpandVariables("${MISSING:+${B}}", vars) == "");
  CHECK(*ExpandVariables("${A:+[${B:+${A}}]}", vars) == "[alpha]");
  // Without ':' only an unset variable counts: an empty one is set.
  CHECK(*ExpandVariables("${EMPTY-unset}|${EMPTY:-empty}|${MISSING-unset}", vars) == "|empty|unset");
  CHECK(*ExpandVariables("${EMPTY+set}|${EMPTY:+set}", vars) == "set|");
  CHECK_FALSE(ExpandVariables("${A:-${B}", vars).ok());
  std::string deep;
  for (int i = 0; i < 100; ++i) deep += "${X:-";
  deep += "x" + std::string(100, '}');
  CHECK(ExpandVariables(deep, vars).status().code() ==
        Code::kInvalidArgument);  // refused, not a stack overflow
}

TEST_CASE("ENV and LABEL pairs, quotes and the legacy form") {
  auto kv = ParseKeyValues("A=1 B=\"two words\" C='lit $x' D=esc\\ aped", false);
  REQUIRE(kv.ok());
  REQUIRE(kv->size() == 4);
  REQUIRE((*kv)[1].second == "two words");
  REQUIRE((*kv)[2].second == "lit $x");
  REQUIRE((*kv)[3].second == "esc aped");
  auto legacy = ParseKeyValues("JAVA_OPTS -Xmx1g -Xms1g", true);
  REQUIRE(legacy.ok());
  REQUIRE((*legacy)[0] == std::pair<std::string, std::string>{"JAVA_OPTS", "-Xmx1g -Xms1g"});
  REQUIRE_FALSE(ParseKeyValues("JAVA_OPTS -Xmx1g", false).ok());
  REQUIRE_FALSE(ParseKeyValues("=value", false).ok());
  auto words = SplitWords("a 'b c' \"d\\\"e\" f\\ g");
  REQUIRE(words.ok());
  REQUIRE(*words == std::vector<std::string>{"a", "b c", "d\"e", "f g"});
  REQUIRE_FALSE(SplitWords("'open").ok());
}

TEST_CASE("RUN here-documents, as BuildKit's Dockerfile syntax has them") {
  auto df = ParseDockerfile(
      "FROM x\n"
      "RUN <<EOF\n"
      "echo one\n"
      "echo two\n"
      "EOF\n"
      "RUN cat >/greeting <<-'END' && wc -l </greeting\n"
      "\thello\n"
      "\tEND\n"
      "CMD [\"sh\"]\n");
  REQUIRE(df.ok());
  REQUIRE(df->instructions.size() == 4);
  CHECK(df->instructions[1].rest == "echo one\necho two\n");  // a bare <<EOF: the body is the script
  CHECK(df->instructions[2].rest == "cat >/greeting <<-'END' && wc -l </greeting\nhello\nEND");
  CHECK(df->instructions[3].keyword == "CMD");
  auto open = ParseDockerfile("FROM x\nRUN <<EOF\necho never closed\n");
  REQUIRE_FALSE(open.ok());
  CHECK_THAT(open.status().message(), Catch::Contains("Dockerfile:2") && Catch::Contains("no closing EOF"));
}
