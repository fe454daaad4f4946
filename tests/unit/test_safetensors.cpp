// safetensors reader/writer: bit-identical round trips, the byte layout pinned by hand-written
// golden files (including the reference implementation's own serialization examples), every
// rejection of a malformed file with its error kind, and the atomic file write.
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "recur/io/atomic_file.h"
#include "recur/io/safetensors.h"
#include "test_util.h"

namespace recur::io {
namespace {

using ::recur::testing::throws_error_with;

std::vector<std::byte> bytes_of(std::string_view s) {
  const auto* p = reinterpret_cast<const std::byte*>(s.data());
  return std::vector<std::byte>(p, p + s.size());
}

std::vector<std::byte> bytes_of(std::initializer_list<int> values) {
  std::vector<std::byte> out;
  for (int v : values) out.push_back(static_cast<std::byte>(v));
  return out;
}

std::vector<std::byte> concat(std::initializer_list<std::vector<std::byte>> parts) {
  std::vector<std::byte> out;
  for (const auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

std::vector<std::byte> le64(std::uint64_t n) {
  std::vector<std::byte> out;
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<std::byte>((n >> (8 * i)) & 0xFF));
  return out;
}

// A file whose header is exactly `json` (no padding), followed by `data_size` bytes 0, 1, 2, ...
std::vector<std::byte> make_file(std::string_view json, size_t data_size = 0) {
  std::vector<std::byte> out = concat({le64(json.size()), bytes_of(json)});
  for (size_t i = 0; i < data_size; ++i) out.push_back(static_cast<std::byte>(i & 0xFF));
  return out;
}

template <class T>
bool same_bits(const Tensor<T>& a, const Tensor<T>& b) {
  return a.shape() == b.shape() && std::memcmp(a.data(), b.data(), sizeof(T) * a.numel()) == 0;
}

// Values a lossy writer would get wrong: signed zero, infinities, a NaN payload, subnormals, the
// extremes, and one value per binade across the range.
template <class T>
Tensor<T> awkward_values(const Shape& shape) {
  using L = std::numeric_limits<T>;
  Tensor<T> t(shape);
  const T specials[] = {T(0),           -T(0),           L::infinity(),    -L::infinity(),
                        L::quiet_NaN(), L::denorm_min(), -L::denorm_min(), L::min(),
                        L::max(),       L::lowest(),     L::epsilon(),     T(1) / T(3)};
  for (index_t i = 0; i < t.numel(); ++i)
    t[i] = i < 12 ? specials[i] : std::ldexp(T(1.0) + T(i) / T(97), static_cast<int>(i % 200) - 100);
  if (t.numel() > 4) {  // a NaN with a payload
    using Bits = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>;
    Bits bits;
    std::memcpy(&bits, &t[4], sizeof(T));
    bits |= 0x5;
    std::memcpy(&t[4], &bits, sizeof(T));
  }
  return t;
}

TEST(Safetensors, FloatAndDoubleRoundTripBitIdentical) {
  const Tensor<float> f = awkward_values<float>(Shape{3, 5, 7});
  const Tensor<double> d = awkward_values<double>(Shape{40});
  Safetensors st;
  st.add("rnn.weight_ih_l0", f);
  st.add("rnn.bias_hh_l0", d);
  const Safetensors back = Safetensors::parse(st.serialize(), "memory.safetensors");
  EXPECT_EQ(back, st);
  EXPECT_TRUE(same_bits(back.get<float>("rnn.weight_ih_l0"), f));
  EXPECT_TRUE(same_bits(back.get<double>("rnn.bias_hh_l0"), d));
  EXPECT_EQ(back.entry("rnn.weight_ih_l0").dtype, Dtype::kF32);
  EXPECT_EQ(back.entry("rnn.bias_hh_l0").dtype, Dtype::kF64);
  EXPECT_EQ(back.names(), (std::vector<std::string>{"rnn.bias_hh_l0", "rnn.weight_ih_l0"}));
  // Serializing again gives the same bytes.
  EXPECT_EQ(back.serialize(), st.serialize());
}

TEST(Safetensors, GetConvertsBetweenFloatAndDouble) {
  Safetensors st;
  st.add("f", Tensor<float>(Shape{2}, {0.5f, -3.25f}));
  st.add("d", Tensor<double>(Shape{2}, {0.1, 1e300}));
  EXPECT_EQ(st.get<double>("f").to_vector(), (std::vector<double>{0.5, -3.25}));
  const std::vector<float> d = st.get<float>("d").to_vector();
  EXPECT_EQ(d[0], 0.1f);
  EXPECT_TRUE(std::isinf(d[1]));
}

TEST(Safetensors, MetadataRoundTrip) {
  Safetensors st;
  st.metadata()["format"] = "pt";
  st.metadata()["recur.config"] = R"({"model": "lstm", "note": "tab\t, newline\n, ünïcødé"})";
  st.metadata()[""] = "";
  st.add("x", Tensor<float>(Shape{1}, {1.0f}));
  const Safetensors back = Safetensors::parse(st.serialize(), "m.safetensors");
  EXPECT_EQ(back.metadata(), st.metadata());
  EXPECT_EQ(back, st);
}

TEST(Safetensors, ZeroSizeTensorsAndScalars) {
  Safetensors st;
  st.add("empty_rows", Tensor<float>(Shape{0, 3}));
  st.add("empty_cols", Tensor<double>(Shape{4, 0}));
  st.add("scalar", Tensor<float>(Shape{}, {3.5f}));
  st.add("step", SafetensorsEntry{Dtype::kI64, {}, bytes_of({42, 0, 0, 0, 0, 0, 0, 0})});
  const Safetensors back = Safetensors::parse(st.serialize(), "z.safetensors");
  EXPECT_EQ(back, st);
  EXPECT_EQ(back.get<float>("empty_rows").shape(), (Shape{0, 3}));
  EXPECT_EQ(back.get<double>("empty_cols").shape(), (Shape{4, 0}));
  const Tensor<float> scalar = back.get<float>("scalar");
  EXPECT_EQ(scalar.rank(), 0);
  EXPECT_EQ(scalar.numel(), 1);
  EXPECT_EQ(scalar[0], 3.5f);
  EXPECT_EQ(back.get_int64("step"), (std::vector<std::int64_t>{42}));
  EXPECT_TRUE(back.entry("step").shape.empty());

  // An empty file (no tensors, no metadata) is valid too.
  EXPECT_EQ(Safetensors::parse(Safetensors().serialize(), "e").size(), 0);
}

// The layout pinned byte by byte: length, JSON (metadata first, then dtype/shape/data_offsets),
// space padding to a multiple of 8, then the data.
TEST(Safetensors, GoldenBytes) {
  const std::vector<std::byte> golden = concat({
      bytes_of({80, 0, 0, 0, 0, 0, 0, 0}),  // N = 79 bytes of JSON + 1 space
      bytes_of(R"({"__metadata__":{"k":"v"},"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})"),
      bytes_of(" "), bytes_of({0x00, 0x00, 0x80, 0x3F, 0x00, 0x00, 0x00, 0xC0}),  // 1.0f, -2.0f little-endian
  });
  Safetensors st;
  st.metadata()["k"] = "v";
  st.add("w", Tensor<float>(Shape{2}, {1.0f, -2.0f}));
  EXPECT_EQ(st.serialize(), golden);
  const Safetensors back = Safetensors::parse(golden, "golden");
  EXPECT_EQ(back, st);
  EXPECT_EQ(back.get<float>("w").to_vector(), (std::vector<float>{1.0f, -2.0f}));
}

// The byte sequences the reference implementation's own tests expect from its serializer.
TEST(Safetensors, MatchesReferenceSerializerBytes) {
  {
    Safetensors st;
    st.add("attn.0", Tensor<float>(Shape{1, 2, 3}, {0, 1, 2, 3, 4, 5}));
    const std::vector<std::byte> expected = concat({
        le64(64),
        bytes_of(R"({"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}})"),
        bytes_of({0, 0, 0, 0, 0, 0, 128, 63, 0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64, 0, 0, 160, 64}),
    });
    EXPECT_EQ(st.serialize(), expected);
  }
  EXPECT_EQ(Safetensors().serialize(), concat({le64(8), bytes_of("{}      ")}));
  Safetensors meta;
  meta.metadata()["framework"] = "pt";
  EXPECT_EQ(meta.serialize(),
            concat({le64(40), bytes_of(R"({"__metadata__":{"framework":"pt"}})"), bytes_of("     ")}));
}

TEST(Safetensors, WidestDtypeFirstKeepsDataAligned) {
  Safetensors st;
  st.add("a_i8", SafetensorsEntry{Dtype::kI8, {3}, bytes_of({1, 2, 3})});
  st.add("b_f64", Tensor<double>(Shape{1}, {1.0}));
  st.add("c_f32", Tensor<float>(Shape{3}, {1, 2, 3}));
  st.add("d_u64", SafetensorsEntry{Dtype::kU64, {1}, bytes_of({1, 0, 0, 0, 0, 0, 0, 0})});
  st.add("e_bf16", SafetensorsEntry{Dtype::kBF16, {1}, bytes_of({0x80, 0x3F})});
  st.add("f_f32", Tensor<float>(Shape{1}, {4}));
  const std::vector<std::byte> file = st.serialize();
  const std::string text(reinterpret_cast<const char*>(file.data()), file.size());
  // U64 before F64 (the reference's dtype order), then F32 by name, BF16, I8.
  const std::vector<std::string> order = {"d_u64", "b_f64", "c_f32", "f_f32", "e_bf16", "a_i8"};
  for (size_t i = 1; i < order.size(); ++i)
    EXPECT_LT(text.find(order[i - 1]), text.find(order[i])) << order[i - 1] << " vs " << order[i];
  EXPECT_NE(text.find(R"("d_u64":{"dtype":"U64","shape":[1],"data_offsets":[0,8]})"), std::string::npos);
  EXPECT_NE(text.find(R"("c_f32":{"dtype":"F32","shape":[3],"data_offsets":[16,28]})"), std::string::npos);
  EXPECT_NE(text.find(R"("e_bf16":{"dtype":"BF16","shape":[1],"data_offsets":[32,34]})"), std::string::npos);
  EXPECT_EQ(Safetensors::parse(file, "aligned"), st);
}

TEST(Safetensors, EveryDtypeByNameAndSize) {
  const std::vector<std::pair<std::string, index_t>> table = {
      {"BOOL", 1}, {"U8", 1},  {"I8", 1},  {"F8_E5M2", 1}, {"F8_E4M3", 1}, {"F8_E8M0", 1},
      {"I16", 2},  {"U16", 2}, {"F16", 2}, {"BF16", 2},    {"I32", 4},     {"U32", 4},
      {"F32", 4},  {"C64", 8}, {"F64", 8}, {"I64", 8},     {"U64", 8}};
  Safetensors st;
  for (const auto& [name, size] : table) {
    const std::optional<Dtype> dtype = dtype_from_name(name);
    ASSERT_TRUE(dtype.has_value()) << name;
    EXPECT_EQ(dtype_name(*dtype), name);
    EXPECT_EQ(dtype_size(*dtype), size) << name;
    std::vector<std::byte> data(static_cast<size_t>(2 * 3 * size));
    for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<std::byte>(i * 7 + size);
    st.add("t_" + name, SafetensorsEntry{*dtype, {2, 3}, data});
  }
  EXPECT_FALSE(dtype_from_name("F128").has_value());
  EXPECT_FALSE(dtype_from_name("f32").has_value());
  EXPECT_EQ(Safetensors::parse(st.serialize(), "all"), st);
}

TEST(Safetensors, ReadsFilesFromOtherWriters) {
  // Tensors in name order rather than dtype order, no metadata, no padding, unknown extra fields
  // (ignored, as the reference does), "__metadata__": null, and JSON whitespace.
  const std::string json =
      R"({ "a" : {"dtype":"I32","shape":[2],"data_offsets":[0,8], "extra": [1, {"x": null}]},)"
      R"( "b": {"data_offsets":[8,16],"shape":[1],"dtype":"F64"}, "__metadata__": null }   )";
  const Safetensors st = Safetensors::parse(make_file(json, 16), "other.safetensors");
  EXPECT_EQ(st.names(), (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(st.metadata().empty());
  EXPECT_EQ(st.get_int64("a"), (std::vector<std::int64_t>{0x03020100, 0x07060504}));
  EXPECT_EQ(st.entry("b").data, bytes_of({8, 9, 10, 11, 12, 13, 14, 15}));
  EXPECT_EQ(st.source(), "other.safetensors");
}

struct BadFile {
  std::string what;
  std::vector<std::byte> bytes;
  std::vector<std::string_view> fragments;
};

std::vector<BadFile> bad_files() {
  const std::string f32_2 = R"("dtype":"F32","shape":[2])";
  return {
      {"7 bytes", bytes_of({1, 0, 0, 0, 0, 0, 0}), {"HeaderTooSmall", "7 bytes"}},
      {"empty", {}, {"HeaderTooSmall"}},
      {"header over 100 MB", concat({le64(100'000'001), bytes_of("{}")}), {"HeaderTooLarge", "100000001"}},
      {"header length near 2^64", concat({le64(~0ULL), bytes_of("{}")}), {"HeaderTooLarge"}},
      {"header past the end", concat({le64(100), bytes_of("{}      ")}), {"InvalidHeaderLength", "100"}},
      {"header one byte past the end", concat({le64(9), bytes_of("{}      ")}), {"InvalidHeaderLength"}},
      {"not UTF-8", make_file("{\"a\xff\":1}"), {"InvalidHeader:", "UTF-8", "byte 3"}},
      {"overlong UTF-8", make_file("{\"\xc0\xaf\":1}"), {"InvalidHeader:", "UTF-8"}},
      {"UTF-8 surrogate", make_file("{\"\xed\xa0\x80\":1}"), {"InvalidHeader:", "UTF-8"}},
      {"truncated UTF-8", make_file("{\"\xe2\x82"), {"InvalidHeader:", "UTF-8"}},
      {"empty header", make_file(""), {"InvalidHeaderStart"}},
      {"leading space", make_file(" {}"), {"InvalidHeaderStart"}},
      {"array", make_file("[]"), {"InvalidHeaderStart"}},
      {"not JSON", make_file("{not json}"), {"InvalidHeaderDeserialization", "not valid JSON"}},
      {"trailing garbage", make_file("{}x"), {"InvalidHeaderDeserialization", "not valid JSON"}},
      {"unterminated", make_file("{\"a\":"), {"InvalidHeaderDeserialization"}},
      {"comment", make_file("{/* c */}"), {"InvalidHeaderDeserialization"}},
      {"entry not an object", make_file(R"({"a":[1]})"), {"InvalidHeaderDeserialization", "'a'", "object"}},
      {"missing dtype",
       make_file(R"({"a":{"shape":[],"data_offsets":[0,0]}})"),
       {"'a'", "missing field \"dtype\""}},
      {"missing shape",
       make_file(R"({"a":{"dtype":"F32","data_offsets":[0,0]}})"),
       {"missing field \"shape\""}},
      {"missing offsets",
       make_file(R"({"a":{"dtype":"F32","shape":[]}})"),
       {"missing field \"data_offsets\""}},
      {"dtype not a string",
       make_file(R"({"a":{"dtype":4,"shape":[],"data_offsets":[0,4]}})"),
       {"InvalidHeaderDeserialization", "\"dtype\" must be a string"}},
      {"unknown dtype",
       make_file(R"({"a":{"dtype":"F128","shape":[],"data_offsets":[0,4]}})"),
       {"InvalidHeaderDeserialization", "unknown dtype 'F128'"}},
      {"sub-byte dtype",
       make_file(R"({"a":{"dtype":"F4","shape":[2],"data_offsets":[0,1]}})", 1),
       {"unsupported sub-byte dtype 'F4'"}},
      {"shape not an array",
       make_file(R"({"a":{"dtype":"F32","shape":2,"data_offsets":[0,8]}})", 8),
       {"\"shape\" must be an array"}},
      {"negative dimension",
       make_file(R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}})"),
       {"InvalidHeaderDeserialization", "'a'", "-1"}},
      {"fractional dimension",
       make_file(R"({"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,6]}})", 6),
       {"InvalidHeaderDeserialization", "1.5"}},
      {"dimension in exponent form",
       make_file(R"({"a":{"dtype":"F32","shape":[2e0],"data_offsets":[0,8]}})", 8),
       {"InvalidHeaderDeserialization", "\"shape\""}},
      {"number out of range",
       make_file(R"({"a":{"dtype":"F32","shape":[1e999],"data_offsets":[0,8]}})", 8),
       {"InvalidHeaderDeserialization", "not valid JSON", "1e999"}},
      {"dimension as a string",
       make_file(R"({"a":{"dtype":"F32","shape":["2"],"data_offsets":[0,8]}})", 8),
       {"InvalidHeaderDeserialization", "\"2\""}},
      {"dimension over 2^63",
       make_file(R"({"a":{"dtype":"F32","shape":[0,9223372036854775808],"data_offsets":[0,0]}})"),
       {"InvalidHeaderDeserialization", "9223372036854775808"}},
      {"three offsets", make_file(R"({"a":{)" + f32_2 + R"(,"data_offsets":[0,4,8]}})", 8), {"two integers"}},
      {"one offset", make_file(R"({"a":{)" + f32_2 + R"(,"data_offsets":[8]}})", 8), {"two integers"}},
      {"negative offset",
       make_file(R"({"a":{)" + f32_2 + R"(,"data_offsets":[-8,0]}})", 8),
       {"InvalidHeaderDeserialization", "non-negative"}},
      {"fractional offset",
       make_file(R"({"a":{)" + f32_2 + R"(,"data_offsets":[0,8.0]}})", 8),
       {"InvalidHeaderDeserialization", "non-negative"}},
      {"metadata not an object",
       make_file(R"({"__metadata__":["a"]})"),
       {"InvalidHeaderDeserialization", "\"__metadata__\" must be an object"}},
      {"metadata value not a string",
       make_file(R"({"__metadata__":{"epoch":3}})"),
       {"InvalidHeaderDeserialization", "'epoch'", "must be a string"}},
      {"metadata value null",
       make_file(R"({"__metadata__":{"epoch":null}})"),
       {"'epoch'", "must be a string"}},
      {"duplicate tensor",
       make_file(
           R"({"a":{)" + f32_2 + R"(,"data_offsets":[0,8]},"a":{)" + f32_2 + R"(,"data_offsets":[0,8]}})", 8),
       {"InvalidHeaderDeserialization", "duplicate tensor name 'a'"}},
      {"duplicate metadata section",
       make_file(R"({"__metadata__":{},"__metadata__":{}})"),
       {"duplicate tensor name '__metadata__'"}},
      {"duplicate metadata key", make_file(R"({"__metadata__":{"k":"1","k":"2"}})"), {"duplicate key 'k'"}},
      {"duplicate field",
       make_file(R"({"a":{"dtype":"F32","dtype":"I32","shape":[2],"data_offsets":[0,8]}})", 8),
       {"duplicate key 'dtype'"}},
      {"deep nesting",
       make_file("{\"a\":{\"x\":" + std::string(100, '[') + std::string(100, ']') + "}}"),
       {"InvalidHeaderDeserialization", "nested deeper"}},
      {"size mismatch",
       make_file(R"({"a":{)" + f32_2 + R"(,"data_offsets":[0,4]}})", 4),
       {"TensorInvalidInfo", "'a'", "needs 8 bytes", "span 4"}},
      {"scalar with no bytes",
       make_file(R"({"s":{"dtype":"F64","shape":[],"data_offsets":[0,0]}})"),
       {"TensorInvalidInfo", "'s'", "needs 8 bytes"}},
      {"end before begin",
       make_file(R"({"a":{)" + f32_2 + R"(,"data_offsets":[8,0]}})", 8),
       {"InvalidOffset", "'a'", "end before begin"}},
      {"first not at 0",
       make_file(R"({"a":{)" + f32_2 + R"(,"data_offsets":[4,12]}})", 12),
       {"InvalidOffset", "'a'", "must begin at 0"}},
      {"gap",
       make_file(
           R"({"a":{)" + f32_2 + R"(,"data_offsets":[0,8]},"b":{)" + f32_2 + R"(,"data_offsets":[12,20]}})",
           20),
       {"InvalidOffset", "'b'", "'a' ends at 8", "contiguous"}},
      {"overlap",
       make_file(
           R"({"a":{)" + f32_2 + R"(,"data_offsets":[0,8]},"b":{)" + f32_2 + R"(,"data_offsets":[4,12]}})",
           12),
       {"InvalidOffset", "'b'", "'a' ends at 8"}},
      {"same range twice",
       make_file(
           R"({"a":{)" + f32_2 + R"(,"data_offsets":[0,8]},"b":{)" + f32_2 + R"(,"data_offsets":[0,8]}})", 8),
       {"InvalidOffset", "ends at 8"}},
      {"element count overflow",
       make_file(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,0]}})"),
       {"ValidationOverflow", "'a'", "[4294967296, 4294967296]"}},
      {"byte count overflow",
       make_file(R"({"a":{"dtype":"F64","shape":[4611686018427387904],"data_offsets":[0,0]}})"),
       {"ValidationOverflow", "'a'"}},
      {"trailing bytes",
       make_file(R"({"a":{)" + f32_2 + R"(,"data_offsets":[0,8]}})", 9),
       {"MetadataIncompleteBuffer", "cover 8 bytes", "has 9", "trailing"}},
      {"truncated data",
       make_file(R"({"a":{)" + f32_2 + R"(,"data_offsets":[0,8]}})", 7),
       {"MetadataIncompleteBuffer", "truncated"}},
      {"bytes but no tensors", make_file("{}", 1), {"MetadataIncompleteBuffer"}},
      {"offsets far past the end",
       make_file(R"({"a":{"dtype":"U8","shape":[9223372036854775807],)"
                 R"("data_offsets":[0,9223372036854775807]}})"),
       {"MetadataIncompleteBuffer"}},
  };
}

TEST(Safetensors, RejectsMalformedFiles) {
  for (const BadFile& bad : bad_files()) {
    SCOPED_TRACE(bad.what);
    std::vector<std::string_view> parts = {"bad.safetensors", "bad safetensors file"};
    parts.insert(parts.end(), bad.fragments.begin(), bad.fragments.end());
    bool threw = false;
    try {
      Safetensors::parse(bad.bytes, "bad.safetensors");
    } catch (const Error& e) {
      threw = true;
      for (std::string_view part : parts)
        EXPECT_NE(std::string(e.what()).find(part), std::string::npos)
            << "message \"" << e.what() << "\" does not mention \"" << part << "\"";
    }
    EXPECT_TRUE(threw) << "the file was accepted";
  }
}

TEST(Safetensors, MessagesQuoteAtMostAFewHundredBytesOfTheFile) {
  const std::string long_name(100000, 'n');
  const std::vector<std::vector<std::byte>> files = {
      make_file("{\"" + long_name),  // unterminated string
      make_file("{\"" + long_name + R"(":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})", 4),  // bad size
      make_file(R"({"a":{"dtype":"F32","shape":[")" + long_name + R"("],"data_offsets":[0,4]}})", 4),
  };
  for (const auto& file : files) {
    try {
      Safetensors::parse(file, "long.safetensors");
      ADD_FAILURE() << "accepted";
    } catch (const Error& e) {
      EXPECT_LT(std::string(e.what()).size(), 1000u) << std::string(e.what()).substr(0, 200);
    }
  }
}

TEST(Safetensors, LookupErrorsNameTensorAndFile) {
  Safetensors st;
  st.add("weight", Tensor<float>(Shape{1}, {1.0f}));
  st.add("ids", SafetensorsEntry{Dtype::kU8, {2}, bytes_of({1, 2})});
  const Safetensors file = Safetensors::parse(st.serialize(), "ckpt.safetensors");
  EXPECT_TRUE(file.contains("weight"));
  EXPECT_FALSE(file.contains("bias"));
  EXPECT_TRUE(
      throws_error_with([&] { file.get<float>("bias"); }, {"ckpt.safetensors", "'bias'", "'weight'"}));
  EXPECT_TRUE(throws_error_with([&] { file.entry("bias"); }, {"ckpt.safetensors", "'bias'"}));
  EXPECT_TRUE(
      throws_error_with([&] { file.get<double>("ids"); }, {"ckpt.safetensors", "'ids'", "U8", "F32"}));
  EXPECT_TRUE(throws_error_with([&] { file.get_int64("weight"); }, {"'weight'", "F32", "I64"}));
}

TEST(Safetensors, AddValidates) {
  Safetensors st;
  st.add("a", Tensor<float>(Shape{1}));
  EXPECT_TRUE(throws_error_with([&] { st.add("a", Tensor<double>(Shape{1})); }, {"'a'", "already added"}));
  EXPECT_TRUE(throws_error_with([&] { st.add("__metadata__", Tensor<float>(Shape{1})); }, {"reserved"}));
  EXPECT_TRUE(throws_error_with([&] { st.add("bad\xff", Tensor<float>(Shape{1})); }, {"UTF-8"}));
  EXPECT_TRUE(throws_error_with([&] { st.add("e", Tensor<float>()); }, {"'e'", "empty"}));
  EXPECT_TRUE(throws_error_with(
      [&] {
        st.add("r", SafetensorsEntry{Dtype::kI16, {3}, bytes_of({1, 2})});
      },
      {"'r'", "I16", "need 6 bytes", "2 given"}));
  EXPECT_TRUE(throws_error_with(
      [&] {
        st.add("n", SafetensorsEntry{Dtype::kU8, {-1}, {}});
      },
      {"'n'", "[-1]"}));
  st.metadata()["bad"] = "\xc3";
  EXPECT_TRUE(throws_error_with([&] { st.serialize(); }, {"metadata", "'bad'", "UTF-8"}));
}

// ---- files -----------------------------------------------------------------------------------

class SafetensorsFile : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "recur_safetensors_XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr) << std::strerror(errno);
    dir_ = tmpl;
  }
  void TearDown() override {
    if (dir_.empty()) return;
    ::chmod((dir_ + "/ro").c_str(), 0755);  // in case a test failed before restoring it
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  static std::vector<std::string> list_dir(const std::string& dir) {
    std::vector<std::string> names;
    for (const auto& e : std::filesystem::directory_iterator(dir))
      names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }

  static void write_plain(const std::string& path, std::string_view content) {
    std::ofstream(path, std::ios::binary) << content;
  }

  static std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }

  std::string dir_;
};

TEST_F(SafetensorsFile, WriteReadRoundTripAndReplace) {
  const std::string path = dir_ + "/model.safetensors";
  Safetensors st;
  st.add("w", awkward_values<float>(Shape{5, 5}));
  st.metadata()["step"] = "1";
  st.write_file(path);
  EXPECT_EQ(list_dir(dir_), (std::vector<std::string>{"model.safetensors"}));
  EXPECT_EQ(Safetensors::read_file(path), st);
  EXPECT_EQ(Safetensors::read_file(path).source(), path);

  st.metadata()["step"] = "2";
  st.write_file(path);  // replaces the file
  EXPECT_EQ(Safetensors::read_file(path).metadata().at("step"), "2");
  EXPECT_EQ(list_dir(dir_), (std::vector<std::string>{"model.safetensors"}));
}

TEST_F(SafetensorsFile, ReadErrorsNameThePath) {
  const std::string missing = dir_ + "/missing.safetensors";
  EXPECT_TRUE(
      throws_error_with([&] { Safetensors::read_file(missing); }, {missing, "No such file or directory"}));
  EXPECT_TRUE(throws_error_with([&] { Safetensors::read_file(dir_); }, {dir_, "not a regular file"}));
  const std::string truncated = dir_ + "/short.safetensors";
  write_plain(truncated, "abc");
  EXPECT_TRUE(throws_error_with([&] { Safetensors::read_file(truncated); }, {truncated, "HeaderTooSmall"}));
}

TEST_F(SafetensorsFile, AtomicWriteIntoMissingDirectoryFails) {
  const std::string path = dir_ + "/no/such/dir/model.safetensors";
  EXPECT_TRUE(throws_error_with([&] { write_file_atomic(path, bytes_of("data")); },
                                {path, "No such file or directory"}));
  EXPECT_TRUE(list_dir(dir_).empty());
}

TEST_F(SafetensorsFile, AtomicWriteOverADirectoryFailsAndCleansUp) {
  // The rename step fails (EISDIR): the temporary file was written and must be removed again.
  const std::string path = dir_ + "/taken";
  ASSERT_EQ(::mkdir(path.c_str(), 0755), 0);
  write_plain(path + "/keep", "precious");
  EXPECT_TRUE(
      throws_error_with([&] { write_file_atomic(path, bytes_of("new content")); }, {path, "renaming"}));
  EXPECT_EQ(list_dir(dir_), (std::vector<std::string>{"taken"}));
  EXPECT_EQ(slurp(path + "/keep"), "precious");
}

TEST_F(SafetensorsFile, AtomicWriteThatFailsMidwayKeepsTheOldFile) {
  // A file-size limit makes write() fail part way (EFBIG), which works as root too, unlike
  // permission tricks. SIGXFSZ would kill the process, so it is ignored for the duration.
  const std::string path = dir_ + "/model.safetensors";
  const std::string old_content = "the old checkpoint";
  write_plain(path, old_content);
  const std::vector<std::byte> big(1 << 20, std::byte{7});

  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &saved), 0);
  rlimit limited = saved;
  limited.rlim_cur = 64 * 1024;
  struct sigaction ignore {
  }, saved_action{};
  ignore.sa_handler = SIG_IGN;
  ASSERT_EQ(::sigaction(SIGXFSZ, &ignore, &saved_action), 0);
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &limited), 0);
  std::string message;
  try {
    write_file_atomic(path, big);
  } catch (const Error& e) {
    message = e.what();
  }
  ::setrlimit(RLIMIT_FSIZE, &saved);
  ::sigaction(SIGXFSZ, &saved_action, nullptr);

  EXPECT_NE(message.find(path), std::string::npos) << message;
  EXPECT_NE(message.find("writing"), std::string::npos) << message;
  EXPECT_NE(message.find(std::strerror(EFBIG)), std::string::npos) << message;
  EXPECT_EQ(slurp(path), old_content);
  EXPECT_EQ(list_dir(dir_), (std::vector<std::string>{"model.safetensors"}));
}

}  // namespace
}  // namespace recur::io
