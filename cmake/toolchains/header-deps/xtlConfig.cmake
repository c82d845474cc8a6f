# xtl for cross builds: headers only (see header_only_package.cmake).
include(${CMAKE_CURRENT_LIST_DIR}/header_only_package.cmake)
slimcodec_header_only_package(xtl xtl xtl/xtl_config.hpp)
