// slimcodec-adaptive-demo's real-time runs: the emulated device's frames through the link (the in-process shaper or
// the kernel's traffic control) to the decode service, one run per deadline.
#pragma once

#include "common.hpp"
#include "emulated.hpp"
#include "options.hpp"

#include <array>
#include <vector>

namespace slimcodec::adaptive_demo {

constexpr int kLinkUnavailable = 77;  // --link tc on a machine without network namespaces or tc (ctest: skipped)

// The real-time runs: the decode service (here, or the one at --service), the link in front of it (the in-process
// shaper, or the kernel's tc in a network namespace), warm-up, then one run per deadline. Returns an exit status.
int run_real_time(const Options& o, const LinkTrace& segment, EmulatedDevice& device, const SharedTables& tables,
                  const std::vector<std::vector<float>>& inputs, const std::array<double, kMaxMembers>& calibrated,
                  OperatingPointTable& base, RealTimeResults& out);

}  // namespace slimcodec::adaptive_demo
