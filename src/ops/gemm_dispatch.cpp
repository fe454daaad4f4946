// gemm / gemv entry points: argument checks, trivial cases, M = 1 → GEMV routing, and the split of
// large products over recur's threads. The backend calls are single-threaded.
#include <fmt/format.h>
#include <algorithm>
#include <cstdint>
#include <initializer_list>

#include "gemm_backend.h"
#include "recur/threads.h"

namespace recur {

namespace {

// Below this many multiply-adds a product runs on one thread (thread start-up would dominate).
constexpr index_t kMinParallelMacs = index_t(1) << 17;
// Blocks handed to threads are multiples of this many rows/columns (keeps the BLAS kernels' panels whole).
constexpr index_t kSplitAlign = 16;

// BLAS takes 32-bit integers; recur checks here, before any thread starts (an exception must
// not leave an OpenMP region).
constexpr index_t kMaxBlasDim = INT32_MAX;

void check_blas_range(const char* op, std::initializer_list<index_t> dims) {
  for (index_t d : dims)
    RECUR_CHECK(d <= kMaxBlasDim, fmt::format("{}: dimension {} exceeds the BLAS limit 2^31 - 1", op, d));
}

// Splits [0, n) into `parts` blocks aligned to kSplitAlign; returns the start of block p.
index_t block_start(index_t n, int parts, int p) {
  if (p >= parts) return n;
  const index_t blocks = (n + kSplitAlign - 1) / kSplitAlign;
  return std::min(n, blocks * p / parts * kSplitAlign);
}

}  // namespace

template <class T>
void gemm(Trans ta, Trans tb, index_t M, index_t N, index_t K, T alpha, const T* A, index_t lda, const T* B,
          index_t ldb, T beta, T* C, index_t ldc) {
  RECUR_CHECK(M >= 0 && N >= 0 && K >= 0, fmt::format("gemm: negative size M={} N={} K={}", M, N, K));
  check_blas_range("gemm", {M, N, K, lda, ldb, ldc});
  if (M == 0 || N == 0) return;
  RECUR_CHECK(ldc >= N, fmt::format("gemm: ldc={} is smaller than N={}", ldc, N));
  if (K == 0) {  // C = beta · C
    for (index_t i = 0; i < M; ++i)
      for (index_t j = 0; j < N; ++j) C[i * ldc + j] = beta == T(0) ? T(0) : beta * C[i * ldc + j];
    return;
  }
  const index_t a_cols = ta == Trans::kYes ? M : K, b_cols = tb == Trans::kYes ? K : N;
  RECUR_CHECK(lda >= a_cols && ldb >= b_cols,
              fmt::format("gemm: leading dimension too small (M={} N={} K={} lda={} ldb={} ldc={})", M, N, K,
                          lda, ldb, ldc));
  // One output row with a contiguous A row: C(1,N) = op(B)ᵀ(N,K) · a(K).
  if (M == 1 && ta == Trans::kNo) {
    gemv(tb == Trans::kYes ? Trans::kNo : Trans::kYes, N, K, alpha, B, ldb, A, beta, C);
    return;
  }
  // One output column with contiguous x and y: C(M,1) = op(A)(M,K) · b(K).
  if (N == 1 && ldc == 1 && (tb == Trans::kYes || ldb == 1)) {
    gemv(ta, M, K, alpha, A, lda, B, beta, C);
    return;
  }
  // M·N·K can exceed 2^63 for legal (if absurd) sizes; only its order of magnitude matters here.
  const double macs = double(M) * double(N) * double(K);
  const int threads = detail::threads_for(macs < 0x1p62 ? index_t(macs) : index_t(1) << 62, kMinParallelMacs);
  const bool split_rows = M >= N;
  const index_t extent = split_rows ? M : N;
  const int parts = static_cast<int>(std::min<index_t>(threads, (extent + kSplitAlign - 1) / kSplitAlign));
  if (parts <= 1) {
    detail::gemm_backend(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
#pragma omp parallel for num_threads(parts) schedule(static, 1)
  for (int p = 0; p < parts; ++p) {
    const index_t begin = block_start(extent, parts, p), end = block_start(extent, parts, p + 1);
    if (begin == end) continue;
    if (split_rows) {  // rows [begin, end) of op(A) and C
      const T* a = ta == Trans::kYes ? A + begin : A + begin * lda;
      detail::gemm_backend(ta, tb, end - begin, N, K, alpha, a, lda, B, ldb, beta, C + begin * ldc, ldc);
    } else {  // columns [begin, end) of op(B) and C
      const T* b = tb == Trans::kYes ? B + begin * ldb : B + begin;
      detail::gemm_backend(ta, tb, M, end - begin, K, alpha, A, lda, b, ldb, beta, C + begin, ldc);
    }
  }
}

template <class T>
void gemv(Trans ta, index_t M, index_t N, T alpha, const T* A, index_t lda, const T* x, T beta, T* y) {
  RECUR_CHECK(M >= 0 && N >= 0, fmt::format("gemv: negative size M={} N={}", M, N));
  check_blas_range("gemv", {M, N, lda});
  if (M == 0) return;
  if (N == 0) {
    for (index_t i = 0; i < M; ++i) y[i] = beta == T(0) ? T(0) : beta * y[i];
    return;
  }
  RECUR_CHECK(lda >= (ta == Trans::kYes ? M : N),
              fmt::format("gemv: leading dimension {} too small for op(A) ({}, {})", lda, M, N));
  // Split the output rows; for kYes that is a column block of the stored matrix.
  const int threads = detail::threads_for(M * N, kMinParallelMacs);
  const int parts = static_cast<int>(std::min<index_t>(threads, (M + kSplitAlign - 1) / kSplitAlign));
  if (parts <= 1) {
    detail::gemv_backend(ta, M, N, alpha, A, lda, x, beta, y);
    return;
  }
#pragma omp parallel for num_threads(parts) schedule(static, 1)
  for (int p = 0; p < parts; ++p) {
    const index_t begin = block_start(M, parts, p), end = block_start(M, parts, p + 1);
    if (begin == end) continue;
    const T* a = ta == Trans::kYes ? A + begin : A + begin * lda;
    detail::gemv_backend(ta, end - begin, N, alpha, a, lda, x, beta, y + begin);
  }
}

RECUR_INSTANTIATE_GEMM_PAIR(gemm, gemv, float)
RECUR_INSTANTIATE_GEMM_PAIR(gemm, gemv, double)

}  // namespace recur
