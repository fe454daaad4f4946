// gemm_packed (ops/packed_gemm.h): panels of op(W) packed once, and a register tile
// (packed_kernel.h, one copy per instruction set, chosen for the running CPU) that runs down the
// whole K for every element of C it owns.
//
//   for each block of rows of A (about 512 KiB of A: 256 rows at K = 512, so it stays in L2):
//     for each panel p (columns [p·NR, p·NR + NR); threads share (panel, row chunk) units):
//       for each tile of MR rows in the block:
//         acc (MR, NR) = Σ_k A[rows, k] ⊗ panel_p[k, :]      k = 0 … K−1 in order, one FMA each
//         C[rows, cols] = acc + beta · C[rows, cols]
#include "recur/ops/packed_gemm.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "packed_kernel_dispatch.h"
#include "recur/storage.h"
#include "recur/threads.h"

namespace recur {

namespace {

// Bytes of A per row block (a quarter of a 2 MiB L2, leaving room for the panel and C).
constexpr index_t kRowBlockBytes = index_t(512) << 10;
// Below this many multiply-adds a product runs on one thread.
constexpr index_t kMinParallelMacs = index_t(1) << 17;

}  // namespace

template <class T>
index_t PackedMatrix<T>::panel_width() {
  return detail::packed_kernel<T>().panel_width;
}

template <class T>
PackedMatrix<T>::PackedMatrix(Trans trans_w, index_t K, index_t N, const T* W, index_t ldw) : K_(K), N_(N) {
  RECUR_CHECK(K >= 0 && N >= 0, fmt::format("PackedMatrix: negative size K={} N={}", K, N));
  RECUR_CHECK(ldw >= (trans_w == Trans::kYes ? K : N),
              fmt::format("PackedMatrix: leading dimension {} too small for W stored ({}, {})", ldw,
                          trans_w == Trans::kYes ? N : K, trans_w == Trans::kYes ? K : N));
  const index_t NR = panel_width();
  index_t numel = 0;
  RECUR_CHECK(!__builtin_mul_overflow(panels() * NR, std::max<index_t>(K, 1), &numel) &&
                  numel <= INT64_MAX / index_t(sizeof(T)),
              fmt::format("PackedMatrix: ({}, {}) is too large to pack", K, N));
  data_ = allocate_storage<T>(numel, /*zeroed=*/false);  // 64-byte aligned, reused across packs
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
  const detail::PackedKernel<T>& kernel = detail::packed_kernel<T>();
  const index_t panels = W.panels(), NR = kernel.panel_width, MR = kernel.row_block;
  // Rows go in blocks of mc, sized so a block of A stays in L2 while every panel passes over it.
  const index_t mc =
      std::max<index_t>(MR, kRowBlockBytes / (std::max<index_t>(K, 1) * index_t(sizeof(T))) / MR * MR);
  const auto run = [&](index_t m_begin, index_t m_end, index_t p_begin, index_t p_end) {
    for (index_t m0 = m_begin; m0 < m_end; m0 += mc) {
      const index_t rows = std::min(mc, m_end - m0);
      for (index_t p = p_begin; p < p_end; ++p) {
        const index_t n0 = p * NR;
        kernel.rows_times_panel(rows, K, A + m0 * lda, lda, W.panel(p), std::min(NR, N - n0), beta,
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
  const index_t row_blocks = (M + MR - 1) / MR;
  const index_t chunks = panels % threads == 0 ? 1 : std::min<index_t>(threads, row_blocks);
  const index_t units = panels * chunks;
  const auto chunk_start = [&](index_t c) { return std::min(M, row_blocks * c / chunks * MR); };
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

namespace detail {

namespace {

enum class Isa { kAvx512, kAvx2, kGeneric };

Isa detect_isa() {
  Isa best = Isa::kGeneric;
#if defined(RECUR_PACKED_X86)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) best = Isa::kAvx2;
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl")) best = Isa::kAvx512;
#endif
  // RECUR_PACKED_ISA caps the choice (tests run every copy this CPU can run; also for comparisons).
  const char* cap = std::getenv("RECUR_PACKED_ISA");
  if (cap == nullptr || *cap == 0) return best;
  const std::string_view c(cap);
  RECUR_CHECK(c == "avx512" || c == "avx2" || c == "generic",
              fmt::format("RECUR_PACKED_ISA must be avx512, avx2 or generic, got '{}'", c));
  const Isa wanted = c == "avx512" ? Isa::kAvx512 : c == "avx2" ? Isa::kAvx2 : Isa::kGeneric;
  return static_cast<int>(wanted) > static_cast<int>(best) ? wanted : best;
}

Isa isa() {
  static const Isa chosen = detect_isa();
  return chosen;
}

}  // namespace

template <class T>
const PackedKernel<T>& packed_kernel() {
  static const PackedKernel<T> chosen = [] {
#if defined(RECUR_PACKED_X86)
    if (isa() == Isa::kAvx512) return avx512::kernel<T>();
    if (isa() == Isa::kAvx2) return avx2::kernel<T>();
#endif
    return generic::kernel<T>();
  }();
  return chosen;
}

const char* packed_kernel_name() {
  switch (isa()) {
    case Isa::kAvx512:
      return "avx512";
    case Isa::kAvx2:
      return "avx2";
    default:
      return "generic";
  }
}

template const PackedKernel<float>& packed_kernel<float>();
template const PackedKernel<double>& packed_kernel<double>();

}  // namespace detail

const char* packed_gemm_isa() {
  return detail::packed_kernel_name();
}

bool packed_gemm_fused() {
  return detail::packed_kernel<float>().fused_multiply_add;
}

template class PackedMatrix<float>;
template class PackedMatrix<double>;
template void gemm_packed<float>(index_t, const float*, index_t, const PackedMatrix<float>&, float, float*,
                                 index_t);
template void gemm_packed<double>(index_t, const double*, index_t, const PackedMatrix<double>&, double,
                                  double*, index_t);

}  // namespace recur
