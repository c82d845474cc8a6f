// slimcodec-py-frame-tool: the C++ side of the Python module's cross-checks (tests/python/test_interop.py).
//   encode IN.f32 C H W S B LO HI FRAME_ID [TABLES] > frame   quantizes raw float32 CHW values into one frame
//   decode [TABLES] < frames > values.f32                    parses a stream of frames, writes every frame's values
// Exit 1 with the error's message on stderr when the library refuses the input.
#include <slimcodec/codec.hpp>
#include <slimcodec/weights/entropy_tables.hpp>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <iterator>
#include <memory>
#include <optional>
#include <vector>

using namespace slimcodec;

namespace {

std::vector<uint8_t> read_all(std::FILE* f) {
  std::vector<uint8_t> out;
  uint8_t buf[65536];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.insert(out.end(), buf, buf + n);
  return out;
}

int fail(const Error& e) { return std::fprintf(stderr, "%s\n", e.what()), 1; }

std::optional<entropy::TableSet> load_tables(const char* path) {
  auto file = weights::SafeTensorsFile::open(path);
  if (!file) return std::nullopt;
  auto t = weights::load_entropy_tables(*file);
  if (!t) return std::nullopt;
  return std::move(*t);
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "encode" && (argc == 11 || argc == 12)) {
    std::FILE* in = std::fopen(argv[2], "rb");
    if (!in) return std::fprintf(stderr, "cannot open %s\n", argv[2]), 1;
    const auto raw = read_all(in);
    std::fclose(in);
    std::vector<float> x(raw.size() / 4);
    std::memcpy(x.data(), raw.data(), x.size() * 4);
    EncodeParams p;
    p.shape = Shape{std::atoll(argv[3]), std::atoll(argv[4]), std::atoll(argv[5])};
    p.ensemble_size = uint8_t(std::atoi(argv[6]));
    p.bits = uint8_t(std::atoi(argv[7]));
    p.bounds = quant::Bounds{std::strtof(argv[8], nullptr), std::strtof(argv[9], nullptr)};
    p.frame_id = uint32_t(std::strtoul(argv[10], nullptr, 10));
    if (size_t(p.shape.size()) != x.size()) return std::fprintf(stderr, "value count differs from C*H*W\n"), 1;
    std::vector<uint8_t> out(max_frame_size(x.size(), p.bits)), scratch(x.size());
    std::optional<entropy::TableSet> tables;
    if (argc == 12 && !(tables = load_tables(argv[11]))) return std::fprintf(stderr, "cannot load tables\n"), 1;
    auto n = tables ? encode_frame(x.data(), p, out.data(), out.size(), EntropyCoding{&*tables, scratch.data(), scratch.size()})
                    : encode_frame(x.data(), p, out.data(), out.size());
    if (!n) return fail(n.error());
    std::fwrite(out.data(), 1, *n, stdout);
    return 0;
  }
  if (mode == "decode" && argc <= 3) {
    std::optional<entropy::TableSet> tables;
    if (argc == 3 && !(tables = load_tables(argv[2]))) return std::fprintf(stderr, "cannot load tables\n"), 1;
    const auto data = read_all(stdin);
    size_t at = 0;
    while (at < data.size()) {
      auto v = wire::parse_frame(data.data() + at, data.size() - at);
      if (!v) return fail(v.error());
      const size_t n = size_t(wire::frame_values(v->header));
      std::vector<float> values(n);
      auto ok = dequantize_frame(*v, values.data(), n, tables ? &*tables : nullptr);
      if (!ok) return fail(ok.error());
      std::fwrite(values.data(), 4, n, stdout);
      at += v->frame_size;
    }
    return 0;
  }
  std::fprintf(stderr, "usage: slimcodec-py-frame-tool encode IN.f32 C H W S B LO HI FRAME_ID [TABLES] | decode [TABLES]\n");
  return 2;
}
