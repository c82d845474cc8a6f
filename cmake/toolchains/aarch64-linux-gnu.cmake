# Cross toolchain for 64-bit Raspberry Pi class boards (Cortex-A53: Pi 3, Zero 2 W; Cortex-A72: Pi 4) with
# Debian's g++-aarch64-linux-gnu. NEON is part of ARMv8-A, so xsimd and Highway use it without extra flags.
#   cmake -S . -B build-arm64 -G Ninja --toolchain cmake/toolchains/aarch64-linux-gnu.cmake
set(SLIMCODEC_CROSS_TRIPLE aarch64-linux-gnu)
set(SLIMCODEC_CROSS_PROCESSOR aarch64)
set(SLIMCODEC_CROSS_QEMU qemu-aarch64)
# Tests run on the smaller core; code for -march=armv8-a runs on both boards (-mcpu=cortex-a72 tunes for a Pi 4).
set(SLIMCODEC_CROSS_QEMU_CPU cortex-a53)
set(SLIMCODEC_CROSS_DEFAULT_FLAGS "-march=armv8-a -mtune=cortex-a53")
include(${CMAKE_CURRENT_LIST_DIR}/linux-cross.cmake)
