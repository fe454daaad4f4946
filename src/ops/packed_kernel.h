// Internal: the register tile of gemm_packed (ops/packed_gemm.h), written once and compiled once
// per instruction set by the packed_kernel_*.cpp files, each of which defines
//   RECUR_PACKED_ISA           the namespace of its copy (avx512, avx2, generic)
//   RECUR_PACKED_VECTOR_BYTES  SIMD vector size: 64 (AVX-512), 32 (AVX2), 16 (SSE2, NEON)
//   RECUR_PACKED_ROWS          MR, rows per tile: 8 with 32 vector registers, 4 with 16
// before including this file. packed_gemm.cpp picks one copy for the running CPU (packed_kernel()).
//
// An MR × 3-vector tile runs down the whole K for every element of C it owns:
//   acc (MR, NR) = Σ_k A[rows, k] ⊗ panel[k, :]      k = 0 … K−1 in order, one FMA each
//   C[rows, cols] = acc + beta · C[rows, cols]
// With AVX-512, MR = 8: 24 vector accumulators; per k, 3 vector loads of the panel and 8
// broadcasts of A feed 24 FMAs. GCC vector extensions give one source for every ISA and both
// precisions; the multiply-adds fuse where the ISA has FMA (g++'s default -ffp-contract=fast).
//
// These files are compiled with ISA flags the rest of the library may not have, so nothing here
// may instantiate an inline function shared with other files (no std:: calls, no recur headers
// beyond the types): the linker could otherwise keep this file's copy for everyone.
#include "packed_kernel_dispatch.h"

namespace recur::detail::RECUR_PACKED_ISA {

namespace {

constexpr int kVectorBytes = RECUR_PACKED_VECTOR_BYTES;
constexpr int kRowBlock = RECUR_PACKED_ROWS;  // MR
static_assert(kRowBlock >= 1 && kRowBlock <= 8);

template <class T>
struct Simd;
template <>
struct Simd<float> {
  typedef float V __attribute__((vector_size(kVectorBytes)));
  typedef float VU __attribute__((vector_size(kVectorBytes), aligned(4)));  // for unaligned rows of C
};
template <>
struct Simd<double> {
  typedef double V __attribute__((vector_size(kVectorBytes)));
  typedef double VU __attribute__((vector_size(kVectorBytes), aligned(8)));
};
template <class T>
constexpr index_t kLanes = kVectorBytes / static_cast<index_t>(sizeof(T));
template <class T>
constexpr index_t kWidth = 3 * kLanes<T>;  // NR

// C[rows, cols] = acc + beta · C for MR rows and `width` ≤ NR valid columns of the tile.
template <class T, int MR>
void store_tile(const typename Simd<T>::V (&acc)[MR][3], index_t width, T beta, T* C, index_t ldc) {
  using VU = typename Simd<T>::VU;
  constexpr index_t L = kLanes<T>, NR = kWidth<T>;
  for (int i = 0; i < MR; ++i) {
    T* c = C + i * ldc;
    if (width == NR) {
      for (int v = 0; v < 3; ++v) {
        VU* cv = reinterpret_cast<VU*>(c + v * L);
        *cv = beta == T(0) ? VU(acc[i][v]) : VU(acc[i][v]) + beta * *cv;
      }
    } else {
      alignas(64) T row[NR];
      for (int v = 0; v < 3; ++v) *reinterpret_cast<typename Simd<T>::V*>(row + v * L) = acc[i][v];
      for (index_t j = 0; j < width; ++j) c[j] = beta == T(0) ? row[j] : row[j] + beta * c[j];
    }
  }
}

// One MR × NR tile over the whole K.
template <class T, int MR>
void tile(index_t K, const T* A, index_t lda, const T* panel, index_t width, T beta, T* C, index_t ldc) {
  using V = typename Simd<T>::V;
  constexpr index_t NR = kWidth<T>;
  V acc[MR][3];
  for (int i = 0; i < MR; ++i) acc[i][0] = acc[i][1] = acc[i][2] = V{};
  const T* a_rows[MR];
  for (int i = 0; i < MR; ++i) a_rows[i] = A + i * lda;
  for (index_t k = 0; k < K; ++k) {
    const V* b = reinterpret_cast<const V*>(panel + k * NR);
    const V b0 = b[0], b1 = b[1], b2 = b[2];
#pragma GCC unroll 8
    for (int i = 0; i < MR; ++i) {
      const T a = a_rows[i][k];
      acc[i][0] += a * b0;
      acc[i][1] += a * b1;
      acc[i][2] += a * b2;
    }
  }
  store_tile<T, MR>(acc, width, beta, C, ldc);
}

// Rows [0, M) against one panel: full MR blocks, then one block of the remaining rows.
template <class T>
void rows_times_panel(index_t M, index_t K, const T* A, index_t lda, const T* panel, index_t width, T beta,
                      T* C, index_t ldc) {
  index_t i = 0;
  for (; i + kRowBlock <= M; i += kRowBlock)
    tile<T, kRowBlock>(K, A + i * lda, lda, panel, width, beta, C + i * ldc, ldc);
  const T* a = A + i * lda;
  T* c = C + i * ldc;
  switch (M - i) {
    case 7:
      return tile<T, 7>(K, a, lda, panel, width, beta, c, ldc);
    case 6:
      return tile<T, 6>(K, a, lda, panel, width, beta, c, ldc);
    case 5:
      return tile<T, 5>(K, a, lda, panel, width, beta, c, ldc);
    case 4:
      return tile<T, 4>(K, a, lda, panel, width, beta, c, ldc);
    case 3:
      return tile<T, 3>(K, a, lda, panel, width, beta, c, ldc);
    case 2:
      return tile<T, 2>(K, a, lda, panel, width, beta, c, ldc);
    case 1:
      return tile<T, 1>(K, a, lda, panel, width, beta, c, ldc);
    default:
      return;
  }
}

}  // namespace

template <class T>
PackedKernel<T> kernel() {
#ifdef __FMA__
  constexpr bool fused = true;
#else
  constexpr bool fused = false;
#endif
  return {kWidth<T>, kRowBlock, &rows_times_panel<T>, fused};
}

template PackedKernel<float> kernel<float>();
template PackedKernel<double> kernel<double>();

}  // namespace recur::detail::RECUR_PACKED_ISA
