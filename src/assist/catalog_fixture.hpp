#pragma once
// Tests only: a fixture with the store's catalog, opened from data/ into memory once per test
// suite (a suite may change prices; the next suite starts from the files again).

#include <gtest/gtest.h>

#include <string>

#include "catalog/catalog.hpp"

namespace ma::assist {

class CatalogTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    catalog_ = catalog::Catalog::open({std::string(MA_SOURCE_DIR) + "/data", ":memory:"})
                   .value()
                   .release();
  }
  static void TearDownTestSuite() {
    delete catalog_;
    catalog_ = nullptr;
  }
  static inline catalog::Catalog* catalog_ = nullptr;
};

}  // namespace ma::assist
