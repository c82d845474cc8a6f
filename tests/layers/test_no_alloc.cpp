// encode() and run() allocate nothing: this executable replaces the global operator new/delete with counting
// versions and asserts the count stays still across frames, active sizes and thread counts.
#include <catch2/catch.hpp>

#include <atomic>
#include <cstdlib>
#include <new>
#include <vector>

#include <slimcodec/layers/paper.hpp>
#include <slimcodec/model/encoder.hpp>

namespace {
std::atomic<long> g_allocations{0};

void* counted(std::size_t n, std::size_t align) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (n == 0) n = 1;
  void* p = align > alignof(std::max_align_t) ? std::aligned_alloc(align, (n + align - 1) / align * align) : std::malloc(n);
  return p;
}

// Out of line, so GCC does not pair the inlined free() with operator new (-Wmismatched-new-delete).
__attribute__((noinline)) void release(void* p) noexcept { std::free(p); }
}  // namespace

void* operator new(std::size_t n) {
  if (void* p = counted(n, 0)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) { return operator new(n); }
void* operator new(std::size_t n, std::align_val_t a) {
  if (void* p = counted(n, std::size_t(a))) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n, std::align_val_t a) { return operator new(n, a); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return counted(n, 0); }
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return counted(n, 0); }
void* operator new(std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept { return counted(n, std::size_t(a)); }
void* operator new[](std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return counted(n, std::size_t(a));
}
void operator delete(void* p) noexcept { release(p); }
void operator delete[](void* p) noexcept { release(p); }
void operator delete(void* p, std::size_t) noexcept { release(p); }
void operator delete[](void* p, std::size_t) noexcept { release(p); }
void operator delete(void* p, std::align_val_t) noexcept { release(p); }
void operator delete[](void* p, std::align_val_t) noexcept { release(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { release(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { release(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { release(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { release(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { release(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { release(p); }

using namespace slimcodec;

TEST_CASE("the counting operator new sees allocations", "[model][alloc]") {
  const long before = g_allocations.load();
  auto* v = new std::vector<int>(100);
  delete v;
  CHECK(g_allocations.load() >= before + 2);
}

TEST_CASE("Encoder::encode and Network::run do no heap allocation", "[model][alloc]") {
  auto enc = model::Encoder<layers::paper::Encoder>::create(64, 48);
  REQUIRE(enc);
  enc->init_random(1);
  auto rec = model::Reconstructor<layers::paper::Reconstructor>::create(6, 5);
  REQUIRE(rec);
  rec->init_random(2);
  std::vector<float> in(3 * 64 * 48, 0.5f), out(size_t(enc->out_shape().size()));
  std::vector<float> rin(6 * 6 * 5, 0.25f), rout(size_t(rec->out_shape().size()));
  for (int threads : {1, 2}) {
    REQUIRE(enc->set_threads(threads));  // allowed to allocate: set-up
    enc->encode(in.data(), out.data());  // warm-up
    const long before = g_allocations.load();
    for (int s = 4; s >= 1; --s) {
      REQUIRE(enc->set_active(s));
      enc->encode(in.data(), out.data());
    }
    rec->run(rin.data(), rout.data());
    CHECK(g_allocations.load() == before);
  }
}
