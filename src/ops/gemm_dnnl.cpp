// The `dnnl` backend, the only file that includes dnnl.h: single-precision products through oneDNN's
// dnnl_sgemm, which JIT-compiles its kernels for the instruction set it finds on the CPU at run time
// (unlike OpenBLAS 0.3.21, which falls back to SSE3 kernels on CPUs it does not recognise). oneDNN
// has no double-precision GEMM; gemm_backends.cpp hands double to the next backend.
//
// Threads: oneDNN runs on OpenMP (Debian's libdnnl is built with libgomp, the runtime recur uses), and
// inside a parallel region it runs single-threaded. gemm_dispatch.cpp splits large products over
// recur's threads itself, so each call here must use one thread; outside a parallel region oneDNN
// would start omp_get_max_threads() threads, so the call is made with OpenMP's thread count set to 1
// for its duration (a per-thread setting, restored after).
#include <dnnl.h>
#include <fmt/format.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "gemm_backend.h"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace recur::detail {

namespace {

// Sets OpenMP's thread count for parallel regions this thread starts to 1, while it lives.
class OneOpenMpThread {
 public:
  OneOpenMpThread() {
#ifdef _OPENMP
    if (!omp_in_parallel()) {
      saved_ = omp_get_max_threads();
      omp_set_num_threads(1);
    }
#endif
  }
  ~OneOpenMpThread() {
#ifdef _OPENMP
    if (saved_ > 0) omp_set_num_threads(saved_);
#endif
  }
  OneOpenMpThread(const OneOpenMpThread&) = delete;
  OneOpenMpThread& operator=(const OneOpenMpThread&) = delete;

 private:
  int saved_ = 0;
};

char to_dnnl(Trans t) {
  return t == Trans::kYes ? 'T' : 'N';
}

// gemm_dispatch.cpp has checked every argument, so a failure here is a bug in recur; this may run
// inside an OpenMP region, where an exception must not escape.
void check_status(dnnl_status_t status, index_t M, index_t N, index_t K) {
  if (status == dnnl_success) return;
  std::fputs(
      fmt::format("recur: dnnl_sgemm failed with status {} (M={} N={} K={})\n", int(status), M, N, K).c_str(),
      stderr);
  std::abort();
}

// C = Aᵀ·B with more rows than columns and a long K is the weight gradient's shape (dW = dGᵀ·X:
// 4H x H x T·B). oneDNN 2.6's sgemm runs it 1.7x slower than the transposed product Cᵀ = Bᵀ·A
// (2048 x 512 x 6400: 58 vs 102 GFLOP/s on one core of an AVX-512 Xeon, same sitting), so that one
// is computed into a scratch and added transposed; with K ≥ kMinTransposedK the transpose costs
// under 1% of the product.
constexpr index_t kMinTransposedK = 256;

bool better_transposed(Trans ta, Trans tb, index_t M, index_t N, index_t K) {
  return ta == Trans::kYes && tb == Trans::kNo && M > N && K >= kMinTransposedK;
}

// C (M, N) = Sᵀ + beta · C, S: (N, M) contiguous. Tiles keep both sides in L1.
void add_transposed(index_t M, index_t N, const float* S, float beta, float* C, index_t ldc) {
  constexpr index_t kTile = 32;
  for (index_t i0 = 0; i0 < M; i0 += kTile) {
    const index_t i1 = std::min(M, i0 + kTile);
    for (index_t j0 = 0; j0 < N; j0 += kTile) {
      const index_t j1 = std::min(N, j0 + kTile);
      for (index_t i = i0; i < i1; ++i) {
        float* c = C + i * ldc;
        for (index_t j = j0; j < j1; ++j) c[j] = S[j * M + i] + (beta == 0.f ? 0.f : beta * c[j]);
      }
    }
  }
}

}  // namespace

// Row-major, as recur's gemm (dnnl_sgemm takes row-major operands).
void gemm_dnnl(Trans ta, Trans tb, index_t M, index_t N, index_t K, float alpha, const float* A, index_t lda,
               const float* B, index_t ldb, float beta, float* C, index_t ldc) {
  OneOpenMpThread one;
  if (better_transposed(ta, tb, M, N, K)) {
    // Cᵀ (N, M) = alpha · Bᵀ (N, K) · A (K, M), then C = Cᵀᵀ + beta · C.
    thread_local std::vector<float> scratch;
    scratch.resize(static_cast<size_t>(M * N));
    check_status(dnnl_sgemm('T', 'N', N, M, K, alpha, B, ldb, A, lda, 0.f, scratch.data(), M), N, M, K);
    add_transposed(M, N, scratch.data(), beta, C, ldc);
    return;
  }
  check_status(dnnl_sgemm(to_dnnl(ta), to_dnnl(tb), M, N, K, alpha, A, lda, B, ldb, beta, C, ldc), M, N, K);
}

// y (M) = alpha · op(A) · x + beta · y, op(A): (M, N). oneDNN's GEMM driver has GEMV kernels for a
// one-column product, which this is: C (M, 1) = op(A) (M, N) · x (N, 1).
void gemv_dnnl(Trans ta, index_t M, index_t N, float alpha, const float* A, index_t lda, const float* x,
               float beta, float* y) {
  OneOpenMpThread one;
  check_status(dnnl_sgemm(to_dnnl(ta), 'N', M, 1, N, alpha, A, lda, x, 1, beta, y, 1), M, 1, N);
}

const char* dnnl_isa() {
  switch (dnnl_get_effective_cpu_isa()) {
    case dnnl_cpu_isa_sse41:
      return "sse41";
    case dnnl_cpu_isa_avx:
      return "avx";
    case dnnl_cpu_isa_avx2:
      return "avx2";
    case dnnl_cpu_isa_avx2_vnni:
      return "avx2_vnni";
    case dnnl_cpu_isa_avx512_mic:
      return "avx512_mic";
    case dnnl_cpu_isa_avx512_mic_4ops:
      return "avx512_mic_4ops";
    case dnnl_cpu_isa_avx512_core:
      return "avx512_core";
    case dnnl_cpu_isa_avx512_core_vnni:
      return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core_bf16:
      return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_amx:
      return "avx512_core_amx";
    default:
      return "generic";  // no x86 ISA oneDNN knows (or a newer enumerator)
  }
}

}  // namespace recur::detail
