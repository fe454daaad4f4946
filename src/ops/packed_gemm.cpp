// gemm_packed (ops/packed_gemm.h): panels of op(W) packed once, and an MR × 3-vector register tile
// that runs down the whole K for every element of C it owns.
//
//   for each block of rows of A (about 512 KiB of A: 256 rows at K = 512, so it stays in L2):
//     for each panel p (columns [p·NR, p·NR + NR); threads split the panels, or the rows):
//       for each tile of MR rows in the block:
//         acc (MR, NR) = Σ_k A[rows, k] ⊗ panel_p[k, :]      k = 0 … K−1 in order, one FMA each
//         C[rows, cols] = acc + beta · C[rows, cols]
//
// With AVX-512 (32 registers of 64 bytes) MR = 8 and the tile holds 24 vector accumulators: per k,
// 3 vector loads of the panel and 8 broadcasts of A feed 24 FMAs. Other targets use 32-byte vectors
// and MR = 4 (12 accumulators: AVX2 has 16 registers). The panel (K × 3 vectors) stays in L2 across
// the row blocks; A is re-read from L2 for every panel. Written with GCC vector extensions, so one
// source serves every ISA and both precisions; the build must allow FMA contraction (g++'s
// default) for the multiply-adds to fuse.
#include "recur/ops/packed_gemm.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <new>

#include "recur/threads.h"

namespace recur {

namespace {

#ifdef __AVX512F__
constexpr int kVectorBytes = 64;
constexpr int kRowBlock = 8;  // MR
#else
constexpr int kVectorBytes = 32;
constexpr int kRowBlock = 4;
#endif

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

constexpr index_t kAlignBytes = 64;
// Bytes of A per row block (a quarter of a 2 MiB L2, leaving room for the panel and C).
constexpr index_t kRowBlockBytes = index_t(512) << 10;
// Below this many multiply-adds a product runs on one thread.
constexpr index_t kMinParallelMacs = index_t(1) << 17;

template <class T>
std::shared_ptr<T[]> allocate_aligned(index_t numel) {
  const auto bytes = static_cast<size_t>(
      (std::max<index_t>(numel, 1) * index_t(sizeof(T)) + kAlignBytes - 1) / kAlignBytes * kAlignBytes);
  T* p = static_cast<T*>(std::aligned_alloc(kAlignBytes, bytes));
  if (!p) throw std::bad_alloc();
  return std::shared_ptr<T[]>(p, [](T* q) { std::free(q); });
}

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
  static_assert(kRowBlock <= 8);
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
index_t PackedMatrix<T>::panel_width() {
  return kWidth<T>;
}

template <class T>
PackedMatrix<T>::PackedMatrix(Trans trans_w, index_t K, index_t N, const T* W, index_t ldw) : K_(K), N_(N) {
  RECUR_CHECK(K >= 0 && N >= 0, fmt::format("PackedMatrix: negative size K={} N={}", K, N));
  RECUR_CHECK(ldw >= (trans_w == Trans::kYes ? K : N),
              fmt::format("PackedMatrix: leading dimension {} too small for W stored ({}, {})", ldw,
                          trans_w == Trans::kYes ? N : K, trans_w == Trans::kYes ? K : N));
  constexpr index_t NR = kWidth<T>;
  index_t numel = 0;
  RECUR_CHECK(!__builtin_mul_overflow(panels() * NR, std::max<index_t>(K, 1), &numel) &&
                  numel <= INT64_MAX / index_t(sizeof(T)),
              fmt::format("PackedMatrix: ({}, {}) is too large to pack", K, N));
  data_ = allocate_aligned<T>(numel);
  T* data = data_.get();
  // Panels are independent: split them over threads for large matrices (a copy; same result).
  parallel_for(panels(), std::max<index_t>(1, kMinParallelMacs / std::max<index_t>(K * NR, 1)),
               [=](index_t p_begin, index_t p_end) {
                 for (index_t p = p_begin; p < p_end; ++p) {
                   T* out = data + p * K * NR;
                   const index_t n0 = p * NR, width = std::min(NR, N - n0);
                   for (index_t k = 0; k < K; ++k) {
                     T* row = out + k * NR;
                     for (index_t j = 0; j < width; ++j)
                       row[j] = trans_w == Trans::kYes ? W[(n0 + j) * ldw + k] : W[k * ldw + n0 + j];
                     std::fill(row + width, row + NR, T(0));
                   }
                 }
               });
}

template <class T>
void gemm_packed(index_t M, const T* A, index_t lda, const PackedMatrix<T>& W, T beta, T* C, index_t ldc) {
  const index_t K = W.k(), N = W.n();
  RECUR_CHECK(M >= 0, fmt::format("gemm_packed: negative M={}", M));
  RECUR_CHECK(lda >= K && ldc >= N,
              fmt::format("gemm_packed: leading dimension too small (M={} N={} K={} lda={} ldc={})", M, N, K,
                          lda, ldc));
  if (M == 0 || N == 0) return;
  const index_t panels = W.panels();
  // Rows go in blocks of mc, sized so a block of A stays in L2 while every panel passes over it.
  const index_t mc = std::max<index_t>(
      kRowBlock, kRowBlockBytes / (std::max<index_t>(K, 1) * index_t(sizeof(T))) / kRowBlock * kRowBlock);
  const auto run = [&](index_t m_begin, index_t m_end, index_t p_begin, index_t p_end) {
    for (index_t m0 = m_begin; m0 < m_end; m0 += mc) {
      const index_t rows = std::min(mc, m_end - m0);
      for (index_t p = p_begin; p < p_end; ++p) {
        const index_t n0 = p * kWidth<T>;
        rows_times_panel(rows, K, A + m0 * lda, lda, W.panel(p), std::min(kWidth<T>, N - n0), beta,
                         C + m0 * ldc + n0, ldc);
      }
    }
  };
  const double macs = double(M) * double(N) * double(std::max<index_t>(K, 1));
  const int threads = detail::threads_for(macs < 0x1p62 ? index_t(macs) : index_t(1) << 62, kMinParallelMacs);
  if (threads <= 1) {
    run(0, M, 0, panels);
    return;
  }
  // Work units are (panel, row chunk) pairs, panel-major, dealt out to threads in equal contiguous
  // ranges: with r row chunks per panel a thread streams about 1/threads of W, and panels that do
  // not divide evenly among the threads are shared by rows instead of leaving a thread idle. Every
  // element is still computed by one thread, in the same order.
  const index_t row_blocks = (M + kRowBlock - 1) / kRowBlock;
  const index_t chunks = panels % threads == 0 ? 1 : std::min<index_t>(threads, row_blocks);
  const index_t units = panels * chunks;
  const auto chunk_start = [&](index_t c) { return std::min(M, row_blocks * c / chunks * kRowBlock); };
#pragma omp parallel num_threads(threads)
  {
#ifdef _OPENMP
    const int t = omp_get_thread_num(), nt = omp_get_num_threads();
#else
    const int t = 0, nt = 1;
#endif
    const index_t u_end = units * (t + 1) / nt;
    for (index_t u = units * t / nt; u < u_end;) {
      const index_t p = u / chunks, c = u % chunks;
      // Whole panels at once when this thread owns all their chunks.
      if (c == 0 && u + chunks <= u_end) {
        const index_t whole = (u_end - u) / chunks;
        run(0, M, p, p + whole);
        u += whole * chunks;
      } else {
        run(chunk_start(c), chunk_start(c + 1), p, p + 1);
        ++u;
      }
    }
  }
}

template class PackedMatrix<float>;
template class PackedMatrix<double>;
template void gemm_packed<float>(index_t, const float*, index_t, const PackedMatrix<float>&, float, float*,
                                 index_t);
template void gemm_packed<double>(index_t, const double*, index_t, const PackedMatrix<double>&, double,
                                  double*, index_t);

}  // namespace recur
