#pragma once
// toml++ as the project uses it: include this, never <toml++/toml.h> directly.
//
// NOTE: toml++ 3.3 (Debian's) asserts on some malformed TOML instead of reporting a parse
// error (fixed upstream: marzer/tomlplusplus#301), so a Debug or sanitizer build aborted on a
// bad config file where a release build reported it (tests/fuzz/corpus/config/known-*).
// Its asserts are off; the non-ASCII case that reaches TOML_UNREACHABLE is refused before
// parsing (server/config.cpp). REQUIRES: nothing else includes toml++ before this header.

#ifndef TOML_ASSERT
#define TOML_ASSERT(expr) static_assert(true)
#endif
#include <toml++/toml.h>
