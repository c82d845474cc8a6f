// The one translation unit that compiles stb_image into test_io_image_embedded.
#define SLIMCODEC_IMAGE_IMPLEMENTATION
#include <slimcodec/io/image.hpp>
