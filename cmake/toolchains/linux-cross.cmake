# Shared part of the Debian cross toolchains (aarch64-linux-gnu.cmake, arm-linux-gnueabihf.cmake): compilers,
# find rules that keep the host's x86 libraries out, header-only package configs for the dependencies, and
# qemu-user as CMAKE_CROSSCOMPILING_EMULATOR so that ctest runs the test programs unchanged.
# The including file sets SLIMCODEC_CROSS_TRIPLE, SLIMCODEC_CROSS_PROCESSOR, SLIMCODEC_CROSS_QEMU,
# SLIMCODEC_CROSS_QEMU_CPU and SLIMCODEC_CROSS_DEFAULT_FLAGS.

set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR ${SLIMCODEC_CROSS_PROCESSOR})
set(CMAKE_LIBRARY_ARCHITECTURE ${SLIMCODEC_CROSS_TRIPLE})

# Debian's g++-<triple> packages; SLIMCODEC_CROSS_PREFIX points elsewhere (e.g. a vendor toolchain's bin/<triple>-).
set(SLIMCODEC_CROSS_PREFIX "${SLIMCODEC_CROSS_TRIPLE}-" CACHE STRING "Cross compiler prefix (path and triple)")
set(CMAKE_C_COMPILER ${SLIMCODEC_CROSS_PREFIX}gcc)
set(CMAKE_CXX_COMPILER ${SLIMCODEC_CROSS_PREFIX}g++)

# Target CPU flags for every file the project compiles. Override per board, e.g. -mcpu=cortex-a72 (Pi 4).
set(SLIMCODEC_TARGET_FLAGS "${SLIMCODEC_CROSS_DEFAULT_FLAGS}" CACHE STRING "Target CPU and FPU flags")
set(CMAKE_C_FLAGS_INIT "${SLIMCODEC_TARGET_FLAGS}")
set(CMAKE_CXX_FLAGS_INIT "${SLIMCODEC_TARGET_FLAGS}")

# Libraries, headers and package configs come only from the target's directory, never from the host's /usr/lib.
# Programs (python3, qemu) are the host's. Debian's cross g++ itself searches /usr/include after the target's
# headers, which is how the architecture-independent xtensor, xtl, xsimd, Highway and Catch2 headers are found.
set(CMAKE_FIND_ROOT_PATH /usr/${SLIMCODEC_CROSS_TRIPLE})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
# pkg-config (MQTT transport) looks at the target's .pc files only, so a host libmosquitto is not picked up.
set(ENV{PKG_CONFIG_LIBDIR} "/usr/lib/${SLIMCODEC_CROSS_TRIPLE}/pkgconfig:/usr/${SLIMCODEC_CROSS_TRIPLE}/lib/pkgconfig")
set(ENV{PKG_CONFIG_PATH} "")

# xtl, xsimd, xtensor and Highway as header-only INTERFACE targets (header-deps/*Config.cmake). Debian's own
# configs live in /usr/lib/x86_64-linux-gnu/cmake, and Highway's imports the x86 libhwy.so, which static dispatch
# does not need.
foreach(_slimcodec_pkg xtl xsimd xtensor hwy)
  set(${_slimcodec_pkg}_DIR "${CMAKE_CURRENT_LIST_DIR}/header-deps" CACHE PATH "Header-only package config" FORCE)
endforeach()

# ctest (and add_custom_command with a target as COMMAND) runs target programs through qemu-user. -L makes the
# target's dynamic loader and libraries visible; -cpu pins the board's core so instructions it lacks trap.
find_program(SLIMCODEC_QEMU ${SLIMCODEC_CROSS_QEMU})
set(SLIMCODEC_QEMU_CPU "${SLIMCODEC_CROSS_QEMU_CPU}" CACHE STRING "qemu-user -cpu model for running tests")
if(SLIMCODEC_QEMU)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${SLIMCODEC_QEMU} -L /usr/${SLIMCODEC_CROSS_TRIPLE} -cpu ${SLIMCODEC_QEMU_CPU})
endif()
