// slimcodec-fit-entropy-tables: fits the codec-1 frequency tables (one per (b, channel)) to the codes the
// encoder produces on a set of images, and writes them as safetensors (entropy.b{b} U16 [C, 2^b] and metadata
// entropy.table_id), alone or merged with the weights. Prints, per (s, b), the coded bytes against bit-packing
// on the fitting images and, with --eval, on held-out images.
//
//   slimcodec-fit-entropy-tables --weights W.safetensors --images DIR_OR_FILES... --out TABLES.safetensors
//       [--eval DIR_OR_FILES...] [--table-id N] [--bits 1-8] [--with-weights] [--codes-out FILE]
#include <slimcodec/codec.hpp>
#include <slimcodec/entropy/entropy.hpp>
#include <slimcodec/io/image.hpp>
#include <slimcodec/io/preprocess.hpp>
#include <slimcodec/layers/paper.hpp>
#include <slimcodec/model/encoder.hpp>
#include <slimcodec/quant/bound_rules.hpp>
#include <slimcodec/quant/ref.hpp>
#include <slimcodec/weights/entropy_tables.hpp>
#include <slimcodec/weights/safetensors.hpp>
#include <support/safetensors_writer.hpp>

#include "image_paths.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

using namespace slimcodec;
using PaperEncoder = model::Encoder<layers::paper::Encoder>;

namespace {

constexpr unsigned kMaxS = 4;

int usage(const char* why) {
  std::fprintf(stderr,
               "%s\nusage: slimcodec-fit-entropy-tables --weights W.safetensors --images PATH... --out T.safetensors\n"
               "         [--eval PATH...] [--table-id N] [--bits LO-HI] [--with-weights] [--codes-out FILE]\n"
               "  PATH: image files (.png/.jpg) or folders of them. Tables are fitted on the codes of every s = 1..4\n"
               "  at each b; --with-weights copies the weights' tensors and metadata into --out as well.\n"
               "  --codes-out writes the s = 4 codes of the fitting images (raw bytes, b = 1..8 in turn) for benches.\n",
               why);
  return 2;
}

float metadata_float(const weights::SafeTensorsFile& f, const char* key, float fallback) {
  auto v = f.metadata_value(key);
  return v ? std::strtof(std::string(*v).c_str(), nullptr) : fallback;
}

// Latents of every image at every s (s-major: latents[s - 1][image]).
struct Latents {
  std::vector<std::vector<std::vector<float>>> by_s;
  size_t channels = 0, plane = 0;
};

bool encode_images(PaperEncoder& enc, const std::vector<std::string>& paths, Latents& out) {
  const auto in = layers::paper::kInput;
  const auto shape = enc.out_shape();
  out.channels = size_t(shape.c);
  out.plane = size_t(shape.h) * size_t(shape.w);
  out.by_s.assign(kMaxS, {});
  std::vector<float> x(size_t(in.size()));
  for (const auto& p : paths) {
    auto img = io::load_image(p);
    if (!img || !io::preprocess_image(*img, x.data(), size_t(in.h), size_t(in.w))) {
      std::fprintf(stderr, "  skipping %s: %s\n", p.c_str(), img ? "cannot preprocess" : img.error().what());
      continue;
    }
    for (unsigned s = 1; s <= kMaxS; ++s) {
      if (!enc.set_active(int(s))) return false;
      std::vector<float> y(out.channels * out.plane);
      enc.encode(x.data(), y.data());
      out.by_s[s - 1].push_back(std::move(y));
    }
    std::printf("  %s\n", p.c_str());
  }
  return !out.by_s[0].empty();
}

void quantize_codes(const std::vector<float>& y, unsigned s, unsigned b, const quant::EnsembleBoundRule& rule,
                    std::vector<uint8_t>& codes) {
  const quant::QuantParams qp = quant::make_params(b, quant::bounds_from_ensemble(s, rule));
  codes.resize(y.size());
  for (size_t i = 0; i < y.size(); ++i) codes[i] = uint8_t(quant::ref::quantize_value(y[i], qp));
}

// Mean codec-1 payload over codec-0 payload for one (s, b); the frame writer's rule (codec 0 unless smaller)
// applies, so a ratio never exceeds 1.
double coded_ratio(const Latents& lat, unsigned s, unsigned b, const quant::EnsembleBoundRule& rule,
                   const entropy::TableSet& t, double* mean_bytes) {
  const size_t n = lat.channels * lat.plane;
  const size_t raw = size_t(wire::raw_bitpack_size(n, b));
  std::vector<uint8_t> codes, out(raw);
  double total = 0;
  for (const auto& y : lat.by_s[s - 1]) {
    quantize_codes(y, s, b, rule, codes);
    auto size = entropy::encode_payload(codes.data(), lat.channels, lat.plane, b, t, out.data(), raw - 1);
    total += size ? double(*size) : double(raw);
  }
  *mean_bytes = total / double(lat.by_s[s - 1].size());
  return *mean_bytes / double(raw);
}

}  // namespace

int main(int argc, char** argv) {
  std::string weights_path, out_path, codes_out;
  std::vector<std::string> images, eval;
  unsigned table_id = 1, bits_lo = 1, bits_hi = 8;
  bool with_weights = false;
  std::vector<std::string>* list = nullptr;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
    if (a == "--weights") {
      const char* v = value();
      if (!v) return usage("--weights needs a file");
      weights_path = v, list = nullptr;
    } else if (a == "--out") {
      const char* v = value();
      if (!v) return usage("--out needs a file");
      out_path = v, list = nullptr;
    } else if (a == "--codes-out") {
      const char* v = value();
      if (!v) return usage("--codes-out needs a file");
      codes_out = v, list = nullptr;
    } else if (a == "--table-id") {
      const char* v = value();
      if (!v || std::strtoul(v, nullptr, 10) > 65535) return usage("--table-id needs 0..65535");
      table_id = unsigned(std::strtoul(v, nullptr, 10)), list = nullptr;
    } else if (a == "--bits") {
      const char* v = value();
      if (!v || std::sscanf(v, "%u-%u", &bits_lo, &bits_hi) != 2 || bits_lo < 1 || bits_hi > 8 || bits_lo > bits_hi)
        return usage("--bits needs LO-HI within 1-8");
      list = nullptr;
    } else if (a == "--with-weights") {
      with_weights = true, list = nullptr;
    } else if (a == "--images") {
      list = &images;
    } else if (a == "--eval") {
      list = &eval;
    } else if (list != nullptr && a.rfind("--", 0) != 0) {
      list->push_back(a);
    } else {
      return usage(("unknown argument " + a).c_str());
    }
  }
  if (weights_path.empty() || out_path.empty() || images.empty()) return usage("--weights, --images and --out are required");

  std::string why;
  auto file = weights::SafeTensorsFile::open(weights_path, &why);
  if (!file) return std::fprintf(stderr, "%s\n", why.c_str()), 1;
  auto enc = PaperEncoder::create(layers::paper::kInput.h, layers::paper::kInput.w);
  if (!enc) return std::fprintf(stderr, "encoder: %s\n", enc.error().what()), 1;
  // A split-model export keeps the encoder under "encoder."; an encoder-only file has no prefix.
  if (auto ok = enc->load(*file, "encoder."); !ok) {
    if (auto plain = enc->load(*file, ""); !plain) return std::fprintf(stderr, "weights: %s\n", ok.error().what()), 1;
  }
  quant::EnsembleBoundRule rule;
  rule.k = metadata_float(*file, "bound_k", rule.k);
  rule.member_sigma = metadata_float(*file, "member_sigma", rule.member_sigma);
  std::printf("bound rule: k %g, member_sigma %g\nfitting images:\n", double(rule.k), double(rule.member_sigma));

  Latents fit_lat;
  if (!encode_images(*enc, tools::expand_image_paths(images), fit_lat)) return std::fprintf(stderr, "no usable image\n"), 1;
  Latents eval_lat;
  if (!eval.empty()) {
    std::printf("held-out images:\n");
    if (!encode_images(*enc, tools::expand_image_paths(eval), eval_lat)) return std::fprintf(stderr, "no usable --eval image\n"), 1;
  }
  const size_t C = fit_lat.channels;

  // Counts per (b, channel, code), over every s and fitting image; then the quantized tables.
  std::vector<std::vector<uint16_t>> freqs(entropy::kMaxBits + 1);
  const uint16_t* fr[entropy::kMaxBits + 1] = {};
  std::vector<uint8_t> codes;
  std::FILE* dump = codes_out.empty() ? nullptr : std::fopen(codes_out.c_str(), "wb");
  for (unsigned b = bits_lo; b <= bits_hi; ++b) {
    const size_t m = size_t{1} << b;
    std::vector<uint64_t> counts(C * m, 0);
    for (unsigned s = 1; s <= kMaxS; ++s) {
      for (const auto& y : fit_lat.by_s[s - 1]) {
        quantize_codes(y, s, b, rule, codes);
        for (size_t i = 0; i < codes.size(); ++i) ++counts[(i / fit_lat.plane) * m + codes[i]];
        if (dump && s == kMaxS) std::fwrite(codes.data(), 1, codes.size(), dump);
      }
    }
    freqs[b].resize(C * m);
    for (size_t c = 0; c < C; ++c) entropy::fit_frequencies(counts.data() + c * m, b, freqs[b].data() + c * m);
    fr[b] = freqs[b].data();
  }
  if (dump) std::fclose(dump);
  auto tables = entropy::TableSet::create(uint16_t(table_id), unsigned(C), fr, false);
  if (!tables) return std::fprintf(stderr, "tables: %s\n", tables.error().what()), 1;

  std::printf("\ncodec-1 payload / bit-packed payload (mean over images; codec 0 where not smaller)\n");
  std::printf("   s  b   raw B   fit: coded B  ratio%s\n", eval.empty() ? "" : "   held-out: coded B  ratio");
  for (unsigned s = 1; s <= kMaxS; ++s) {
    for (unsigned b = bits_lo; b <= bits_hi; ++b) {
      double mean = 0, mean_eval = 0;
      const double r = coded_ratio(fit_lat, s, b, rule, *tables, &mean);
      std::printf("  %2u %2u %7zu   %12.0f  %5.3f", s, b, size_t(wire::raw_bitpack_size(C * fit_lat.plane, b)), mean, r);
      if (!eval.empty()) {
        const double re = coded_ratio(eval_lat, s, b, rule, *tables, &mean_eval);
        std::printf("   %17.0f  %5.3f", mean_eval, re);
      }
      std::printf("\n");
    }
  }

  std::vector<weights::TensorToWrite> tensors;
  weights::Metadata meta;
  if (with_weights) {
    for (size_t i = 0; i < file->size(); ++i) {
      const auto t = file->tensor(i);
      if (std::string_view(t.name).rfind("entropy.", 0) == 0) continue;  // replaced below
      tensors.push_back({std::string(t.name), t.dtype, std::vector<int64_t>(t.shape, t.shape + t.rank), t.data});
    }
    for (const auto& kv : file->metadata())
      if (kv.first.rfind("entropy.", 0) != 0) meta.push_back(kv);
  }
  for (unsigned b = bits_lo; b <= bits_hi; ++b)
    tensors.push_back({weights::entropy_tensor_name(b), weights::DType::U16, {int64_t(C), int64_t(1) << b}, freqs[b].data()});
  meta.push_back({weights::kEntropyTableIdKey, std::to_string(table_id)});
  meta.push_back({"entropy.precision_bits", std::to_string(entropy::kPrecisionBits)});
  meta.push_back({"entropy.fitted_images", std::to_string(fit_lat.by_s[0].size())});
  if (auto ok = weights::write_safetensors(out_path, tensors, meta); !ok)
    return std::fprintf(stderr, "writing %s: %s\n", out_path.c_str(), ok.error().what()), 1;
  // Read back through the loader the decoder uses.
  auto back = weights::SafeTensorsFile::open(out_path);
  auto loaded = back ? weights::load_entropy_tables(*back) : Result<entropy::TableSet>(back.error());
  if (!loaded || loaded->hash() != tables->hash())
    return std::fprintf(stderr, "%s does not load back\n", out_path.c_str()), 1;
  std::printf("\nwrote %s: table_id %u, hash 0x%08X, C %zu, b %u..%u\n", out_path.c_str(), table_id, tables->hash(), C,
              bits_lo, bits_hi);
  return 0;
}
