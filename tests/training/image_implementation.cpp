// The one translation unit that compiles stb_image into test_trained_model when Debian's libstb is not linked.
#define SLIMCODEC_IMAGE_IMPLEMENTATION
#include <slimcodec/io/image.hpp>
