// JPEG/PNG loading through stb_image (optional part: needs Debian's libstb-dev), plus the encoder preprocessing.
// Link Debian's `-lstb` (pkg-config stb), or define SLIMCODEC_IMAGE_IMPLEMENTATION in exactly one .cpp before
// including this header to compile stb_image (JPEG and PNG only) into that translation unit instead.
#pragma once

#include "slimcodec/common/result.hpp"
#include "slimcodec/io/file.hpp"
#include "slimcodec/io/preprocess.hpp"

#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#if defined(SLIMCODEC_IMAGE_IMPLEMENTATION)
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_JPEG
#define STBI_ONLY_PNG
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wconversion"
#pragma GCC diagnostic ignored "-Wsign-compare"
#endif
#endif

#if __has_include(<stb/stb_image.h>)
#include <stb/stb_image.h>  // Debian's layout
#else
#include <stb_image.h>  // a vendored copy on the include path
#endif

#if defined(SLIMCODEC_IMAGE_IMPLEMENTATION) && defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

namespace slimcodec::io {

// Decoded pixels, row-major HWC, rows tightly packed (row stride = width * channels bytes).
struct ImageU8 {
  size_t width = 0, height = 0, channels = 0;
  std::vector<uint8_t> pixels;
  size_t row_stride() const { return width * channels; }
};

inline constexpr size_t kMaxImagePixels = size_t(1) << 26;       // 64 Mpx: refuse before allocating
inline constexpr size_t kMaxImageFileBytes = size_t(256) << 20;  // refuse larger files before reading them

namespace detail {

inline bool is_png(const uint8_t* d, size_t n) {
  static constexpr uint8_t kSig[8] = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
  return n >= 8 && std::memcmp(d, kSig, 8) == 0;
}
inline bool is_jpeg(const uint8_t* d, size_t n) { return n >= 3 && d[0] == 0xFF && d[1] == 0xD8 && d[2] == 0xFF; }

}  // namespace detail

// Decodes a JPEG or PNG held in memory. channels: 0 keeps the file's own, 1..4 converts (3 = RGB, the default).
inline Result<ImageU8> decode_image(const uint8_t* data, size_t size, int channels = 3,
                                    size_t max_pixels = kMaxImagePixels) {
  if (channels < 0 || channels > 4) return Error{Errc::invalid_argument, "channels must be 0..4"};
  if (data == nullptr || size == 0) return Error{Errc::image_invalid, "empty image data"};
  // Only the two formats this library documents, whichever stb build is linked.
  if (!detail::is_png(data, size) && !detail::is_jpeg(data, size))
    return Error{Errc::image_invalid, "not a JPEG or PNG"};
  if (size > size_t(INT_MAX)) return Error{Errc::image_invalid, "image data too large"};
  int w = 0, h = 0, comp = 0;
  if (!stbi_info_from_memory(data, static_cast<int>(size), &w, &h, &comp) || w <= 0 || h <= 0)
    return Error{Errc::image_invalid, "cannot read the image header"};
  if (size_t(w) > max_pixels / size_t(h)) return Error{Errc::image_invalid, "image larger than the pixel limit"};
  unsigned char* px = stbi_load_from_memory(data, static_cast<int>(size), &w, &h, &comp, channels);
  if (px == nullptr) return Error{Errc::image_invalid, "cannot decode the image"};
  ImageU8 img;
  img.width = size_t(w);
  img.height = size_t(h);
  img.channels = size_t(channels ? channels : comp);
  img.pixels.assign(px, px + img.width * img.height * img.channels);
  stbi_image_free(px);
  return img;
}

// Loads a JPEG or PNG file: io_error when it cannot be read, image_invalid when it cannot be decoded.
inline Result<ImageU8> load_image(const std::string& path, int channels = 3, size_t max_pixels = kMaxImagePixels) {
  auto bytes = read_file(path, kMaxImageFileBytes);
  if (!bytes) return bytes.error();
  return decode_image(bytes->data(), bytes->size(), channels, max_pixels);
}

// The encoder input from a decoded RGB image (see preprocess_rgb_u8).
inline Result<void> preprocess_image(const ImageU8& img, float* out_chw, size_t out_h, size_t out_w) {
  if (img.channels != 3) return Error{Errc::invalid_argument, "preprocess needs a 3-channel RGB image"};
  if (img.pixels.size() < img.row_stride() * img.height) return Error{Errc::invalid_argument, "image pixels missing"};
  return preprocess_rgb_u8(img.pixels.data(), img.width, img.height, img.row_stride(), out_chw, out_h, out_w);
}

}  // namespace slimcodec::io
