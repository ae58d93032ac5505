// Umbrella header: everything a strata library user needs.
#pragma once

#include "strata/build.h"
#include "strata/container.h"
#include "strata/container_run.h"
#include "strata/digest.h"
#include "strata/dockerfile.h"
#include "strata/entry.h"
#include "strata/housekeeping.h"
#include "strata/image.h"
#include "strata/oci.h"
#include "strata/overlay_fs.h"
#include "strata/runtime.h"
#include "strata/status.h"
#include "strata/store.h"
#include "strata/union_mount.h"
#include "strata/union_view.h"
#include "strata/volume.h"
