# xsimd for cross builds: headers only; the NEON code paths are chosen by the compiler flags.
include(${CMAKE_CURRENT_LIST_DIR}/header_only_package.cmake)
slimcodec_header_only_package(xsimd xsimd xsimd/xsimd.hpp xtl)
