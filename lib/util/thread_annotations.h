// Clang's thread-safety annotations (-Wthread-safety): the locking rules of a
// class written where the compiler checks them. Empty for other compilers.
// CI builds the library once with clang and -Werror (scripts/thread_safety.sh).
#pragma once

#if defined(__clang__)
#define STRATA_TSA(x) __attribute__((x))
#else
#define STRATA_TSA(x)
#endif

#define CAPABILITY(x) STRATA_TSA(capability(x))
#define SCOPED_CAPABILITY STRATA_TSA(scoped_lockable)
#define GUARDED_BY(x) STRATA_TSA(guarded_by(x))
#define PT_GUARDED_BY(x) STRATA_TSA(pt_guarded_by(x))
#define ACQUIRED_BEFORE(...) STRATA_TSA(acquired_before(__VA_ARGS__))
#define ACQUIRED_AFTER(...) STRATA_TSA(acquired_after(__VA_ARGS__))
#define REQUIRES(...) STRATA_TSA(requires_capability(__VA_ARGS__))
#define REQUIRES_SHARED(...) STRATA_TSA(requires_shared_capability(__VA_ARGS__))
#define ACQUIRE(...) STRATA_TSA(acquire_capability(__VA_ARGS__))
#define ACQUIRE_SHARED(...) STRATA_TSA(acquire_shared_capability(__VA_ARGS__))
#define RELEASE(...) STRATA_TSA(release_capability(__VA_ARGS__))
#define RELEASE_SHARED(...) STRATA_TSA(release_shared_capability(__VA_ARGS__))
#define RELEASE_GENERIC(...) STRATA_TSA(release_generic_capability(__VA_ARGS__))
#define EXCLUDES(...) STRATA_TSA(locks_excluded(__VA_ARGS__))
#define RETURN_CAPABILITY(x) STRATA_TSA(lock_returned(x))
#define NO_THREAD_SAFETY_ANALYSIS STRATA_TSA(no_thread_safety_analysis)
