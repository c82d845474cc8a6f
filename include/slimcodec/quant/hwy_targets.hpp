// Highway configuration that must precede the first #include <hwy/highway.h> of a translation unit.
// Highway 1.0.3 (Debian 12) decides whether AVX3_DL is attainable from `HWY_BASELINE & HWY_AVX3_DL`, a macro it
// never defines, so when -march enables AVX3_DL (Ice Lake, Sapphire Rapids, Zen 4/5: VNNI, VBMI2, BITALG,
// VPOPCNTDQ) the static target is missing from the attainable set and detect_targets.h stops with "best baseline
// should be included in dynamic targets". Opting in to AVX3_DL avoids that; later Highway releases accept it too.
// A program that includes <hwy/highway.h> itself before our headers should define HWY_WANT_AVX3_DL as well.
#pragma once

#ifndef HWY_WANT_AVX3_DL
#define HWY_WANT_AVX3_DL
#endif
