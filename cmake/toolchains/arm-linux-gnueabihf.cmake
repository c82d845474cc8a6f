# Cross toolchain for 32-bit ARMv7 boards with NEON (Cortex-A7: Pi 2 v1.1; also Pi 3 / Zero 2 W running a
# 32-bit OS) with Debian's g++-arm-linux-gnueabihf. neon-vfpv4 adds NEON and fused multiply-add; hard-float ABI;
# Highway 1.0.3 needs -mfp16-format=ieee on 32-bit ARM (its float16_t is __fp16).
#   cmake -S . -B build-armhf -G Ninja --toolchain cmake/toolchains/arm-linux-gnueabihf.cmake
set(SLIMCODEC_CROSS_TRIPLE arm-linux-gnueabihf)
set(SLIMCODEC_CROSS_PROCESSOR armv7l)
set(SLIMCODEC_CROSS_QEMU qemu-arm)
set(SLIMCODEC_CROSS_QEMU_CPU cortex-a7)
set(SLIMCODEC_CROSS_DEFAULT_FLAGS "-march=armv7-a -mfpu=neon-vfpv4 -mfloat-abi=hard -mfp16-format=ieee -mtune=cortex-a7")
include(${CMAKE_CURRENT_LIST_DIR}/linux-cross.cmake)
