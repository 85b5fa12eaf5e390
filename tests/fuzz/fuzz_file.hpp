#pragma once
// For targets whose function reads a path: the input is written to one in-memory file
// (memfd, nothing on disk) per process, read back through /proc/self/fd/N.

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_check.hpp"

namespace ma::fuzz {

class InputFile final {
 public:
  InputFile() : fd_(memfd_create("fuzz_input", 0)) {
    MA_FUZZ_CHECK(fd_ >= 0);
    path_ = "/proc/self/fd/" + std::to_string(fd_);
  }
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;

  const std::string& path() const { return path_; }
  // Replaces the file's content with `data`.
  void write(const std::uint8_t* data, std::size_t size) {
    MA_FUZZ_CHECK(ftruncate(fd_, 0) == 0);
    for (std::size_t done = 0; done < size;) {
      const ssize_t n = pwrite(fd_, data + done, size - done, static_cast<off_t>(done));
      MA_FUZZ_CHECK(n > 0);
      done += static_cast<std::size_t>(n);
    }
  }

 private:
  int fd_;
  std::string path_;
};

// The process's one input file.
inline InputFile& input_file() {
  static InputFile* f = new InputFile();
  return *f;
}

}  // namespace ma::fuzz
