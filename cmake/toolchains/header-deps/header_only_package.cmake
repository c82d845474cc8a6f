# Helper for the *Config.cmake files beside it: declares one dependency as a header-only INTERFACE IMPORTED
# target, found by a marker header in SLIMCODEC_HEADER_DEPS_INCLUDE_DIR. Used by the cross toolchains.
include_guard(GLOBAL)

set(SLIMCODEC_HEADER_DEPS_INCLUDE_DIR "/usr/include" CACHE PATH
    "Directory holding the xtl/, xsimd/, xtensor/ and hwy/ headers for cross builds")

function(slimcodec_header_only_package package target marker)
  set(_dir "${SLIMCODEC_HEADER_DEPS_INCLUDE_DIR}")
  if(NOT EXISTS "${_dir}/${marker}")
    set(${package}_FOUND FALSE PARENT_SCOPE)
    set(${package}_NOT_FOUND_MESSAGE "${_dir}/${marker} not found (scripts/deps installs the Debian packages)"
        PARENT_SCOPE)
    return()
  endif()
  if(NOT TARGET ${target})
    add_library(${target} INTERFACE IMPORTED)
    set_target_properties(${target} PROPERTIES INTERFACE_INCLUDE_DIRECTORIES "${_dir}")
    if(ARGN)
      set_target_properties(${target} PROPERTIES INTERFACE_LINK_LIBRARIES "${ARGN}")
    endif()
  endif()
  set(${package}_FOUND TRUE PARENT_SCOPE)
endfunction()
