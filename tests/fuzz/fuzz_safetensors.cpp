// libFuzzer target for the safetensors reader. Any input must either be rejected with a
// recur::Error or parse into a file that serializes, re-parses to the same tensors and metadata, and
// re-serializes to the same bytes. Crashes, sanitizer reports, other exceptions and broken round
// trips all abort.
//
//   cmake -B build-fuzz -DCMAKE_CXX_COMPILER=clang++ -DRECUR_FUZZ=ON
//   cmake --build build-fuzz --target fuzz_safetensors
//   build-fuzz/fuzz_safetensors -max_total_time=60 new_corpus/ tests/fuzz/corpus/safetensors/
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <vector>

#include "recur/io/safetensors.h"

namespace {

void check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "fuzz_safetensors: %s\n", what);
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, size_t size) {
  using recur::io::Dtype;
  using recur::io::Safetensors;
  const std::span<const std::byte> input(reinterpret_cast<const std::byte*>(data), size);
  Safetensors parsed;
  try {
    parsed = Safetensors::parse(input, "fuzz-input");
  } catch (const recur::Error&) {
    return 0;  // rejected cleanly
  }

  // Every accepted tensor converts (or refuses with an Error) without touching memory it must not.
  for (const auto& [name, entry] : parsed.entries()) {
    try {
      if (entry.dtype == Dtype::kF32 || entry.dtype == Dtype::kF64) {
        const recur::Tensor<float> f = parsed.get<float>(name);
        const recur::Tensor<double> d = parsed.get<double>(name);
        check(f.shape() == d.shape() && f.shape().dims() == entry.shape, "get() changed the shape");
      } else if (entry.dtype == Dtype::kI64 || entry.dtype == Dtype::kI32) {
        check(static_cast<size_t>(parsed.get_int64(name).size()) * recur::io::dtype_size(entry.dtype) ==
                  entry.data.size(),
              "get_int64() returned the wrong count");
      }
    } catch (const recur::Error&) {
      check(false, "an accepted tensor could not be read");
    }
  }

  const std::vector<std::byte> bytes = parsed.serialize();
  std::uint64_t header_size = 0;
  for (int i = 7; i >= 0; --i) header_size = (header_size << 8) | std::to_integer<std::uint64_t>(bytes[i]);
  check(header_size % 8 == 0, "header not padded to a multiple of 8 bytes");
  const Safetensors again = Safetensors::parse(bytes, "fuzz-reserialized");
  check(again == parsed, "serialize + parse changed the content");
  check(again.serialize() == bytes, "serialization is not deterministic");
  return 0;
}
