// The only file that includes cblas.h: recur's single-threaded calls into OpenBLAS.
// Threading is recur's (gemm_dispatch.cpp splits the product); OpenBLAS is pinned to one thread
// so its pthread pool never competes with recur's OpenMP threads for the cores.
#include <cblas.h>

#include <climits>
#include <mutex>
#include <string>

#include "recur/ops/gemm.h"

namespace recur {

namespace {

void pin_openblas_to_one_thread() {
  static std::once_flag once;
  std::call_once(once, [] { openblas_set_num_threads(1); });
}

blasint to_blas(index_t v, const char* what) {
  RECUR_CHECK(v >= 0 && v <= INT_MAX, std::string("BLAS dimension ") + what + " = " + std::to_string(v) +
                                          " does not fit OpenBLAS's 32-bit integers");
  return static_cast<blasint>(v);
}

CBLAS_TRANSPOSE to_blas(Trans t) {
  return t == Trans::kYes ? CblasTrans : CblasNoTrans;
}

}  // namespace

const char* blas_backend() {
  return "openblas";
}

namespace detail {

template <>
void gemm_backend<float>(Trans ta, Trans tb, index_t M, index_t N, index_t K, float alpha, const float* A,
                         index_t lda, const float* B, index_t ldb, float beta, float* C, index_t ldc) {
  pin_openblas_to_one_thread();
  cblas_sgemm(CblasRowMajor, to_blas(ta), to_blas(tb), to_blas(M, "M"), to_blas(N, "N"), to_blas(K, "K"),
              alpha, A, to_blas(lda, "lda"), B, to_blas(ldb, "ldb"), beta, C, to_blas(ldc, "ldc"));
}

template <>
void gemm_backend<double>(Trans ta, Trans tb, index_t M, index_t N, index_t K, double alpha, const double* A,
                          index_t lda, const double* B, index_t ldb, double beta, double* C, index_t ldc) {
  pin_openblas_to_one_thread();
  cblas_dgemm(CblasRowMajor, to_blas(ta), to_blas(tb), to_blas(M, "M"), to_blas(N, "N"), to_blas(K, "K"),
              alpha, A, to_blas(lda, "lda"), B, to_blas(ldb, "ldb"), beta, C, to_blas(ldc, "ldc"));
}

// gemv's op(A) is (M, N): stored (M, N) for kNo, (N, M) for kYes; cblas wants the stored shape.
template <>
void gemv_backend<float>(Trans ta, index_t M, index_t N, float alpha, const float* A, index_t lda,
                         const float* x, float beta, float* y) {
  pin_openblas_to_one_thread();
  const bool t = ta == Trans::kYes;
  cblas_sgemv(CblasRowMajor, to_blas(ta), to_blas(t ? N : M, "rows"), to_blas(t ? M : N, "cols"), alpha, A,
              to_blas(lda, "lda"), x, 1, beta, y, 1);
}

template <>
void gemv_backend<double>(Trans ta, index_t M, index_t N, double alpha, const double* A, index_t lda,
                          const double* x, double beta, double* y) {
  pin_openblas_to_one_thread();
  const bool t = ta == Trans::kYes;
  cblas_dgemv(CblasRowMajor, to_blas(ta), to_blas(t ? N : M, "rows"), to_blas(t ? M : N, "cols"), alpha, A,
              to_blas(lda, "lda"), x, 1, beta, y, 1);
}

}  // namespace detail
}  // namespace recur
