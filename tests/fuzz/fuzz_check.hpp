#pragma once
// What the fuzz targets share: a property check that stops the run. libFuzzer reports a
// failed check as a crash (and saves the input); the g++ replay test fails on it too. Checks
// are always on, NDEBUG or not (assert() is compiled out of RelWithDebInfo).

#include <cstdio>
#include <cstdlib>

#define MA_FUZZ_CHECK(cond)                                                                 \
  do {                                                                                      \
    if (!(cond)) {                                                                          \
      std::fprintf(stderr, "%s:%d: fuzz property failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                         \
    }                                                                                       \
  } while (0)
