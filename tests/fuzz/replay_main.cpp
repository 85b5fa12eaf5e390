// Replays a fuzz target's kept corpus without libFuzzer, so that `make test` (g++, no clang)
// runs every input ever found interesting or crashing: each regular file of each directory
// argument (in name order), or each file argument, goes once through LLVMFuzzerTestOneInput.
// A failed property aborts, a sanitizer (in an ASan build) reports: either fails the test.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);
// Defined by the targets that need one-time setup (a catalog); null otherwise.
extern "C" __attribute__((weak)) int LLVMFuzzerInitialize(int* argc, char*** argv);

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  if (LLVMFuzzerInitialize != nullptr) LLVMFuzzerInitialize(&argc, &argv);
  std::vector<fs::path> files;
  for (int i = 1; i < argc; ++i) {
    const fs::path p(argv[i]);
    if (fs::is_directory(p)) {
      for (const auto& e : fs::directory_iterator(p)) {
        if (e.is_regular_file() && e.path().filename().string().front() != '.')
          files.push_back(e.path());
      }
    } else if (fs::is_regular_file(p)) {
      files.push_back(p);
    } else {
      std::cerr << "replay: no such file or directory: " << p << '\n';
      return 2;
    }
  }
  if (files.empty()) {
    std::cerr << "replay: no inputs (usage: " << argv[0] << " DIR_OR_FILE...)\n";
    return 2;
  }
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (!in.good() && !in.eof()) {
      std::cerr << "replay: cannot read " << f << '\n';
      return 2;
    }
    // An exact-size heap copy, as libFuzzer passes it: a read past the end is caught by ASan.
    auto copy = std::make_unique<std::uint8_t[]>(std::max<std::size_t>(bytes.size(), 1));
    std::copy(bytes.begin(), bytes.end(), copy.get());
    std::cerr << "replay: " << f.filename().string() << " (" << bytes.size() << " bytes)\n";
    LLVMFuzzerTestOneInput(copy.get(), bytes.size());
  }
  std::cout << "replay: " << files.size() << " inputs passed\n";
  return 0;
}
