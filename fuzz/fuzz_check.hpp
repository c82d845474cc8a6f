// Assertion for fuzz targets: active in every build mode (NDEBUG too), aborts so libFuzzer records a crash.
#pragma once

#include <cstdio>
#include <cstdlib>

namespace slimcodec::fuzz {

inline void require(bool ok, const char* what) {
  if (ok) return;
  std::fprintf(stderr, "fuzz check failed: %s\n", what);
  std::abort();
}

}  // namespace slimcodec::fuzz
