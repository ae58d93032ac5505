#include "strata/version.h"

namespace strata {

const char* Version() {
  return STRATA_VERSION;
}

const char* GitRevision() {
  return STRATA_GIT_REVISION;
}

}  // namespace strata
