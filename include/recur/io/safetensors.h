// The safetensors file format (https://github.com/huggingface/safetensors), read and written
// without Python, so checkpoints move between recur and PyTorch/HF tooling.
//
// Layout of a file:
//   bytes [0, 8)        N, the header length, u64 little-endian
//   bytes [8, 8 + N)    the header: a UTF-8 JSON object, starting with '{', optionally padded at
//                       the end with spaces (0x20)
//   bytes [8 + N, end)  the byte buffer; every tensor's data, little-endian, row-major (C order)
// Header entries: "name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]} with
// offsets relative to the byte buffer, plus an optional "__metadata__": {string: string}.
//
// The reader validates what the reference implementation validates, and a little more (it also
// rejects duplicate JSON keys, which serde silently collapses, and enforces the '{' start the spec
// requires). Each error is a recur::Error naming the source file, the reference's error kind
// (HeaderTooSmall, HeaderTooLarge, InvalidHeaderLength, InvalidHeader, InvalidHeaderStart,
// InvalidHeaderDeserialization, InvalidOffset, ValidationOverflow, TensorInvalidInfo,
// MetadataIncompleteBuffer) and the offending tensor, key or number. Like the reference it accepts
// unknown fields inside an entry (ignored) and "__metadata__": null; it caps JSON nesting at 64.
//
// The writer is deterministic and lays files out as the reference serializer does (byte for byte
// when there is at most one metadata key; the reference writes several in hash order, we sort
// them): tensors ordered by dtype, widest first in the reference's dtype order, then by name;
// offsets contiguous from 0; compact JSON with the keys dtype, shape, data_offsets in that order;
// "__metadata__" first, omitted when empty; the header padded with spaces to a multiple of 8
// bytes. Widest dtypes first behind an 8-aligned header puts every tensor's data at a file offset
// that is a multiple of its element size, so a memory-mapped reader can use it in place.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "recur/tensor.h"

namespace recur::io {

// The spec's whole-byte element types, in the reference's order (its serializer sorts by it).
// The sub-byte types (F4, F6_E2M3, F6_E3M2) are rejected as unsupported.
enum class Dtype : std::uint8_t {
  kBool,
  kU8,
  kI8,
  kF8E5M2,
  kF8E4M3,
  kF8E8M0,
  kI16,
  kU16,
  kF16,
  kBF16,
  kI32,
  kU32,
  kF32,
  kC64,
  kF64,
  kI64,
  kU64,
};

std::string_view dtype_name(Dtype dtype);                     // "F32", "F8_E4M3", ...
std::optional<Dtype> dtype_from_name(std::string_view name);  // nullopt for unknown names
index_t dtype_size(Dtype dtype);                              // bytes per element

struct SafetensorsEntry {
  Dtype dtype = Dtype::kF32;
  std::vector<index_t> shape;   // [] for a scalar (one element)
  std::vector<std::byte> data;  // numel(shape) · dtype_size(dtype) bytes, little-endian, row-major
  bool operator==(const SafetensorsEntry&) const = default;
};

class Safetensors {
 public:
  Safetensors() = default;

  // `source` names the file in every error message.
  static Safetensors parse(std::span<const std::byte> file_bytes, const std::string& source);
  static Safetensors read_file(const std::string& path);

  std::vector<std::byte> serialize() const;
  void write_file(const std::string& path) const;  // atomic: see io/atomic_file.h

  // Adding a name that is already present, "__metadata__", or a name that is not UTF-8 is an error.
  void add(const std::string& name, const Tensor<float>& t);   // stored as F32
  void add(const std::string& name, const Tensor<double>& t);  // stored as F64
  void add(const std::string& name, SafetensorsEntry entry);   // any dtype; data size is checked

  // An F32 or F64 entry converted to T (float or double). A missing name or another dtype is an
  // error naming the tensor and the source.
  template <class T>
  Tensor<T> get(const std::string& name) const;
  // An I64 or I32 entry as int64 values (row-major; the shape is entry(name).shape).
  std::vector<std::int64_t> get_int64(const std::string& name) const;

  bool contains(const std::string& name) const { return entries_.count(name) != 0; }
  const SafetensorsEntry& entry(const std::string& name) const;
  std::vector<std::string> names() const;  // sorted
  index_t size() const { return static_cast<index_t>(entries_.size()); }
  const std::map<std::string, SafetensorsEntry>& entries() const { return entries_; }

  // "__metadata__": free-form string → string pairs (e.g. {"format": "pt"}).
  std::map<std::string, std::string>& metadata() { return metadata_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

  const std::string& source() const { return source_; }  // the file parsed, or "<memory>"

  // Same tensors (dtype, shape, bytes) and metadata; the source is not compared.
  bool operator==(const Safetensors& other) const {
    return entries_ == other.entries_ && metadata_ == other.metadata_;
  }

 private:
  std::map<std::string, SafetensorsEntry> entries_;
  std::map<std::string, std::string> metadata_;
  std::string source_ = "<memory>";
};

extern template Tensor<float> Safetensors::get<float>(const std::string& name) const;
extern template Tensor<double> Safetensors::get<double>(const std::string& name) const;

}  // namespace recur::io
