# Highway for cross builds: hwy::hwy as headers only. Static dispatch (quant/quant.hpp) needs no libhwy; code that
# uses run-time dispatch (HWY_DYNAMIC_DISPATCH) needs the target's libhwy and cannot link against this target.
include(${CMAKE_CURRENT_LIST_DIR}/header_only_package.cmake)
slimcodec_header_only_package(hwy hwy::hwy hwy/highway.h)
set(SLIMCODEC_HWY_HEADERS_ONLY TRUE)
