// The Python module `slimcodec._slimcodec` (re-exported by python/slimcodec/__init__.py): a thin pybind11 skin over
// the headers in include/ (STYLE.md rule 14). Frames, the stream parser, replies, codec-1 tables and the encoder.
// The library returns Result<T>; this file alone turns an Error into a Python exception (one class per Errc, named
// after it, with the library's message). The GIL is released around every whole-frame operation.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <slimcodec/codec.hpp>
#include <slimcodec/entropy/entropy.hpp>
#include <slimcodec/io/preprocess.hpp>
#include <slimcodec/layers/paper.hpp>
#include <slimcodec/model/encoder.hpp>
#include <slimcodec/quant/bound_rules.hpp>
#include <slimcodec/weights/entropy_tables.hpp>
#include <slimcodec/weights/safetensors.hpp>
#include <support/safetensors_writer.hpp>
#include <slimcodec/wire/reply.hpp>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace py = pybind11;
using namespace slimcodec;

namespace {

// ---------------------------------------------------------------- errors
// Python names of the library's error codes: the snake_case names of docs/wire-format.md and the CamelCase class.
struct ErrcName {
  Errc code;
  const char* snake;
  const char* camel;
};
constexpr ErrcName kErrcNames[] = {
    {Errc::truncated, "truncated", "Truncated"},
    {Errc::bad_magic, "bad_magic", "BadMagic"},
    {Errc::version_unsupported, "version_unsupported", "VersionUnsupported"},
    {Errc::reserved_nonzero, "reserved_nonzero", "ReservedNonzero"},
    {Errc::header_size_invalid, "header_size_invalid", "HeaderSizeInvalid"},
    {Errc::header_crc_mismatch, "header_crc_mismatch", "HeaderCrcMismatch"},
    {Errc::bits_out_of_range, "bits_out_of_range", "BitsOutOfRange"},
    {Errc::ensemble_out_of_range, "ensemble_out_of_range", "EnsembleOutOfRange"},
    {Errc::shape_out_of_range, "shape_out_of_range", "ShapeOutOfRange"},
    {Errc::bounds_invalid, "bounds_invalid", "BoundsInvalid"},
    {Errc::codec_unsupported, "codec_unsupported", "CodecUnsupported"},
    {Errc::length_mismatch, "length_mismatch", "LengthMismatch"},
    {Errc::length_too_large, "length_too_large", "LengthTooLarge"},
    {Errc::crc_mismatch, "crc_mismatch", "CrcMismatch"},
    {Errc::entropy_table_mismatch, "entropy_table_mismatch", "EntropyTableMismatch"},
    {Errc::entropy_stream_invalid, "entropy_stream_invalid", "EntropyStreamInvalid"},
    {Errc::buffer_too_small, "buffer_too_small", "BufferTooSmall"},
    {Errc::invalid_argument, "invalid_argument", "InvalidArgument"},
    {Errc::io_error, "io_error", "IoError"},
    {Errc::format_invalid, "format_invalid", "FormatInvalid"},
    {Errc::tensor_missing, "tensor_missing", "TensorMissing"},
    {Errc::tensor_unexpected, "tensor_unexpected", "TensorUnexpected"},
    {Errc::tensor_shape_mismatch, "tensor_shape_mismatch", "TensorShapeMismatch"},
    {Errc::tensor_dtype_mismatch, "tensor_dtype_mismatch", "TensorDtypeMismatch"},
    {Errc::image_invalid, "image_invalid", "ImageInvalid"},
    {Errc::entropy_table_invalid, "entropy_table_invalid", "EntropyTableInvalid"},
    {Errc::backend_unknown, "backend_unknown", "BackendUnknown"},
    {Errc::backend_failed, "backend_failed", "BackendFailed"},
    {Errc::timed_out, "timed_out", "TimedOut"},
    {Errc::out_of_memory, "out_of_memory", "OutOfMemory"},
    {Errc::overloaded, "overloaded", "Overloaded"},
    {Errc::output_not_finite, "output_not_finite", "OutputNotFinite"},
};

// The binding's own C++ exception: carries a library Error up to pybind11's translator (include/ never throws).
struct LibraryError : std::exception {
  explicit LibraryError(Error e) : error(e) {}
  const char* what() const noexcept override { return error.what(); }
  Error error;
};

// Exception classes by error number; slot 0 is the base class slimcodec.Error. Owned by the module (leaked on
// purpose: they live as long as the interpreter).
PyObject* g_exceptions[256] = {};

[[noreturn]] void raise(Error e) { throw LibraryError(e); }
[[noreturn]] void raise(Errc c, const char* detail) { throw LibraryError(Error{c, detail}); }

void check(const Result<void>& r) {
  if (!r) raise(r.error());
}
template <class T>
T take(Result<T>&& r) {
  if (!r) raise(r.error());
  return std::move(*r);
}

void set_python_error(const Error& e) {
  PyObject* cls = g_exceptions[uint8_t(e.code)] ? g_exceptions[uint8_t(e.code)] : g_exceptions[0];
  py::object exc = py::reinterpret_borrow<py::object>(cls)(py::str(e.what()));
  exc.attr("errc") = int(e.code);
  exc.attr("message") = py::str(e.what());
  PyErr_SetObject(cls, exc.ptr());
}

// ---------------------------------------------------------------- buffers and arrays
// A read-only view of any bytes-like object, held (and its export locked) for as long as this lives.
// A bytes object is read directly (the common case, and the cheapest per frame); other objects through the buffer
// protocol.
struct Bytes {
  explicit Bytes(const py::buffer& b) {
    if (PyBytes_Check(b.ptr())) {
      data = reinterpret_cast<const uint8_t*>(PyBytes_AS_STRING(b.ptr()));
      size = size_t(PyBytes_GET_SIZE(b.ptr()));
      return;
    }
    info = b.request();
    if (info.ndim > 1 && !PyBuffer_IsContiguous(info.view(), 'C'))
      raise(Errc::invalid_argument, "bytes-like input must be contiguous");
    data = static_cast<const uint8_t*>(info.ptr);
    size = size_t(info.size) * size_t(info.itemsize);
  }
  py::buffer_info info;
  const uint8_t* data = nullptr;
  size_t size = 0;
};

// Marks a numpy array read-only (views of immutable bytes).
void set_read_only(py::array& a) {
  py::detail::array_proxy(a.ptr())->flags &= ~py::detail::npy_api::NPY_ARRAY_WRITEABLE_;
}

using FloatArray = py::array_t<float, py::array::c_style | py::array::forcecast>;
using U8Array = py::array_t<uint8_t, py::array::c_style | py::array::forcecast>;

// A float32 C-contiguous output array of `n` elements, shaped `shape`: the caller's `out`, or a new one.
py::array_t<float> float_output(const py::object& out, std::vector<py::ssize_t> shape) {
  size_t n = 1;
  for (auto d : shape) n *= size_t(d);
  if (out.is_none()) return py::array_t<float>(shape);
  if (!py::isinstance<py::array_t<float>>(out)) raise(Errc::invalid_argument, "out must be a float32 numpy array");
  auto a = py::reinterpret_borrow<py::array_t<float>>(out);
  if (!(a.flags() & py::array::c_style) || !a.writeable())
    raise(Errc::invalid_argument, "out must be C-contiguous and writeable");
  if (size_t(a.size()) != n) raise(Errc::buffer_too_small, "out must hold exactly C*H*W float32 values");
  return a;
}

// ---------------------------------------------------------------- entropy tables
struct Tables {
  std::shared_ptr<const entropy::TableSet> set;
};

Tables tables_from_file(const weights::SafeTensorsFile& f) {
  auto t = weights::load_entropy_tables(f);
  if (!t) raise(t.error());
  return Tables{std::make_shared<entropy::TableSet>(std::move(*t))};
}

const entropy::TableSet* table_ptr(const py::object& tables) {
  if (tables.is_none()) return nullptr;
  if (!py::isinstance<Tables>(tables)) raise(Errc::invalid_argument, "tables must be EntropyTables or None");
  return tables.cast<const Tables&>().set.get();
}

// ---------------------------------------------------------------- frames
// A checked frame. It owns (or holds) the bytes its payload points into: the parsed bytes object (no copy), a
// copy of a mutable buffer, or the buffer a FrameParser handed over (no copy).
struct Frame {
  wire::FrameHeader header;
  size_t frame_size = 0;
  const uint8_t* payload = nullptr;  // payload_size bytes, then the 4-byte trailer
  py::object bytes_owner;
  std::vector<uint8_t> copy;
  wire::FrameBuffer buffer;
  std::shared_ptr<const entropy::TableSet> tables;  // for codec 1, from the parse call (may be null)

  size_t values() const { return size_t(wire::frame_values(header)); }
  wire::FrameView view() const { return wire::FrameView{header, payload, header.payload_size, frame_size}; }
  std::vector<py::ssize_t> shape() const { return {header.channels, header.height, header.width}; }
};

std::shared_ptr<const entropy::TableSet> shared_tables(const py::object& tables) {
  if (tables.is_none()) return nullptr;
  if (!py::isinstance<Tables>(tables)) raise(Errc::invalid_argument, "tables must be EntropyTables or None");
  return tables.cast<const Tables&>().set;
}

// Parses the frame at the start of `data`. A bytes object is kept and pointed into; other buffers are copied
// (they could change under the frame).
std::shared_ptr<Frame> parse_frame_object(const py::buffer& data, const py::object& tables, size_t max_payload) {
  Bytes in(data);
  wire::ParserLimits limits;
  limits.max_payload_size = max_payload;
  Result<wire::FrameView> v = Errc::truncated;
  {
    py::gil_scoped_release nogil;
    v = wire::parse_frame(in.data, in.size, limits);
  }
  if (!v) raise(v.error());
  auto f = std::make_shared<Frame>();
  f->header = v->header;
  f->frame_size = v->frame_size;
  f->tables = shared_tables(tables);
  if (PyBytes_Check(data.ptr())) {
    f->bytes_owner = data;
    f->payload = v->payload;
  } else {
    f->copy.assign(v->payload, v->payload + v->payload_size + wire::kTrailerSize);
    f->payload = f->copy.data();
  }
  return f;
}

// Dequantizes `f` into `out` (codec 1 with the given tables, else the frame's own).
void dequantize_into(const Frame& f, float* out, size_t n, const entropy::TableSet* tables) {
  Result<size_t> r = size_t{0};
  {
    py::gil_scoped_release nogil;
    r = dequantize_frame(f.view(), out, n, tables);
  }
  if (!r) raise(r.error());
}

py::array_t<float> frame_values(const Frame& f, const py::object& tables, const py::object& out) {
  auto a = float_output(out, f.shape());
  const entropy::TableSet* t = tables.is_none() ? f.tables.get() : table_ptr(tables);
  dequantize_into(f, a.mutable_data(), f.values(), t);
  return a;
}

// The C*H*W codes: codec 0 through the library's unpack with bounds [0, 2^b - 1] (step 1: value = code exactly),
// codec 1 through the rANS decoder.
py::array_t<uint8_t> frame_codes(const Frame& f, const py::object& tables) {
  const size_t n = f.values();
  py::array_t<uint8_t> codes(f.shape());
  uint8_t* dst = codes.mutable_data();
  const wire::FrameHeader& h = f.header;
  Result<void> r;
  if (h.codec == wire::Codec::rans) {
    const entropy::TableSet* t = tables.is_none() ? f.tables.get() : table_ptr(tables);
    if (t == nullptr) raise(Errc::entropy_table_mismatch, "codec-1 frame and no entropy tables");
    py::gil_scoped_release nogil;
    r = entropy::decode_payload(f.payload, h.payload_size, h.bits, h.channels, size_t(h.height) * h.width, *t, dst, n);
  } else {
    std::vector<float> q(n);
    py::gil_scoped_release nogil;
    auto k = quant::unpack_dequantize(f.payload, h.payload_size, n, h.bits,
                                      quant::Bounds{0.f, float((1u << h.bits) - 1)}, q.data(), n);
    if (!k) {
      r = k.error();
    } else {
      for (size_t i = 0; i < n; ++i) dst[i] = uint8_t(q[i]);
    }
  }
  check(r);
  return codes;
}

// The frame's bytes: its header (re-encoded: the same 48 bytes for a valid frame), payload and trailer.
py::bytes frame_bytes(const Frame& f) {
  std::string s(f.frame_size, '\0');
  wire::encode_header(f.header, reinterpret_cast<uint8_t*>(&s[0]));
  std::memcpy(&s[wire::kHeaderSize], f.payload, f.header.payload_size + wire::kTrailerSize);
  return py::bytes(s);
}

// Quantizes a C x H x W float32 tensor into a new bytes object holding the frame (written in place, no copy).
py::bytes encode_frame_bytes(const FloatArray& latent, int s, int bits, const py::object& bounds, uint32_t frame_id,
                       uint64_t timestamp_us, const py::object& bound_mode, const py::object& tables) {
  if (latent.ndim() != 3) raise(Errc::invalid_argument, "latent must be a C x H x W array");
  if (s < 1 || s > 255) raise(Errc::ensemble_out_of_range, nullptr);
  if (bits < 1 || bits > 255) raise(Errc::bits_out_of_range, nullptr);
  EncodeParams p;
  p.ensemble_size = uint8_t(s);
  p.bits = uint8_t(bits);
  p.shape = Shape{int64_t(latent.shape(0)), int64_t(latent.shape(1)), int64_t(latent.shape(2))};
  if (bounds.is_none()) {
    p.bounds = quant::bounds_from_ensemble(unsigned(s));
    p.bound_mode = wire::BoundMode::from_ensemble_size;
  } else {
    auto lh = bounds.cast<std::pair<float, float>>();
    p.bounds = quant::Bounds{lh.first, lh.second};
  }
  if (!bound_mode.is_none()) p.bound_mode = bound_mode.cast<wire::BoundMode>();
  p.frame_id = frame_id;
  p.timestamp_us = timestamp_us;
  const size_t n = size_t(latent.size());
  if (n == 0) raise(Errc::shape_out_of_range, "empty tensor");
  const size_t cap = max_frame_size(n, p.bits <= 8 ? p.bits : 8);
  py::object out = py::reinterpret_steal<py::object>(PyBytes_FromStringAndSize(nullptr, py::ssize_t(cap)));
  if (!out) throw py::error_already_set();
  auto* dst = reinterpret_cast<uint8_t*>(PyBytes_AS_STRING(out.ptr()));
  const entropy::TableSet* t = table_ptr(tables);
  Result<size_t> size = size_t{0};
  {
    py::gil_scoped_release nogil;
    if (t == nullptr) {
      size = slimcodec::encode_frame(latent.data(), p, dst, cap);
    } else {
      std::unique_ptr<uint8_t[]> scratch(new (std::nothrow) uint8_t[n]);
      size = scratch ? slimcodec::encode_frame(latent.data(), p, dst, cap, EntropyCoding{t, scratch.get(), n})
                     : Result<size_t>(Error{Errc::out_of_memory, "entropy scratch"});
    }
  }
  if (!size) raise(size.error());
  if (*size != cap) {
    PyObject* o = out.release().ptr();
    if (_PyBytes_Resize(&o, py::ssize_t(*size)) != 0) throw py::error_already_set();
    out = py::reinterpret_steal<py::object>(o);
  }
  return py::reinterpret_steal<py::bytes>(out.release());
}

// ---------------------------------------------------------------- stream parser
class StreamParser {
 public:
  StreamParser(size_t max_payload, py::object tables) : parser_(limits(max_payload)), tables_(shared_tables(tables)) {}

  // Takes every byte of `data`; returns the frames completed. An error after some frames of this call were completed
  // is raised by the next feed() or finish() (the parser stays failed until reset()).
  py::list feed(const py::buffer& data) {
    Bytes in(data);
    std::vector<std::shared_ptr<Frame>> done;
    Error err{};
    {
      py::gil_scoped_release nogil;
      std::lock_guard<std::mutex> lock(mutex_);
      const uint8_t* p = in.data;
      size_t left = in.size;
      do {
        auto used = parser_.feed(p, left);
        if (!used) {
          err = used.error();
          break;
        }
        p += *used;
        left -= *used;
        if (parser_.has_frame()) {
          auto f = std::make_shared<Frame>();
          const wire::FrameView& v = parser_.frame();
          f->header = v.header;
          f->frame_size = v.frame_size;
          f->tables = tables_;
          f->buffer = parser_.take_frame_buffer();
          f->payload = f->buffer.data.get();
          done.push_back(std::move(f));
        }
      } while (left > 0);
    }
    if (err.code != Errc::ok && done.empty()) raise(err);
    py::list out;
    for (auto& f : done) out.append(py::cast(std::move(f)));
    return out;
  }

  void finish() const {
    Result<void> r;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      r = parser_.finish();
    }
    check(r);
  }
  void reset() {
    std::lock_guard<std::mutex> lock(mutex_);
    parser_.reset();
  }
  size_t need() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return parser_.need();
  }
  bool failed() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return parser_.failed();
  }

 private:
  static wire::ParserLimits limits(size_t max_payload) {
    wire::ParserLimits l;
    l.max_payload_size = max_payload;
    return l;
  }
  wire::FrameParser parser_;
  std::shared_ptr<const entropy::TableSet> tables_;
  mutable std::mutex mutex_;  // feed() runs without the GIL: calls from several threads take turns here
};

// ---------------------------------------------------------------- replies
struct Reply {
  wire::Reply r;
  size_t size() const { return wire::reply_size(r.detection_count); }
};

wire::Detection detection_from(const py::handle& h) {
  if (py::isinstance<wire::Detection>(h)) return h.cast<wire::Detection>();
  auto t = h.cast<py::sequence>();
  if (t.size() != 6) raise(Errc::invalid_argument, "a detection is (class_id, score, x1, y1, x2, y2)");
  wire::Detection d;
  d.class_id = t[0].cast<uint16_t>();
  d.score = t[1].cast<float>();
  d.x1 = t[2].cast<float>();
  d.y1 = t[3].cast<float>();
  d.x2 = t[4].cast<float>();
  d.y2 = t[5].cast<float>();
  return d;
}

Reply make_reply(uint32_t frame_id, const py::object& status_obj, uint32_t decode_us, uint64_t timestamp_us, uint64_t digest,
                 std::tuple<uint16_t, uint16_t, uint16_t> out_shape, const py::object& detections,
                 const py::object& class_ids, const py::object& scores, const py::object& boxes) {
  // An Errc member or its number (0..255: the status byte).
  const int code = py::int_(status_obj).cast<int>();
  if (code < 0 || code > 255) raise(Errc::invalid_argument, "status outside 0..255");
  const Errc status = Errc(uint8_t(code));
  Reply rep;
  wire::Reply& r = rep.r;
  r.frame_id = frame_id;
  r.status = status;
  r.decode_us = decode_us;
  r.timestamp_us = timestamp_us;
  r.digest = digest;
  r.out_channels = std::get<0>(out_shape);
  r.out_height = std::get<1>(out_shape);
  r.out_width = std::get<2>(out_shape);
  size_t n = 0;
  if (!detections.is_none()) {
    for (auto h : detections) {
      if (n == wire::kMaxDetections) raise(Errc::length_too_large, "a reply carries at most 100 detections");
      r.detections[n++] = detection_from(h);
    }
  } else if (!class_ids.is_none() || !scores.is_none() || !boxes.is_none()) {
    if (class_ids.is_none() || scores.is_none() || boxes.is_none())
      raise(Errc::invalid_argument, "class_ids, scores and boxes go together");
    auto c = py::array_t<uint16_t, py::array::c_style | py::array::forcecast>::ensure(class_ids);
    auto s = FloatArray::ensure(scores);
    auto b = FloatArray::ensure(boxes);
    if (!c || !s || !b) throw py::error_already_set();
    if (c.ndim() != 1 || s.ndim() != 1 || b.ndim() != 2 || b.shape(1) != 4 || s.shape(0) != c.shape(0) ||
        b.shape(0) != c.shape(0))
      raise(Errc::invalid_argument, "class_ids [n], scores [n] and boxes [n, 4]");
    n = size_t(c.shape(0));
    if (n > wire::kMaxDetections) raise(Errc::length_too_large, "a reply carries at most 100 detections");
    for (size_t i = 0; i < n; ++i) {
      const float* q = b.data() + 4 * i;
      r.detections[i] = wire::Detection{c.data()[i], s.data()[i], q[0], q[1], q[2], q[3]};
    }
  }
  if (n > 0 && status != Errc::ok) raise(Errc::length_mismatch, "an error reply carries no detections");
  r.detection_count = uint16_t(n);
  return rep;
}

// ---------------------------------------------------------------- encoder
using PaperEncoder = model::Encoder<layers::paper::Encoder>;

class Encoder {
 public:
  Encoder(int height, int width) : enc_(take(PaperEncoder::create(height, width))) {}

  // Loads the members from a safetensors file: under `prefix`, or (None) under "encoder." and else at the top.
  // The bound rule (bound_k, member_sigma) comes from the file's metadata where present.
  void load(const std::string& path, const py::object& prefix) {
    std::string why;
    auto file = weights::SafeTensorsFile::open(path, &why);
    if (!file) raise(file.error());
    std::lock_guard<std::mutex> lock(mutex_);
    if (!prefix.is_none()) {
      check(enc_.load(*file, prefix.cast<std::string>()));
    } else if (auto ok = enc_.load(*file, "encoder."); !ok) {
      if (auto plain = enc_.load(*file, ""); !plain) raise(ok.error());
    }
    rule_ = quant::EnsembleBoundRule{};
    if (auto k = file->metadata_value("bound_k")) rule_.k = std::strtof(std::string(*k).c_str(), nullptr);
    if (auto m = file->metadata_value("member_sigma"))
      rule_.member_sigma = std::strtof(std::string(*m).c_str(), nullptr);
  }

  void init_random(uint64_t seed) {
    std::lock_guard<std::mutex> lock(mutex_);
    enc_.init_random(seed);
  }

  int active() const { return enc_.active(); }
  void set_active(int s) {
    std::lock_guard<std::mutex> lock(mutex_);
    check(enc_.set_active(s));
  }
  int threads() const { return enc_.threads(); }
  void set_threads(int t) {
    std::lock_guard<std::mutex> lock(mutex_);
    check(enc_.set_threads(t));
  }
  Shape in_shape() const { return enc_.in_shape(); }
  Shape out_shape() const { return enc_.out_shape(); }
  const quant::EnsembleBoundRule& rule() const { return rule_; }

  py::array_t<float> encode(const FloatArray& x, const py::object& s, const py::object& out) {
    const Shape in = enc_.in_shape();
    if (x.ndim() != 3 || x.shape(0) != in.c || x.shape(1) != in.h || x.shape(2) != in.w)
      raise(Errc::tensor_shape_mismatch, "input must be 3 x H x W at the encoder's size");
    const Shape o = enc_.out_shape();
    auto y = float_output(out, {o.c, o.h, o.w});
    float* dst = y.mutable_data();
    const float* src = x.data();
    const bool pick = !s.is_none();
    const int want = pick ? s.cast<int>() : 0;
    Result<void> r;
    {
      py::gil_scoped_release nogil;
      std::lock_guard<std::mutex> lock(mutex_);
      const int before = enc_.active();
      if (pick) r = enc_.set_active(want);
      if (r) enc_.encode(src, dst);
      if (pick) (void)enc_.set_active(before);
    }
    check(r);
    return y;
  }

 private:
  PaperEncoder enc_;
  quant::EnsembleBoundRule rule_;
  std::mutex mutex_;
};

// RGB uint8 H x W x 3 -> normalized 3 x height x width float32 (docs/model.md, "Image input").
py::array_t<float> preprocess(const U8Array& rgb, int height, int width) {
  if (rgb.ndim() != 3 || rgb.shape(2) != 3) raise(Errc::invalid_argument, "image must be an H x W x 3 uint8 array");
  if (height < 1 || width < 1) raise(Errc::invalid_argument, "empty output size");
  py::array_t<float> out({py::ssize_t(3), py::ssize_t(height), py::ssize_t(width)});
  float* dst = out.mutable_data();
  Result<void> r;
  {
    py::gil_scoped_release nogil;
    r = io::preprocess_rgb_u8(rgb.data(), size_t(rgb.shape(1)), size_t(rgb.shape(0)), size_t(rgb.shape(1)) * 3, dst,
                              size_t(height), size_t(width));
  }
  check(r);
  return out;
}

py::tuple bounds_tuple(quant::Bounds b) { return py::make_tuple(b.lo, b.hi); }

// ---------------------------------------------------------------- benchmark support
// Seconds per call of the C++ decode_frame on `frame` into `out`, over `iterations` calls (bench/bench_python.py
// compares the binding against it, same build, same run).
double cpp_decode_seconds(const py::buffer& frame, py::array_t<float>& out, size_t iterations, const py::object& tables) {
  Bytes in(frame);
  float* dst = out.mutable_data();
  const size_t n = size_t(out.size());
  const entropy::TableSet* t = table_ptr(tables);
  bool ok = true;
  std::chrono::steady_clock::time_point start, stop;
  {
    py::gil_scoped_release nogil;
    start = std::chrono::steady_clock::now();
    for (size_t i = 0; i < iterations; ++i) ok &= bool(decode_frame(in.data, in.size, dst, n, t));
    stop = std::chrono::steady_clock::now();
  }
  if (!ok) raise(Errc::invalid_argument, "the benchmark frame does not decode");
  return std::chrono::duration<double>(stop - start).count() / double(iterations ? iterations : 1);
}

// ---------------------------------------------------------------- decode_frame, the per-frame hot path
// decode_frame(data, tables=None, out=None, max_payload_size=16 MiB) through the vectorcall protocol: for a bytes
// object, tables None or EntropyTables, out None or a C-contiguous writeable float32 array, it parses and
// dequantizes with no more than the CPython calls those checks need (pybind11's keyword handling alone cost more
// than the C++ decode of a small frame). Anything else goes to _decode_frame_general, which converts or raises.
PyObject* g_general_decode = nullptr;

PyObject* fast_decode_frame(PyObject*, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) noexcept {
  const auto general = [&] { return PyObject_Vectorcall(g_general_decode, args, size_t(nargs), kwnames); };
  PyObject* slot[4] = {nullptr, Py_None, Py_None, nullptr};  // data, tables, out, max_payload_size
  static const char* const kNames[4] = {"data", "tables", "out", "max_payload_size"};
  if (nargs > 4) return general();
  for (Py_ssize_t i = 0; i < nargs; ++i) slot[i] = args[i];
  const Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
  for (Py_ssize_t k = 0; k < nkw; ++k) {
    PyObject* name = PyTuple_GET_ITEM(kwnames, k);
    int j = 0;
    while (j < 4 && PyUnicode_CompareWithASCIIString(name, kNames[j]) != 0) ++j;
    if (j == 4 || j < nargs) return general();  // unknown or repeated: the general path raises TypeError
    slot[j] = args[nargs + k];
  }
  PyObject *data = slot[0], *tables = slot[1], *out = slot[2];
  if (data == nullptr || !PyBytes_Check(data)) return general();
  wire::ParserLimits limits;
  if (slot[3] != nullptr) {
    if (!PyLong_Check(slot[3])) return general();
    limits.max_payload_size = PyLong_AsSize_t(slot[3]);
    if (PyErr_Occurred()) {
      PyErr_Clear();
      return general();
    }
  }
  try {
    const entropy::TableSet* t = nullptr;
    if (tables != Py_None) {
      if (!py::isinstance<Tables>(tables)) return general();
      t = py::handle(tables).cast<const Tables&>().set.get();
    }
    const auto* in = reinterpret_cast<const uint8_t*>(PyBytes_AS_STRING(data));
    const size_t size = size_t(PyBytes_GET_SIZE(data));
    Result<wire::FrameView> v = Errc::truncated;
    Result<size_t> r = size_t{0};
    if (out != Py_None) {
      auto& api = py::detail::npy_api::get();
      if (!api.PyArray_Check_(out)) return general();
      auto* a = py::detail::array_proxy(out);
      constexpr int kNeed = py::detail::npy_api::NPY_ARRAY_C_CONTIGUOUS_ | py::detail::npy_api::NPY_ARRAY_WRITEABLE_ |
                            py::detail::npy_api::NPY_ARRAY_ALIGNED_;
      if (py::detail::array_descriptor_proxy(a->descr)->type_num != py::detail::npy_api::NPY_FLOAT_ ||
          (a->flags & kNeed) != kNeed)
        return general();
      size_t cap = 1;
      for (int d = 0; d < a->nd; ++d) cap *= size_t(a->dimensions[d]);
      auto* dst = reinterpret_cast<float*>(a->data);
      {
        py::gil_scoped_release nogil;
        v = wire::parse_frame(in, size, limits);
        if (v) {
          const wire::FrameHeader& h = v->header;
          r = wire::frame_values(h) == cap
                  ? dequantize_frame(*v, dst, cap, t)
                  : Result<size_t>(Error{Errc::buffer_too_small, "out must hold exactly C*H*W float32 values"});
        }
      }
      if (!v) raise(v.error());
      if (!r) raise(r.error());
      Py_INCREF(out);
      return out;
    }
    {
      py::gil_scoped_release nogil;
      v = wire::parse_frame(in, size, limits);
    }
    if (!v) raise(v.error());
    const wire::FrameHeader& h = v->header;
    py::array_t<float> values({py::ssize_t(h.channels), py::ssize_t(h.height), py::ssize_t(h.width)});
    float* dst = values.mutable_data();
    const size_t n = size_t(values.size());
    {
      py::gil_scoped_release nogil;
      r = dequantize_frame(*v, dst, n, t);
    }
    if (!r) raise(r.error());
    return values.release().ptr();
  } catch (const LibraryError& e) {
    set_python_error(e.error);
  } catch (py::error_already_set& e) {
    e.restore();
  } catch (const std::bad_alloc&) {
    PyErr_NoMemory();
  } catch (const std::exception& e) {
    PyErr_SetString(PyExc_RuntimeError, e.what());
  }
  return nullptr;
}

PyMethodDef kFastDecodeDef = {
    "decode_frame", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(&fast_decode_frame)),
    METH_FASTCALL | METH_KEYWORDS,
    "decode_frame(data, tables=None, out=None, max_payload_size=16777216)\n--\n\nParses and dequantizes one frame: "
    "float32 [C, H, W] (into out= when given: no allocation, one GIL release). Codec-1 frames need tables="};

}  // namespace

PYBIND11_MODULE(_slimcodec, m) {
  m.doc() = "slimcodec: frames, stream parser, replies, codec-1 tables and the encoder over the C++ headers";

  // ---- errors
  PyObject* base = PyErr_NewExceptionWithDoc("slimcodec.Error",
                                             "Base class of every slimcodec error: .errc (the library's number), "
                                             ".message (its message), and the class's .name.",
                                             PyExc_Exception, nullptr);
  if (base == nullptr) throw py::error_already_set();
  g_exceptions[0] = base;
  PyObject_SetAttrString(base, "errc", py::int_(0).ptr());
  PyObject_SetAttrString(base, "name", py::str("error").ptr());
  m.add_object("Error", py::handle(base));
  py::dict by_number;
  for (const ErrcName& e : kErrcNames) {
    py::dict attrs;
    attrs["errc"] = int(e.code);
    attrs["name"] = e.snake;
    const std::string qual = std::string("slimcodec.") + e.camel;
    PyObject* cls = PyErr_NewExceptionWithDoc(qual.c_str(), message(e.code), base, attrs.ptr());
    if (cls == nullptr) throw py::error_already_set();
    g_exceptions[uint8_t(e.code)] = cls;
    m.add_object(e.camel, py::handle(cls));
    by_number[py::int_(int(e.code))] = py::handle(cls);
  }
  // A code added to the library after this table (it has a message): a class named by its number, so it still
  // raises its own class with the library's message.
  for (int c = 1; c < 256; ++c) {
    if (g_exceptions[c] != nullptr || std::strcmp(message(Errc(c)), "unknown error") == 0) continue;
    const std::string camel = "Errc" + std::to_string(c);
    py::dict attrs;
    attrs["errc"] = c;
    attrs["name"] = "errc_" + std::to_string(c);
    PyObject* cls = PyErr_NewExceptionWithDoc(("slimcodec." + camel).c_str(), message(Errc(c)), base, attrs.ptr());
    if (cls == nullptr) throw py::error_already_set();
    g_exceptions[c] = cls;
    m.add_object(camel.c_str(), py::handle(cls));
    by_number[py::int_(c)] = py::handle(cls);
  }
  m.attr("exceptions_by_errc") = by_number;
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const LibraryError& e) {
      set_python_error(e.error);
    }
  });

  py::enum_<Errc> errc(m, "Errc", py::arithmetic(), "The library's error numbers (stable, gapped)");
  errc.value("ok", Errc::ok);
  for (const ErrcName& e : kErrcNames) errc.value(e.snake, e.code);
  m.def("message", [](int code) { return std::string(message(Errc(uint8_t(code)))); }, py::arg("errc"),
        "The library's message for an error number");

  py::enum_<wire::Codec>(m, "Codec", py::arithmetic())
      .value("raw_bitpack", wire::Codec::raw_bitpack)
      .value("rans", wire::Codec::rans);
  py::enum_<wire::BoundMode>(m, "BoundMode", py::arithmetic())
      .value("explicit_bounds", wire::BoundMode::explicit_bounds)
      .value("from_sigma", wire::BoundMode::from_sigma)
      .value("from_ensemble_size", wire::BoundMode::from_ensemble_size);

  m.attr("HEADER_SIZE") = wire::kHeaderSize;
  m.attr("TRAILER_SIZE") = wire::kTrailerSize;
  m.attr("DEFAULT_MAX_PAYLOAD") = wire::kDefaultMaxPayload;
  m.attr("MAX_DETECTIONS") = wire::kMaxDetections;
  m.attr("REPLY_HEAD_SIZE") = wire::kReplyHeadSize;

  // ---- entropy tables
  py::class_<Tables>(m, "EntropyTables", "Codec-1 frequency tables (one per b and channel), validated and hashed")
      .def(py::init([](int table_id, const py::dict& frequencies) {
             const uint16_t* fr[entropy::kMaxBits + 1] = {};
             std::vector<py::array_t<uint16_t, py::array::c_style | py::array::forcecast>> keep;
             int64_t channels = -1;
             for (auto kv : frequencies) {
               const int b = kv.first.cast<int>();
               if (b < int(entropy::kMinBits) || b > int(entropy::kMaxBits)) raise(Errc::bits_out_of_range, nullptr);
               auto a = py::array_t<uint16_t, py::array::c_style | py::array::forcecast>::ensure(kv.second);
               if (!a) throw py::error_already_set();
               if (a.ndim() != 2 || a.shape(1) != (py::ssize_t(1) << b) || (channels >= 0 && a.shape(0) != channels))
                 raise(Errc::tensor_shape_mismatch, "frequencies[b] must be [C, 2^b] with one C for every b");
               channels = a.shape(0);
               fr[b] = a.data();
               keep.push_back(a);
             }
             if (table_id < 0 || table_id > 0xFFFF) raise(Errc::invalid_argument, "table_id outside 0..65535");
             if (channels < 1 || channels > int64_t(entropy::kMaxChannels))
               raise(Errc::entropy_table_invalid, "channels outside 1..1024, or no table");
             auto t = entropy::TableSet::create(uint16_t(table_id), unsigned(channels), fr);
             if (!t) raise(t.error());
             return Tables{std::make_shared<entropy::TableSet>(std::move(*t))};
           }),
           py::arg("table_id"), py::arg("frequencies"),
           "From {b: uint16 array [C, 2^b]}: every row 2^b frequencies >= 1 summing to 4096")
      .def_static(
          "load",
          [](const std::string& path) {
            auto f = weights::SafeTensorsFile::open(path);
            if (!f) raise(f.error());
            return tables_from_file(*f);
          },
          py::arg("path"), "Reads entropy.b{b} and entropy.table_id from a safetensors file (tables or weights)")
      .def_static(
          "from_bytes",
          [](const py::buffer& data) {
            Bytes in(data);
            auto f = weights::SafeTensorsFile::from_bytes(in.data, in.size);
            if (!f) raise(f.error());
            return tables_from_file(*f);
          },
          py::arg("data"))
      .def("save",
           [](const Tables& t, const std::string& path) {
             std::vector<weights::TensorToWrite> tensors;
             for (unsigned b = entropy::kMinBits; b <= entropy::kMaxBits; ++b)
               if (t.set->has(b))
                 tensors.push_back({weights::entropy_tensor_name(b), weights::DType::U16,
                                    {int64_t(t.set->channels()), int64_t(1) << b}, t.set->frequencies(b, 0)});
             weights::Metadata meta{{weights::kEntropyTableIdKey, std::to_string(t.set->id())},
                                    {"entropy.precision_bits", std::to_string(entropy::kPrecisionBits)}};
             check(weights::write_safetensors(path, tensors, meta));
           },
           py::arg("path"), "Writes the tables as tools/fit_entropy_tables does (entropy.b{b}, entropy.table_id)")
      .def_property_readonly("table_id", [](const Tables& t) { return t.set->id(); })
      .def_property_readonly("hash", [](const Tables& t) { return t.set->hash(); })
      .def_property_readonly("channels", [](const Tables& t) { return t.set->channels(); })
      .def_property_readonly("bits",
                             [](const Tables& t) {
                               std::vector<unsigned> out;
                               for (unsigned b = entropy::kMinBits; b <= entropy::kMaxBits; ++b)
                                 if (t.set->has(b)) out.push_back(b);
                               return out;
                             })
      .def(
          "frequencies",
          [](const Tables& t, unsigned b) {
            if (!t.set->has(b)) raise(Errc::entropy_table_mismatch, "no table for this b");
            py::array_t<uint16_t> a({py::ssize_t(t.set->channels()), py::ssize_t(1) << b});
            std::memcpy(a.mutable_data(), t.set->frequencies(b, 0),
                        sizeof(uint16_t) * t.set->channels() * entropy::alphabet_size(b));
            return a;
          },
          py::arg("bits"), "uint16 [C, 2^b]")
      .def("__repr__", [](const Tables& t) {
        char s[96];
        std::snprintf(s, sizeof s, "EntropyTables(table_id=%u, hash=0x%08X, channels=%u)", t.set->id(), t.set->hash(),
                      t.set->channels());
        return std::string(s);
      });

  m.def(
      "fit_frequencies",
      [](const py::array_t<uint64_t, py::array::c_style | py::array::forcecast>& counts, unsigned bits) {
        if (bits < entropy::kMinBits || bits > entropy::kMaxBits) raise(Errc::bits_out_of_range, nullptr);
        if (counts.ndim() != 1 || counts.shape(0) != py::ssize_t(entropy::alphabet_size(bits)))
          raise(Errc::invalid_argument, "counts must be [2^b]");
        py::array_t<uint16_t> f(py::ssize_t(entropy::alphabet_size(bits)));
        entropy::fit_frequencies(counts.data(), bits, f.mutable_data());
        return f;
      },
      py::arg("counts"), py::arg("bits"), "One table fitted to symbol counts (entropy/tables.hpp's fit_frequencies)");

  m.def(
      "fit_entropy_tables",
      [](const py::iterable& samples, std::vector<unsigned> bits, int table_id) {
        // Counts per (b, channel, code) over every sample, each quantized with its own bounds by the reference
        // quantizer, then fit_frequencies per row: tools/fit_entropy_tables's procedure.
        std::map<unsigned, std::vector<uint64_t>> counts;
        int64_t channels = -1;
        for (unsigned b : bits)
          if (b < entropy::kMinBits || b > entropy::kMaxBits) raise(Errc::bits_out_of_range, nullptr);
        if (bits.empty()) raise(Errc::invalid_argument, "no b to fit");
        if (table_id < 0 || table_id > 0xFFFF) raise(Errc::invalid_argument, "table_id outside 0..65535");
        for (auto item : samples) {
          auto pair = item.cast<py::sequence>();
          if (pair.size() != 2) raise(Errc::invalid_argument, "a sample is (latent [C, H, W], (lo, hi))");
          auto y = FloatArray::ensure(pair[0]);
          if (!y) throw py::error_already_set();
          if (y.ndim() != 3) raise(Errc::invalid_argument, "latent must be C x H x W");
          if (channels >= 0 && y.shape(0) != channels) raise(Errc::tensor_shape_mismatch, "latents differ in C");
          channels = y.shape(0);
          if (channels > int64_t(entropy::kMaxChannels)) raise(Errc::shape_out_of_range, "channels above 1024");
          auto lh = pair[1].cast<std::pair<float, float>>();
          auto bounds = quant::make_bounds(lh.first, lh.second);
          if (!bounds) raise(bounds.error());
          const size_t plane = size_t(y.shape(1)) * size_t(y.shape(2));
          const float* x = y.data();
          py::gil_scoped_release nogil;
          for (unsigned b : bits) {
            const size_t mm = entropy::alphabet_size(b);
            auto& c = counts[b];
            c.resize(size_t(channels) * mm, 0);
            const quant::QuantParams qp = quant::make_params(b, *bounds);
            for (size_t i = 0; i < size_t(channels) * plane; ++i)
              ++c[(i / plane) * mm + quant::ref::quantize_value(x[i], qp)];
          }
        }
        if (channels < 1) raise(Errc::invalid_argument, "no samples");
        std::map<unsigned, std::vector<uint16_t>> freqs;
        const uint16_t* fr[entropy::kMaxBits + 1] = {};
        for (auto& kv : counts) {
          const size_t mm = entropy::alphabet_size(kv.first);
          auto& f = freqs[kv.first];
          f.resize(size_t(channels) * mm);
          for (size_t c = 0; c < size_t(channels); ++c)
            entropy::fit_frequencies(kv.second.data() + c * mm, kv.first, f.data() + c * mm);
          fr[kv.first] = f.data();
        }
        auto t = entropy::TableSet::create(uint16_t(table_id), unsigned(channels), fr);
        if (!t) raise(t.error());
        return Tables{std::make_shared<entropy::TableSet>(std::move(*t))};
      },
      py::arg("samples"), py::arg("bits") = std::vector<unsigned>{1, 2, 3, 4, 5, 6, 7, 8}, py::arg("table_id") = 1,
      "Codec-1 tables fitted to [(latent [C, H, W], (lo, hi)), ...], as tools/fit_entropy_tables fits them");

  // ---- frames
  py::class_<Frame, std::shared_ptr<Frame>>(m, "Frame", "A checked frame: header fields, payload view, codes, values")
      .def_property_readonly("bound_mode", [](const Frame& f) { return f.header.bound_mode; })
      .def_property_readonly("codec", [](const Frame& f) { return f.header.codec; })
      .def_property_readonly("ensemble_size", [](const Frame& f) { return f.header.ensemble_size; })
      .def_property_readonly("s", [](const Frame& f) { return f.header.ensemble_size; })
      .def_property_readonly("bits", [](const Frame& f) { return f.header.bits; })
      .def_property_readonly("channels", [](const Frame& f) { return f.header.channels; })
      .def_property_readonly("height", [](const Frame& f) { return f.header.height; })
      .def_property_readonly("width", [](const Frame& f) { return f.header.width; })
      .def_property_readonly("shape",
                             [](const Frame& f) { return py::make_tuple(f.header.channels, f.header.height, f.header.width); })
      .def_property_readonly("lo", [](const Frame& f) { return f.header.lo; })
      .def_property_readonly("hi", [](const Frame& f) { return f.header.hi; })
      .def_property_readonly("bounds", [](const Frame& f) { return py::make_tuple(f.header.lo, f.header.hi); })
      .def_property_readonly("step", [](const Frame& f) { return wire::dequantize_step(f.header.lo, f.header.hi, f.header.bits); })
      .def_property_readonly("frame_id", [](const Frame& f) { return f.header.frame_id; })
      .def_property_readonly("timestamp_us", [](const Frame& f) { return f.header.timestamp_us; })
      .def_property_readonly("payload_size", [](const Frame& f) { return f.header.payload_size; })
      .def_property_readonly("frame_size", [](const Frame& f) { return f.frame_size; })
      .def_property_readonly(
          "payload",
          [](py::object self) {
            const Frame& f = self.cast<const Frame&>();
            py::array a(py::dtype::of<uint8_t>(), {py::ssize_t(f.header.payload_size)}, {py::ssize_t(1)}, f.payload, self);
            set_read_only(a);
            return a;
          },
          "The payload bytes as a read-only uint8 array, a view into the frame's bytes (no copy)")
      .def("values", &frame_values, py::arg("tables") = py::none(), py::arg("out") = py::none(),
           "Dequantized float32 [C, H, W] (codec 1: with the tables given here or at parse); out= reuses an array")
      .def(
          "codes",
          [](py::object self, const py::object& tables) -> py::array {
            const Frame& f = self.cast<const Frame&>();
            // At b = 8 the raw bit-pack layout puts code i in byte i (quant/layout.hpp: byte k of lane word l is
            // byte 16 k + l): the codes are the payload itself, handed out as a read-only view.
            if (f.header.codec == wire::Codec::raw_bitpack && f.header.bits == 8) {
              const auto shape = f.shape();
              py::array a(py::dtype::of<uint8_t>(), shape,
                          {py::ssize_t(f.header.height) * f.header.width, py::ssize_t(f.header.width), py::ssize_t(1)},
                          f.payload, self);
              set_read_only(a);
              return a;
            }
            return frame_codes(f, tables);
          },
          py::arg("tables") = py::none(),
          "The C*H*W codes, uint8 [C, H, W] (at b = 8 with codec 0 a read-only view of the payload: no copy)")
      .def("to_bytes", &frame_bytes)
      .def("__bytes__", &frame_bytes)
      .def("__repr__", [](const Frame& f) {
        char s[200];
        std::snprintf(s, sizeof s, "Frame(id=%u, s=%u, b=%u, shape=(%u, %u, %u), codec=%u, bounds=(%g, %g), %zu bytes)",
                      f.header.frame_id, f.header.ensemble_size, f.header.bits, f.header.channels, f.header.height,
                      f.header.width, unsigned(f.header.codec), double(f.header.lo), double(f.header.hi), f.frame_size);
        return std::string(s);
      });

  m.def("parse_frame", &parse_frame_object, py::arg("data"), py::arg("tables") = py::none(),
        py::arg("max_payload_size") = wire::kDefaultMaxPayload,
        "Parses and checks the frame at the start of data (bytes after it are left alone: see frame_size)");
  m.def(
      "_decode_frame_general",
      [](const py::buffer& data, const py::object& tables, const py::object& out, size_t max_payload) {
        // One call, one GIL release (with out=): parse + dequantize, the server's whole-frame path. decode_frame
        // below takes the common case without pybind11's argument machinery and hands every other one here.
        Bytes in(data);
        wire::ParserLimits limits;
        limits.max_payload_size = max_payload;
        const entropy::TableSet* t = table_ptr(tables);
        Result<wire::FrameView> v = Errc::truncated;
        if (!out.is_none()) {  // the output is known: one GIL release for parse + dequantize
          if (!py::isinstance<py::array>(out)) raise(Errc::invalid_argument, "out must be a float32 numpy array");
          auto a = float_output(out, {py::ssize_t(py::reinterpret_borrow<py::array>(out).size())});
          float* dst = a.mutable_data();
          const size_t cap = size_t(a.size());
          Result<size_t> r = size_t{0};
          {
            py::gil_scoped_release nogil;
            v = wire::parse_frame(in.data, in.size, limits);
            if (v) {
              const wire::FrameHeader& h = v->header;
              r = wire::frame_values(h) == cap ? dequantize_frame(*v, dst, cap, t)
                                               : Result<size_t>(Errc::buffer_too_small);
            }
          }
          if (!v) raise(v.error());
          if (!r) raise(r.code() == Errc::buffer_too_small && r.error().detail == nullptr
                            ? Error{Errc::buffer_too_small, "out must hold exactly C*H*W float32 values"}
                            : r.error());
          return a;
        }
        {
          py::gil_scoped_release nogil;
          v = wire::parse_frame(in.data, in.size, limits);
        }
        if (!v) raise(v.error());
        const wire::FrameHeader& h = v->header;
        auto a = float_output(out, {h.channels, h.height, h.width});
        float* dst = a.mutable_data();
        const size_t n = size_t(a.size());
        Result<size_t> r = size_t{0};
        {
          py::gil_scoped_release nogil;
          r = dequantize_frame(*v, dst, n, t);
        }
        if (!r) raise(r.error());
        return a;
      },
      py::arg("data"), py::arg("tables") = py::none(), py::arg("out") = py::none(),
      py::arg("max_payload_size") = wire::kDefaultMaxPayload,
      "Parses and dequantizes one frame: float32 [C, H, W] (into out= when given, no allocation)");
  g_general_decode = m.attr("_decode_frame_general").ptr();
  Py_INCREF(g_general_decode);
  PyObject* fast = PyCFunction_NewEx(&kFastDecodeDef, nullptr, py::str("slimcodec").ptr());
  if (fast == nullptr) throw py::error_already_set();
  m.add_object("decode_frame", py::reinterpret_steal<py::object>(fast));
  m.def("encode_frame", &encode_frame_bytes, py::arg("latent"), py::kw_only(), py::arg("s"), py::arg("bits"),
        py::arg("bounds") = py::none(), py::arg("frame_id") = 0, py::arg("timestamp_us") = 0,
        py::arg("bound_mode") = py::none(), py::arg("tables") = py::none(),
        "Quantizes float32 [C, H, W] into frame bytes. bounds=(lo, hi), default bounds_from_ensemble(s); with "
        "tables=, codec 1 where it is smaller than codec 0");
  m.def("max_frame_size", [](size_t values, unsigned bits) { return max_frame_size(values, bits); }, py::arg("values"),
        py::arg("bits"));

  py::class_<StreamParser>(m, "FrameParser",
                           "Incremental frame reader: feed() bytes in any chunks, get the frames they complete")
      .def(py::init<size_t, py::object>(), py::arg("max_payload_size") = wire::kDefaultMaxPayload,
           py::arg("tables") = py::none())
      .def("feed", &StreamParser::feed, py::arg("data"),
           "Takes all of data; returns the frames completed (list). Raises the stream's error")
      .def("finish", &StreamParser::finish, "At the end of the stream: raises Truncated inside a frame, or the error")
      .def("reset", &StreamParser::reset)
      .def_property_readonly("need", &StreamParser::need, "Bytes the current frame still needs")
      .def_property_readonly("failed", &StreamParser::failed);

  // ---- replies
  py::class_<wire::Detection>(m, "Detection", "One detected object: class, score in [0, 1], box (x1, y1, x2, y2)")
      .def(py::init([](uint16_t c, float s, float x1, float y1, float x2, float y2) {
             return wire::Detection{c, s, x1, y1, x2, y2};
           }),
           py::arg("class_id") = 0, py::arg("score") = 0.f, py::arg("x1") = 0.f, py::arg("y1") = 0.f,
           py::arg("x2") = 0.f, py::arg("y2") = 0.f)
      .def_readwrite("class_id", &wire::Detection::class_id)
      .def_readwrite("score", &wire::Detection::score)
      .def_readwrite("x1", &wire::Detection::x1)
      .def_readwrite("y1", &wire::Detection::y1)
      .def_readwrite("x2", &wire::Detection::x2)
      .def_readwrite("y2", &wire::Detection::y2)
      .def("__iter__",
           [](const wire::Detection& d) {
             return py::iter(py::make_tuple(d.class_id, d.score, d.x1, d.y1, d.x2, d.y2));
           })
      .def("__eq__",
           [](const wire::Detection& a, const wire::Detection& b) {
             return a.class_id == b.class_id && a.score == b.score && a.x1 == b.x1 && a.y1 == b.y1 && a.x2 == b.x2 &&
                    a.y2 == b.y2;
           })
      .def("__repr__", [](const wire::Detection& d) {
        char s[160];
        std::snprintf(s, sizeof s, "Detection(class_id=%u, score=%g, x1=%g, y1=%g, x2=%g, y2=%g)", d.class_id,
                      double(d.score), double(d.x1), double(d.y1), double(d.x2), double(d.y2));
        return std::string(s);
      });

  py::class_<Reply>(m, "Reply", "The decode service's reply to one frame (docs/wire-format.md, \"Reply\")")
      .def(py::init(&make_reply), py::kw_only(), py::arg("frame_id") = 0, py::arg("status") = 0,
           py::arg("decode_us") = 0, py::arg("timestamp_us") = 0, py::arg("digest") = 0,
           py::arg("out_shape") = std::tuple<uint16_t, uint16_t, uint16_t>{0, 0, 0},
           py::arg("detections") = py::none(), py::arg("class_ids") = py::none(), py::arg("scores") = py::none(),
           py::arg("boxes") = py::none(),
           "detections: Detection records or (class_id, score, x1, y1, x2, y2) tuples; or class_ids [n], "
           "scores [n], boxes [n, 4] arrays")
      .def_property_readonly("status", [](const Reply& r) { return r.r.status; })
      .def_property_readonly("frame_id", [](const Reply& r) { return r.r.frame_id; })
      .def_property_readonly("decode_us", [](const Reply& r) { return r.r.decode_us; })
      .def_property_readonly("timestamp_us", [](const Reply& r) { return r.r.timestamp_us; })
      .def_property_readonly("digest", [](const Reply& r) { return r.r.digest; })
      .def_property_readonly("out_shape",
                             [](const Reply& r) { return py::make_tuple(r.r.out_channels, r.r.out_height, r.r.out_width); })
      .def_property_readonly("detection_count", [](const Reply& r) { return r.r.detection_count; })
      .def_property_readonly("size", &Reply::size, "Bytes of this reply on the wire")
      .def_property_readonly("detections",
                             [](const Reply& r) {
                               return std::vector<wire::Detection>(r.r.detections.begin(),
                                                                   r.r.detections.begin() + r.r.detection_count);
                             })
      .def_property_readonly("class_ids",
                             [](const Reply& r) {
                               py::array_t<uint16_t> a(py::ssize_t(r.r.detection_count));
                               for (size_t i = 0; i < r.r.detection_count; ++i) a.mutable_data()[i] = r.r.detections[i].class_id;
                               return a;
                             })
      .def_property_readonly("scores",
                             [](const Reply& r) {
                               py::array_t<float> a(py::ssize_t(r.r.detection_count));
                               for (size_t i = 0; i < r.r.detection_count; ++i) a.mutable_data()[i] = r.r.detections[i].score;
                               return a;
                             })
      .def_property_readonly("boxes",
                             [](const Reply& r) {
                               py::array_t<float> a({py::ssize_t(r.r.detection_count), py::ssize_t(4)});
                               float* p = a.mutable_data();
                               for (size_t i = 0; i < r.r.detection_count; ++i) {
                                 const wire::Detection& d = r.r.detections[i];
                                 p[4 * i] = d.x1, p[4 * i + 1] = d.y1, p[4 * i + 2] = d.x2, p[4 * i + 3] = d.y2;
                               }
                               return a;
                             })
      .def("to_bytes",
           [](const Reply& r) {
             const wire::ReplyBytes b = wire::write_reply(r.r);
             return py::bytes(reinterpret_cast<const char*>(b.data()), b.size());
           })
      .def("__bytes__",
           [](const Reply& r) {
             const wire::ReplyBytes b = wire::write_reply(r.r);
             return py::bytes(reinterpret_cast<const char*>(b.data()), b.size());
           })
      .def("__repr__", [](const Reply& r) {
        char s[200];
        std::snprintf(s, sizeof s, "Reply(frame_id=%u, status=%u, decode_us=%u, detections=%u)", r.r.frame_id,
                      unsigned(r.r.status), r.r.decode_us, unsigned(r.r.detection_count));
        return std::string(s);
      });
  m.def(
      "parse_reply",
      [](const py::buffer& data) {
        Bytes in(data);
        return Reply{take(wire::parse_reply(in.data, in.size))};
      },
      py::arg("data"), "Parses the reply at the start of data (bytes after it, Reply.size on, are the next reply)");
  m.def(
      "peek_reply_size",
      [](const py::buffer& data) {
        Bytes in(data);
        return take(wire::peek_reply_size(in.data, in.size));
      },
      py::arg("data"), "The whole reply's size from its first REPLY_HEAD_SIZE bytes (stream readers)");
  m.def("reply_size", [](size_t n) { return wire::reply_size(n); }, py::arg("detection_count"));
  m.def(
      "digest_features",
      [](const FloatArray& x) {
        const float* p = x.data();
        const size_t n = size_t(x.size());
        py::gil_scoped_release nogil;
        return wire::digest_features(p, n);
      },
      py::arg("features"), "64-bit FNV-1a over the float bits (the reply's digest)");

  // ---- quantizer bounds
  m.def(
      "bounds_from_ensemble",
      [](unsigned s, float k, float member_sigma) {
        return bounds_tuple(quant::bounds_from_ensemble(s, quant::EnsembleBoundRule{k, member_sigma}));
      },
      py::arg("s"), py::arg("k") = 3.f, py::arg("member_sigma") = 1.f, "(lo, hi) = +-k * member_sigma * sqrt(sum 4^-m)");
  m.def(
      "bounds_from_sigma",
      [](const FloatArray& x, float k) { return bounds_tuple(take(quant::bounds_from_sigma(x.data(), size_t(x.size()), k))); },
      py::arg("x"), py::arg("k"), "(lo, hi) = mean +- k * std over the finite values");

  // ---- encoder
  py::class_<Encoder>(m, "Encoder", "The paper's 4-member slimmable encoder (3 x H x W -> 6 x H/4 x W/4)")
      .def(py::init<int, int>(), py::arg("height") = 384, py::arg("width") = 384)
      .def("load", &Encoder::load, py::arg("path"), py::arg("prefix") = py::none(),
           "Weights from safetensors (prefix None: 'encoder.' else none); bound_k / member_sigma from its metadata")
      .def("init_random", &Encoder::init_random, py::arg("seed"))
      .def_property("s", &Encoder::active, &Encoder::set_active, "Active members (1..4)")
      .def_property("threads", &Encoder::threads, &Encoder::set_threads)
      .def_property_readonly("in_shape",
                             [](const Encoder& e) { return py::make_tuple(e.in_shape().c, e.in_shape().h, e.in_shape().w); })
      .def_property_readonly("out_shape",
                             [](const Encoder& e) { return py::make_tuple(e.out_shape().c, e.out_shape().h, e.out_shape().w); })
      .def_property_readonly("bound_k", [](const Encoder& e) { return e.rule().k; })
      .def_property_readonly("member_sigma", [](const Encoder& e) { return e.rule().member_sigma; })
      .def(
          "bounds",
          [](const Encoder& e, const py::object& s) {
            return bounds_tuple(quant::bounds_from_ensemble(s.is_none() ? unsigned(e.active()) : s.cast<unsigned>(), e.rule()));
          },
          py::arg("s") = py::none(), "The ensemble bound rule's (lo, hi) for s (default: the active s)")
      .def("encode", &Encoder::encode, py::arg("x"), py::arg("s") = py::none(), py::arg("out") = py::none(),
           "float32 [3, H, W] -> float32 [6, H/4, W/4] with s members (default: the active s)")
      .def(
          "encode_image",
          [](Encoder& e, const U8Array& rgb, const py::object& s) {
            auto x = preprocess(rgb, int(e.in_shape().h), int(e.in_shape().w));
            return e.encode(x, s, py::none());
          },
          py::arg("rgb"), py::arg("s") = py::none(), "RGB uint8 [h, w, 3], resized and normalized, then encoded");
  m.def("preprocess", &preprocess, py::arg("rgb"), py::arg("height"), py::arg("width"),
        "RGB uint8 [h, w, 3] -> normalized float32 [3, height, width] (bilinear, half-pixel centres, ImageNet)");

  m.def("_cpp_decode_seconds", &cpp_decode_seconds, py::arg("frame"), py::arg("out"), py::arg("iterations"),
        py::arg("tables") = py::none(), "Benchmark support: seconds per C++ decode_frame call, GIL released");
}
