// Must NOT compile: stage 1 takes 4 channels but stage 0 outputs 6. The test
// layers_bad_chain_fails_to_compile builds this and expects the static_assert naming the stage.
#include <slimcodec/layers/layers.hpp>

using Bad = slimcodec::layers::Sequential<slimcodec::layers::Conv2D<3, 6, 3, 2>,
                                          slimcodec::layers::FusedMBConv<4, 4, 3, 1, 1>>;

int main() { return int(Bad::params()); }
