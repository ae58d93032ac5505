// strata pull / push / login / logout: images from and to registries.
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <map>
#include <vector>

#include "cli.h"
#include "progress_display.h"

namespace strata::cli {

namespace {

// Docker's per-blob progress, on stderr (ids and digests stay on stdout): on
// a terminal, one line per blob redrawn in place; otherwise a plain line at
// each change of state; nothing when quiet.
class TransferDisplay {
 public:
  TransferDisplay(bool quiet, bool pushing)
      : quiet_(quiet), pushing_(pushing), tty_(::isatty(STDERR_FILENO)) {}

  void operator()(const TransferEvent& e) {
    if (quiet_) return;
    Show(e.id, Describe(e));
  }

  // A pulled layer being made a strata layer (the store's "Extracting" events,
  // named by the blob file, whose name is the digest), on its blob's line.
  void Extracting(const ProgressEvent& e) {
    if (quiet_ || e.action != "Extracting" || !lines_.count(e.id)) return;
    std::string text = "Extracting";
    if (e.total != 0) text += " " + BarAndSizes(e.done, e.total, 50);
    Show(e.id, text);
  }

 private:
  void Show(const std::string& id, const std::string& text) {
    auto [it, added] = lines_.try_emplace(id, "");
    if (added) order_.push_back(id);
    if (text == it->second) return;
    const bool state_changed = StateOf(text) != StateOf(it->second);
    it->second = text;
    if (!tty_) {
      if (state_changed) std::fprintf(stderr, "%s: %s\n", id.c_str(), StateOf(text).c_str());
      return;
    }
    Redraw();
  }

  static std::string StateOf(const std::string& text) { return text.substr(0, text.find(" [")); }

  std::string Describe(const TransferEvent& e) const {
    switch (e.kind) {
      case TransferEvent::kWaiting: return "Waiting";
      case TransferEvent::kExists: return pushing_ ? "Layer already exists" : "Already exists";
      case TransferEvent::kDownloading:
      case TransferEvent::kPushing: {
        std::string verb = e.kind == TransferEvent::kPushing ? "Pushing" : "Downloading";
        if (e.total == 0) return verb;
        return verb + " " + BarAndSizes(e.done, e.total, 50);
      }
      case TransferEvent::kVerifying: return "Verifying Checksum";
      case TransferEvent::kDone: return pushing_ ? "Pushed" : "Pull complete";
      case TransferEvent::kMounted: return "Mounted from another repository";
    }
    return "";
  }

  void Redraw() {
    std::vector<std::string> lines;
    for (const auto& id : order_) lines.push_back(id + ": " + lines_[id]);
    RedrawLines(lines, &drawn_);
  }

  bool quiet_, pushing_, tty_;
  std::map<std::string, std::string> lines_;
  std::vector<std::string> order_;
  size_t drawn_ = 0;
};

struct RegistryArgs {
  bool tls_verify = true;
  std::string cert_dir;

  void Add(CLI::App* cmd) {
    cmd->add_option("--tls-verify", tls_verify,
                    "check the registry's certificate (false also allows plain HTTP)")
        ->default_str("true");
    cmd->add_option("--cert-dir", cert_dir, "a directory of CA certificates (*.crt) to trust");
  }
  RegistryOptions Options() const {
    RegistryOptions o;
    o.tls_verify = tls_verify;
    o.cert_dir = cert_dir;
    return o;
  }
};

std::string ReadPasswordStdin() {
  std::string password;
  std::getline(std::cin, password);
  if (!password.empty() && password.back() == '\r') password.pop_back();
  return password;
}

}  // namespace

void AddRegistryCommands(CLI::App& app, Context& ctx) {
  struct PullArgs {
    std::string ref, platform;
    bool quiet = false, all_tags = false;
    RegistryArgs registry;
  };
  auto pull_args = std::make_shared<PullArgs>();
  auto* pull = app.add_subcommand("pull", "pull an image from a registry");
  pull->add_option("REF", pull_args->ref, "name[:tag] or name@digest, e.g. debian:12, localhost:5000/app:1")
      ->required();
  pull->add_option("--platform", pull_args->platform, "os/arch[/variant] (default: this machine's)");
  pull->add_flag("-q,--quiet", pull_args->quiet, "print the image name only");
  pull->add_flag("-a,--all-tags", pull_args->all_tags, "every tag of the repository REF names");
  pull_args->registry.Add(pull);
  pull->callback([&ctx, pull_args] {
    PullOptions options;
    options.registry = pull_args->registry.Options();
    if (!pull_args->platform.empty()) options.platform = Check(ParsePlatform(pull_args->platform));
    if (pull_args->all_tags) {
      for (const auto& tag : Check(ListRegistryTags(pull_args->ref, options.registry))) {
        TransferDisplay display(pull_args->quiet, false);
        options.progress = [&display](const TransferEvent& e) { display(e); };
        Store& store = ctx.OpenStore();
        store.SetProgress([&display](const ProgressEvent& e) { display.Extracting(e); });
        Image image = Check(Pull(store, pull_args->ref + ":" + tag, options));
        store.SetProgress(nullptr);
        std::printf("%s\n", image.names.empty() ? image.id.c_str() : image.names.front().c_str());
      }
      return;
    }
    TransferDisplay display(pull_args->quiet, false);
    options.progress = [&display](const TransferEvent& e) { display(e); };
    Store& store = ctx.OpenStore();
    store.SetProgress([&display](const ProgressEvent& e) { display.Extracting(e); });
    Image image = Check(Pull(store, pull_args->ref, options));
    store.SetProgress(nullptr);
    // Pinned by digest: named by it (as docker prints it); else by its tag.
    std::string name = image.names.empty() ? image.id : image.names.front();
    if (auto at = pull_args->ref.find('@'); at != std::string::npos) {
      for (const auto& d : image.repo_digests) {
        if (d.ends_with(pull_args->ref.substr(at))) name = d;
      }
    }
    if (pull_args->quiet) {
      std::printf("%s\n", name.c_str());
      return;
    }
    for (const auto& d : image.repo_digests) std::printf("Digest: %s\n", d.substr(d.find('@') + 1).c_str());
    std::printf("Status: Downloaded image for %s\n", name.c_str());
  });

  struct PushArgs {
    std::string image, ref, compression = "gzip", format = "oci";
    bool quiet = false;
    RegistryArgs registry;
  };
  auto push_args = std::make_shared<PushArgs>();
  auto* push = app.add_subcommand("push", "push an image to a registry");
  push->add_option("IMAGE", push_args->image, "name[:tag] or id")->required();
  push->add_option("REF", push_args->ref, "where to push it (default: the image's name)");
  push->add_option("--compression", push_args->compression,
                   "layers that have no blob yet: gzip (default) or zstd")
      ->check(CLI::IsMember({"gzip", "zstd"}));
  push->add_option("--format", push_args->format, "manifest: oci (default) or docker (schema 2)")
      ->check(CLI::IsMember({"oci", "docker"}));
  push->add_flag("-q,--quiet", push_args->quiet, "print the digest only");
  push_args->registry.Add(push);
  push->callback([&ctx, push_args] {
    PushOptions options;
    options.registry = push_args->registry.Options();
    options.compression = push_args->compression == "zstd" ? Compression::kZstd : Compression::kGzip;
    options.docker_format = push_args->format == "docker";
    TransferDisplay display(push_args->quiet, true);
    options.progress = [&display](const TransferEvent& e) { display(e); };
    std::string digest = Check(Push(ctx.OpenStore(), push_args->image, push_args->ref, options));
    if (push_args->quiet) {
      std::printf("%s\n", digest.c_str());
    } else {
      std::printf("digest: %s\n", digest.c_str());
    }
  });

  struct LoginArgs {
    std::string registry, username, password;
    bool password_stdin = false;
    RegistryArgs options;
  };
  auto login_args = std::make_shared<LoginArgs>();
  auto* login = app.add_subcommand("login", "save credentials for a registry (checked first)");
  login->add_option("REGISTRY", login_args->registry, "e.g. localhost:5000 (default: docker.io)");
  login->add_option("-u,--username", login_args->username, "user name")->required();
  login->add_option("-p,--password", login_args->password, "password (prefer --password-stdin)");
  login->add_flag("--password-stdin", login_args->password_stdin, "read the password from standard input");
  login_args->options.Add(login);
  login->callback([login_args] {
    std::string password = login_args->password_stdin ? ReadPasswordStdin() : login_args->password;
    if (password.empty()) Fail("login: no password (give --password-stdin)");
    std::string registry = login_args->registry.empty() ? "docker.io" : login_args->registry;
    std::string file = Check(Login(registry, login_args->username, password, login_args->options.Options()));
    std::printf("Login Succeeded (credentials in %s)\n", file.c_str());
  });

  auto logout_registry = std::make_shared<std::string>();
  auto* logout = app.add_subcommand("logout", "forget the credentials for a registry");
  logout->add_option("REGISTRY", *logout_registry, "e.g. localhost:5000 (default: docker.io)");
  logout->callback([logout_registry] {
    std::string registry = logout_registry->empty() ? "docker.io" : *logout_registry;
    Check(Logout(registry));
    std::printf("Removed login credentials for %s\n", registry.c_str());
  });
}

}  // namespace strata::cli
