// Internal: the per-ISA copies of gemm_packed's register tile (packed_kernel.h) and the choice
// of one for the running CPU.
#pragma once

#include "recur/common.h"

namespace recur::detail {

template <class T>
struct PackedKernel {
  index_t panel_width;  // NR: columns per panel, three SIMD vectors
  index_t row_block;    // MR: rows per tile
  // C (M, width) = A (M, K) · panel (K, NR)[:, :width] + beta · C, rows in MR tiles.
  void (*rows_times_panel)(index_t M, index_t K, const T* A, index_t lda, const T* panel, index_t width,
                           T beta, T* C, index_t ldc);
  bool fused_multiply_add;  // the tile's multiply-adds are FMAs (one rounding each)
};

namespace avx512 {
template <class T>
PackedKernel<T> kernel();
}
namespace avx2 {
template <class T>
PackedKernel<T> kernel();
}
namespace generic {
template <class T>
PackedKernel<T> kernel();
}

// The copy for this CPU (AVX-512, else AVX2 + FMA, else generic), chosen on first use.
template <class T>
const PackedKernel<T>& packed_kernel();
// Its name: "avx512", "avx2" or "generic".
const char* packed_kernel_name();

}  // namespace recur::detail
