// Replays files through a fuzz target's LLVMFuzzerTestOneInput without libFuzzer, so every ordinary test run
// also runs the fuzz targets on tests/golden/ and on any saved corpus. Usage: driver PATH... (files or dirs).
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <vector>

#include "golden_io.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  size_t replayed = 0;
  for (int i = 1; i < argc; ++i) {
    std::vector<fs::path> files;
    std::error_code ec;
    if (fs::is_directory(argv[i], ec)) files = slimcodec::wire::golden::list_files(argv[i], "");
    else if (fs::is_regular_file(argv[i], ec)) files.push_back(argv[i]);
    else std::fprintf(stderr, "skipping %s: not a file or directory\n", argv[i]);
    for (const auto& f : files) {
      const auto bytes = slimcodec::wire::golden::read_file(f);
      LLVMFuzzerTestOneInput(bytes.data(), bytes.size());
      ++replayed;
    }
  }
  // Also the inputs a corpus may lack: empty, and one byte.
  const uint8_t one = 0x53;
  LLVMFuzzerTestOneInput(&one, 0);
  LLVMFuzzerTestOneInput(&one, 1);
  std::printf("replayed %zu files\n", replayed);
  return replayed > 0 ? 0 : 1;
}
