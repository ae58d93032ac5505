// strata's version and the commit it was built from (`strata version`).
#pragma once

namespace strata {

const char* Version();      // "0.1.0": the project's version
const char* GitRevision();  // the commit built ("unknown" outside a git checkout)

}  // namespace strata
