#include "recur/io/safetensors.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <type_traits>
#include <utility>

#include "recur/io/atomic_file.h"

namespace recur::io {

static_assert(std::endian::native == std::endian::little,
              "safetensors data is little-endian; a big-endian host needs byte swaps here");

namespace {

constexpr std::uint64_t kMaxHeaderSize = 100'000'000;  // the reference's MAX_HEADER_SIZE
constexpr int kMaxJsonDepth = 64;                      // the schema needs 3; deeper nesting only costs memory

struct DtypeInfo {
  Dtype dtype;
  std::string_view name;
  index_t size;
};

// In enum order, so kDtypes[static_cast<int>(d)] describes d.
constexpr std::array<DtypeInfo, 17> kDtypes{{
    {Dtype::kBool, "BOOL", 1},
    {Dtype::kU8, "U8", 1},
    {Dtype::kI8, "I8", 1},
    {Dtype::kF8E5M2, "F8_E5M2", 1},
    {Dtype::kF8E4M3, "F8_E4M3", 1},
    {Dtype::kF8E8M0, "F8_E8M0", 1},
    {Dtype::kI16, "I16", 2},
    {Dtype::kU16, "U16", 2},
    {Dtype::kF16, "F16", 2},
    {Dtype::kBF16, "BF16", 2},
    {Dtype::kI32, "I32", 4},
    {Dtype::kU32, "U32", 4},
    {Dtype::kF32, "F32", 4},
    {Dtype::kC64, "C64", 8},
    {Dtype::kF64, "F64", 8},
    {Dtype::kI64, "I64", 8},
    {Dtype::kU64, "U64", 8},
}};

const DtypeInfo& info_of(Dtype dtype) {
  const auto i = static_cast<size_t>(dtype);
  RECUR_CHECK(i < kDtypes.size(), fmt::format("invalid Dtype value {}", i));
  return kDtypes[i];
}

// Text from the file in messages is cut short, so a hostile file cannot produce a megabyte message.
std::string shorten(std::string_view text, size_t max = 100) {
  if (text.size() <= max) return std::string(text);
  return fmt::format("{}... ({} bytes)", text.substr(0, max), text.size());
}

std::string quote_name(std::string_view name) {
  return fmt::format("'{}'", shorten(name));  // not "'" + …: g++ 12 -O3 warns falsely (-Wrestrict)
}

std::string dims_str(const std::vector<index_t>& shape) {
  return fmt::format("[{}]", fmt::join(shape, ", "));
}

// Index of the first byte of the first ill-formed UTF-8 sequence in s, or npos. Strict, as Rust's
// str::from_utf8: no overlong forms, no surrogates, nothing above U+10FFFF.
size_t invalid_utf8_at(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  for (size_t i = 0; i < n;) {
    const unsigned c = p[i];
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t len = 0;
    unsigned lo = 0x80, hi = 0xBF;  // the allowed range of the second byte
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      if (c == 0xE0) lo = 0xA0;  // overlong
      if (c == 0xED) hi = 0x9F;  // surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      if (c == 0xF0) lo = 0x90;  // overlong
      if (c == 0xF4) hi = 0x8F;  // above U+10FFFF
    } else {
      return i;
    }
    if (n - i < len || p[i + 1] < lo || p[i + 1] > hi) return i;
    for (size_t k = 2; k < len; ++k)
      if ((p[i + k] & 0xC0) != 0x80) return i;
    i += len;
  }
  return std::string_view::npos;
}

// Element count and byte size of (shape, dtype); false on 64-bit overflow.
bool byte_size(const std::vector<index_t>& shape, Dtype dtype, std::uint64_t& numel, std::uint64_t& bytes) {
  numel = 1;
  for (index_t d : shape)
    if (d < 0 || __builtin_mul_overflow(numel, static_cast<std::uint64_t>(d), &numel)) return false;
  return !__builtin_mul_overflow(numel, static_cast<std::uint64_t>(info_of(dtype).size), &bytes);
}

class HeaderError {
 public:
  explicit HeaderError(const std::string& source) : source_(source) {}
  [[noreturn]] void operator()(std::string_view kind, const std::string& detail) const {
    throw Error(fmt::format("{}: bad safetensors file: {}: {}", source_, kind, detail));
  }

 private:
  const std::string& source_;
};

// A header entry before validation of its offsets.
struct PendingTensor {
  std::string name;
  SafetensorsEntry entry;  // data filled in after validation
  std::uint64_t begin = 0, end = 0;
};

// A non-negative JSON integer that fits `limit`; nullopt for anything else (negative, fractional,
// exponent form, string, too large).
std::optional<std::uint64_t> as_count(const nlohmann::json& v, std::uint64_t limit) {
  std::uint64_t x = 0;
  if (v.is_number_unsigned()) {
    x = v.get<std::uint64_t>();
  } else if (v.is_number_integer()) {
    const auto s = v.get<std::int64_t>();
    if (s < 0) return std::nullopt;
    x = static_cast<std::uint64_t>(s);
  } else {
    return std::nullopt;
  }
  if (x > limit) return std::nullopt;
  return x;
}

nlohmann::json parse_json(std::string_view text, const HeaderError& fail) {
  // nlohmann keeps the last of duplicate keys without a word; a file with two tensors of one name
  // (or two dtypes for one tensor) is ambiguous, so the callback tracks the keys of every open
  // object and refuses a repeat. It also bounds the nesting depth.
  std::vector<std::set<std::string>> open_objects;
  const nlohmann::json::parser_callback_t callback = [&](int depth, nlohmann::json::parse_event_t event,
                                                         nlohmann::json& parsed) {
    using Event = nlohmann::json::parse_event_t;
    if ((event == Event::object_start || event == Event::array_start) && depth >= kMaxJsonDepth)
      fail("InvalidHeaderDeserialization", fmt::format("JSON nested deeper than {} levels", kMaxJsonDepth));
    if (event == Event::object_start) open_objects.emplace_back();
    if (event == Event::object_end) open_objects.pop_back();
    if (event == Event::key && !open_objects.back().insert(parsed.get<std::string>()).second) {
      const std::string where = open_objects.size() == 1 ? "tensor name" : "key";
      fail("InvalidHeaderDeserialization",
           fmt::format("duplicate {} {} in the header", where, quote_name(parsed.get<std::string>())));
    }
    return true;
  };
  try {
    return nlohmann::json::parse(text.begin(), text.end(), callback);
  } catch (const nlohmann::json::exception& e) {  // parse_error, and out_of_range for 1e999
    fail("InvalidHeaderDeserialization",
         fmt::format("the header is not valid JSON ({})", json_error_text(e.what(), 300)));
  }
}

void read_metadata(const nlohmann::json& value, std::map<std::string, std::string>& out,
                   const HeaderError& fail) {
  if (value.is_null()) return;  // as the reference, whose field is an Option
  if (!value.is_object())
    fail("InvalidHeaderDeserialization",
         fmt::format("\"__metadata__\" must be an object of strings, not {}", value.type_name()));
  for (const auto& [key, v] : value.items()) {
    if (!v.is_string())
      fail("InvalidHeaderDeserialization",
           fmt::format("\"__metadata__\" value of {} must be a string, not {}", quote_name(key),
                       v.type_name()));
    out.emplace(key, v.get<std::string>());
  }
}

PendingTensor read_tensor_info(const std::string& name, const nlohmann::json& value,
                               const HeaderError& fail) {
  const std::string who = "tensor " + quote_name(name);
  auto bad = [&](const std::string& what) { fail("InvalidHeaderDeserialization", who + ": " + what); };
  if (!value.is_object()) bad(fmt::format("entry must be an object, not {}", value.type_name()));
  // Unknown fields are ignored, as the reference (serde without deny_unknown_fields) does.
  const auto dtype_it = value.find("dtype");
  const auto shape_it = value.find("shape");
  const auto offsets_it = value.find("data_offsets");
  if (dtype_it == value.end()) bad("missing field \"dtype\"");
  if (shape_it == value.end()) bad("missing field \"shape\"");
  if (offsets_it == value.end()) bad("missing field \"data_offsets\"");

  PendingTensor t;
  t.name = name;
  if (!dtype_it->is_string()) bad(fmt::format("\"dtype\" must be a string, not {}", dtype_it->type_name()));
  const std::string dtype_name_str = dtype_it->get<std::string>();
  const std::optional<Dtype> dtype = dtype_from_name(dtype_name_str);
  if (!dtype) {
    const bool sub_byte =
        dtype_name_str == "F4" || dtype_name_str == "F6_E2M3" || dtype_name_str == "F6_E3M2";
    bad(fmt::format("{} dtype {}", sub_byte ? "unsupported sub-byte" : "unknown",
                    quote_name(dtype_name_str)));
  }
  t.entry.dtype = *dtype;

  if (!shape_it->is_array()) bad(fmt::format("\"shape\" must be an array, not {}", shape_it->type_name()));
  for (const auto& d : *shape_it) {
    const auto dim = as_count(d, static_cast<std::uint64_t>(std::numeric_limits<index_t>::max()));
    if (!dim) bad(fmt::format("\"shape\" holds {}, not a non-negative 64-bit integer", shorten(d.dump())));
    t.entry.shape.push_back(static_cast<index_t>(*dim));
  }

  if (!offsets_it->is_array() || offsets_it->size() != 2)
    bad(fmt::format("\"data_offsets\" must be an array of two integers, not {}",
                    shorten(offsets_it->dump())));
  const auto begin = as_count((*offsets_it)[0], std::numeric_limits<std::uint64_t>::max());
  const auto end = as_count((*offsets_it)[1], std::numeric_limits<std::uint64_t>::max());
  if (!begin || !end)
    bad(fmt::format("\"data_offsets\" must hold two non-negative integers, not {}",
                    shorten(offsets_it->dump())));
  t.begin = *begin;
  t.end = *end;
  return t;
}

}  // namespace

std::string_view dtype_name(Dtype dtype) {
  return info_of(dtype).name;
}

index_t dtype_size(Dtype dtype) {
  return info_of(dtype).size;
}

std::optional<Dtype> dtype_from_name(std::string_view name) {
  for (const DtypeInfo& d : kDtypes)
    if (d.name == name) return d.dtype;
  return std::nullopt;
}

Safetensors Safetensors::parse(std::span<const std::byte> file_bytes, const std::string& source) {
  const HeaderError fail(source);
  const std::uint64_t file_size = file_bytes.size();
  if (file_size < 8)
    fail("HeaderTooSmall",
         fmt::format("the file has {} bytes, fewer than the 8 of the header length", file_size));
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i)
    n = (n << 8) | std::to_integer<std::uint64_t>(file_bytes[static_cast<size_t>(i)]);
  if (n > kMaxHeaderSize)
    fail("HeaderTooLarge", fmt::format("header length {} exceeds the limit of {} bytes", n, kMaxHeaderSize));
  if (n > file_size - 8)
    fail("InvalidHeaderLength",
         fmt::format("header length {} runs past the end of the file ({} bytes after the length)", n,
                     file_size - 8));

  const std::string_view header(reinterpret_cast<const char*>(file_bytes.data()) + 8, static_cast<size_t>(n));
  if (const size_t bad = invalid_utf8_at(header); bad != std::string_view::npos)
    fail("InvalidHeader", fmt::format("the header is not valid UTF-8 (at header byte {})", bad));
  if (header.empty() || header.front() != '{') fail("InvalidHeaderStart", "the header must start with '{'");

  const nlohmann::json root = parse_json(header, fail);
  if (!root.is_object())
    fail("InvalidHeaderDeserialization",
         fmt::format("the header must be a JSON object, not {}", root.type_name()));

  Safetensors out;
  out.source_ = source;
  std::vector<PendingTensor> tensors;
  for (const auto& [key, value] : root.items()) {
    if (key == "__metadata__")
      read_metadata(value, out.metadata_, fail);
    else
      tensors.push_back(read_tensor_info(key, value, fail));
  }

  // The reference's validation: in offset order, each tensor starts where the previous one ended
  // (the first at 0), and holds exactly numel · element size bytes; together they fill the buffer.
  std::sort(tensors.begin(), tensors.end(), [](const PendingTensor& a, const PendingTensor& b) {
    return std::pair(a.begin, a.end) < std::pair(b.begin, b.end);
  });
  std::uint64_t start = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const PendingTensor& t = tensors[i];
    const std::string who = "tensor " + quote_name(t.name);
    const std::string offsets = fmt::format("data_offsets [{}, {}]", t.begin, t.end);
    if (t.end < t.begin) fail("InvalidOffset", fmt::format("{} has {}: end before begin", who, offsets));
    if (t.begin != start) {
      if (i == 0)
        fail("InvalidOffset", fmt::format("{} has {}, but the first tensor must begin at 0", who, offsets));
      fail("InvalidOffset", fmt::format("{} has {}, but tensor {} ends at {} (tensors must be contiguous)",
                                        who, offsets, quote_name(tensors[i - 1].name), start));
    }
    start = t.end;
    std::uint64_t numel = 0, bytes = 0;
    if (!byte_size(t.entry.shape, t.entry.dtype, numel, bytes))
      fail("ValidationOverflow", fmt::format("{} of shape {} and dtype {} has more bytes than fit in 64 bits",
                                             who, dims_str(t.entry.shape), dtype_name(t.entry.dtype)));
    if (t.end - t.begin != bytes)
      fail("TensorInvalidInfo",
           fmt::format("{} of dtype {} and shape {} needs {} bytes, but its {} span {}", who,
                       dtype_name(t.entry.dtype), dims_str(t.entry.shape), bytes, offsets, t.end - t.begin));
  }
  const std::uint64_t buffer_size = file_size - 8 - n;
  if (start != buffer_size)
    fail("MetadataIncompleteBuffer",
         fmt::format("the tensors cover {} bytes, but the byte buffer after the header has {}{}", start,
                     buffer_size, start < buffer_size ? " (trailing bytes)" : " (the file is truncated)"));

  const std::byte* buffer = file_bytes.data() + 8 + n;
  for (PendingTensor& t : tensors) {
    t.entry.data.assign(buffer + t.begin, buffer + t.end);
    out.entries_.emplace(std::move(t.name), std::move(t.entry));
  }
  return out;
}

Safetensors Safetensors::read_file(const std::string& path) {
  return parse(read_file_bytes(path), path);
}

std::vector<std::byte> Safetensors::serialize() const {
  for (const auto& [key, value] : metadata_)
    RECUR_CHECK(
        invalid_utf8_at(key) == std::string_view::npos && invalid_utf8_at(value) == std::string_view::npos,
        fmt::format("safetensors metadata {} is not valid UTF-8", quote_name(key)));

  // The reference's order: widest dtype first (by its dtype order), then by name.
  std::vector<const std::pair<const std::string, SafetensorsEntry>*> order;
  for (const auto& kv : entries_) order.push_back(&kv);
  std::stable_sort(order.begin(), order.end(),
                   [](const auto* a, const auto* b) { return a->second.dtype > b->second.dtype; });

  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata_.empty()) header["__metadata__"] = metadata_;
  std::uint64_t offset = 0;
  for (const auto* kv : order) {
    const SafetensorsEntry& e = kv->second;
    nlohmann::ordered_json info = nlohmann::ordered_json::object();
    info["dtype"] = dtype_name(e.dtype);
    info["shape"] = e.shape;
    info["data_offsets"] = {offset, offset + e.data.size()};
    header[kv->first] = std::move(info);
    offset += e.data.size();
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // so the byte buffer starts 8-aligned
  RECUR_CHECK(text.size() <= kMaxHeaderSize,
              fmt::format("safetensors header of {} bytes exceeds the {} readers accept", text.size(),
                          kMaxHeaderSize));

  std::vector<std::byte> out;
  out.reserve(8 + text.size() + offset);
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<std::byte>((text.size() >> (8 * i)) & 0xFF));
  const auto* chars = reinterpret_cast<const std::byte*>(text.data());
  out.insert(out.end(), chars, chars + text.size());
  for (const auto* kv : order) out.insert(out.end(), kv->second.data.begin(), kv->second.data.end());
  return out;
}

void Safetensors::write_file(const std::string& path) const {
  write_file_atomic(path, serialize());
}

void Safetensors::add(const std::string& name, SafetensorsEntry entry) {
  RECUR_CHECK(name != "__metadata__", "\"__metadata__\" is reserved and cannot name a tensor");
  RECUR_CHECK(invalid_utf8_at(name) == std::string_view::npos,
              fmt::format("tensor name {} is not valid UTF-8", quote_name(name)));
  RECUR_CHECK(!contains(name), fmt::format("tensor {} was already added", quote_name(name)));
  std::uint64_t numel = 0, bytes = 0;
  RECUR_CHECK(
      byte_size(entry.shape, entry.dtype, numel, bytes),
      fmt::format("tensor {}: shape {} is negative or too large", quote_name(name), dims_str(entry.shape)));
  RECUR_CHECK(entry.data.size() == bytes,
              fmt::format("tensor {}: dtype {} and shape {} need {} bytes, {} given", quote_name(name),
                          dtype_name(entry.dtype), dims_str(entry.shape), bytes, entry.data.size()));
  entries_.emplace(name, std::move(entry));
}

namespace {

template <class T>
SafetensorsEntry entry_from_tensor(const std::string& name, const Tensor<T>& t, Dtype dtype) {
  RECUR_CHECK(!t.empty(),
              fmt::format("tensor {} is empty (default-constructed, no shape)", quote_name(name)));
  SafetensorsEntry e;
  e.dtype = dtype;
  e.shape = t.shape().dims();
  const auto* p = reinterpret_cast<const std::byte*>(t.data());
  e.data.assign(p, p + t.numel() * static_cast<index_t>(sizeof(T)));
  return e;
}

template <class From, class To>
void convert(const std::vector<std::byte>& bytes, To* out) {
  const size_t n = bytes.size() / sizeof(From);
  if constexpr (std::is_same_v<From, To>) {
    if (n > 0) std::memcpy(out, bytes.data(), n * sizeof(From));
  } else {
    for (size_t i = 0; i < n; ++i) {
      From v;
      std::memcpy(&v, bytes.data() + i * sizeof(From), sizeof(From));
      out[i] = static_cast<To>(v);
    }
  }
}

}  // namespace

void Safetensors::add(const std::string& name, const Tensor<float>& t) {
  add(name, entry_from_tensor(name, t, Dtype::kF32));
}

void Safetensors::add(const std::string& name, const Tensor<double>& t) {
  add(name, entry_from_tensor(name, t, Dtype::kF64));
}

const SafetensorsEntry& Safetensors::entry(const std::string& name) const {
  const auto it = entries_.find(name);
  if (it == entries_.end()) {
    std::vector<std::string> some;
    for (const auto& kv : entries_) {
      if (some.size() == 8) {
        some.push_back("...");
        break;
      }
      some.push_back(quote_name(kv.first));
    }
    throw Error(fmt::format("{}: no tensor named {} (it has {} tensor{}{}{})", source_, quote_name(name),
                            entries_.size(), entries_.size() == 1 ? "" : "s", some.empty() ? "" : ": ",
                            fmt::join(some, ", ")));
  }
  return it->second;
}

std::vector<std::string> Safetensors::names() const {
  std::vector<std::string> out;
  out.reserve(entries_.size());
  for (const auto& kv : entries_) out.push_back(kv.first);
  return out;
}

template <class T>
Tensor<T> Safetensors::get(const std::string& name) const {
  const SafetensorsEntry& e = entry(name);
  Tensor<T> out = Tensor<T>::uninitialized(Shape(e.shape));
  if (e.dtype == Dtype::kF32)
    convert<float>(e.data, out.data());
  else if (e.dtype == Dtype::kF64)
    convert<double>(e.data, out.data());
  else
    throw Error(fmt::format("{}: tensor {} is {}, but only F32 and F64 convert to a floating-point Tensor",
                            source_, quote_name(name), dtype_name(e.dtype)));
  return out;
}

template Tensor<float> Safetensors::get<float>(const std::string& name) const;
template Tensor<double> Safetensors::get<double>(const std::string& name) const;

std::vector<std::int64_t> Safetensors::get_int64(const std::string& name) const {
  const SafetensorsEntry& e = entry(name);
  std::vector<std::int64_t> out(e.data.size() / static_cast<size_t>(dtype_size(e.dtype)));
  if (e.dtype == Dtype::kI64)
    convert<std::int64_t>(e.data, out.data());
  else if (e.dtype == Dtype::kI32)
    convert<std::int32_t>(e.data, out.data());
  else
    throw Error(fmt::format("{}: tensor {} is {}, but get_int64 reads I64 or I32", source_, quote_name(name),
                            dtype_name(e.dtype)));
  return out;
}

}  // namespace recur::io
