#pragma once
// For the catalog's tests: data files written to a fresh folder, removed with it.

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

namespace ma::catalog {

class TempFiles final {
 public:
  TempFiles()
      : dir_(std::filesystem::temp_directory_path() /
             ("ma_catalog_parts_" + std::to_string(::getpid()) + "_" + std::to_string(next_++))) {
    std::filesystem::create_directories(dir_);
  }
  ~TempFiles() { std::filesystem::remove_all(dir_); }
  TempFiles(const TempFiles&) = delete;
  TempFiles& operator=(const TempFiles&) = delete;

  // Writes `content` to `name` in the folder and answers its path.
  std::string write(std::string_view name, std::string_view content) const {
    const auto path = dir_ / name;
    std::ofstream(path, std::ios::binary) << content;
    return path.string();
  }
  // A path in the folder where no file is.
  std::string missing() const { return (dir_ / "missing.json").string(); }

 private:
  static inline int next_ = 0;
  std::filesystem::path dir_;
};

}  // namespace ma::catalog
