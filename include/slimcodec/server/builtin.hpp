// The backends every build has, registered explicitly: "identity" (callback.hpp) and "native" (native.hpp).
// The services call register_builtin_backends on the registry they use, so a backend name never depends on which
// headers a program happens to include; a program that creates backends itself calls it once first.
#pragma once

#include "slimcodec/server/callback.hpp"
#include "slimcodec/server/native.hpp"
#include "slimcodec/server/registry.hpp"

namespace slimcodec::server {

// Adds "identity" and "native" to `registry` (a name already taken keeps its factory). Idempotent.
inline void register_builtin_backends(BackendRegistry& registry) {
  registry.add("identity", make_identity_backend);
  registry.add("native", NativeBackend<>::create);
}

}  // namespace slimcodec::server
