// strata: the command-line front end. Each verb is a thin call into the library.
#include <cstdlib>

#include "cli.h"

int main(int argc, char** argv) {
  strata::cli::Context ctx;
  CLI::App app{"strata: a layered copy-on-write storage driver"};
  app.require_subcommand(1);
  const char* env_root = std::getenv("STRATA_ROOT");
  ctx.root = env_root && *env_root ? env_root : strata::kDefaultRoot;
  app.add_option("--root", ctx.root, "store root (default $STRATA_ROOT or /var/lib/strata)");
  strata::cli::AddBuildCommands(app, ctx);
  strata::cli::AddContainerCommands(app, ctx);
  strata::cli::AddImportCommand(app, ctx);
  strata::cli::AddOciCommands(app, ctx);
  strata::cli::AddRegistryCommands(app, ctx);
  strata::cli::AddSystemCommands(app, ctx);
  strata::cli::AddImageCommands(app, ctx);
  strata::cli::AddLayerCommands(app, ctx);
  strata::cli::AddMountCommands(app, ctx);
  strata::cli::AddVolumeCommands(app, ctx);
  strata::cli::AddVersionCommands(app, ctx);
  strata::cli::AddVolumePluginCommand(app, ctx);
  strata::cli::AddCompletionCommand(app);  // last: it describes the others
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::RuntimeError& e) {
    return e.get_exit_code();
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "strata: error: %s (see --help)\n", e.what());
    return e.get_exit_code() ? e.get_exit_code() : 2;
  }
  return 0;
}
