// The bandwidth estimator's options for a fading link: following the recent samples, and caution in proportion
// to how much the link varies.
#include <slimcodec/device/bandwidth.hpp>

#include <catch2/catch.hpp>

#include <cmath>

using namespace slimcodec::device;

namespace {

// 16 samples at 200 kB/s, then `n` at 100 kB/s, 300 ms apart; returns the conservative estimate after them.
double after_fade(BandwidthOptions o, int n) {
  BandwidthEstimator est(o);
  double t = 0;
  for (int i = 0; i < 16; ++i) est.add_sample(200e3, t += 300);
  for (int i = 0; i < n; ++i) est.add_sample(100e3, t += 300);
  return est.conservative_bytes_per_s(t);
}

}  // namespace

TEST_CASE("bandwidth options: a fading link is followed within two samples, or one") {
  BandwidthOptions slow;
  slow.follow_recent = false;
  BandwidthOptions med3;  // the default
  BandwidthOptions latest;
  latest.follow_latest = true;
  // The quantile alone needs a fifth of the window to turn over, and the EWMA lags: still far above 100 kB/s.
  CHECK(after_fade(slow, 2) > 150e3);
  CHECK(after_fade(med3, 1) > 150e3);
  CHECK(after_fade(med3, 2) == Approx(100e3));
  CHECK(after_fade(latest, 1) == Approx(100e3));

  // One low outlier (a drop): the median of three ignores it, the latest sample does not (one cautious frame).
  BandwidthEstimator a(med3), b(latest);
  double t = 0;
  for (int i = 0; i < 16; ++i) a.add_sample(200e3, t += 300), b.add_sample(200e3, t);
  a.add_sample(20e3, t += 300), b.add_sample(20e3, t);
  CHECK(a.conservative_bytes_per_s(t) == Approx(200e3));
  CHECK(b.conservative_bytes_per_s(t) == Approx(20e3));
  a.add_sample(200e3, t += 300), b.add_sample(200e3, t);
  CHECK(b.conservative_bytes_per_s(t) == Approx(200e3));  // and back at once
}

TEST_CASE("bandwidth options: caution grows with the link's variability, none on a steady link") {
  BandwidthOptions o;
  o.deviation_weight = 1.0;
  BandwidthEstimator steady(o), jumpy(o);
  double t = 0;
  for (int i = 0; i < 30; ++i) {
    steady.add_sample(150e3, t += 300);
    jumpy.add_sample(i % 2 ? 180e3 : 120e3, t);
  }
  CHECK(steady.mean_log_deviation() == Approx(0).margin(1e-12));
  CHECK(steady.conservative_bytes_per_s(t) == Approx(150e3));
  // |ln(180/150)| and |ln(120/150)| average about 0.2: the estimate is lowered by about exp(-0.2).
  CHECK(jumpy.mean_log_deviation() == Approx(0.2).epsilon(0.25));
  BandwidthOptions plain = o;
  plain.deviation_weight = 0;
  BandwidthEstimator reference(plain);
  t = 0;
  for (int i = 0; i < 30; ++i) reference.add_sample(i % 2 ? 180e3 : 120e3, t += 300);
  const double ratio = jumpy.conservative_bytes_per_s(t) / reference.conservative_bytes_per_s(t);
  CHECK(ratio == Approx(std::exp(-jumpy.mean_log_deviation())));
  CHECK(ratio < 0.9);
}
