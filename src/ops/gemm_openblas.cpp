// The `openblas` backend, the only file that includes cblas.h: recur's single-threaded calls into
// OpenBLAS. Threading is recur's (gemm_dispatch.cpp splits the product); OpenBLAS is pinned to one thread,
// so its pthread workers (started idle when the library loads) never compete with recur's OpenMP
// threads for the cores.
#include <cblas.h>

#include <mutex>

#include "gemm_backend.h"

namespace recur {

namespace {

void pin_openblas_to_one_thread() {
  static std::once_flag once;
  std::call_once(once, [] { openblas_set_num_threads(1); });
}

// Dimensions were checked against INT_MAX in gemm_dispatch.cpp.
blasint to_blas(index_t v) {
  return static_cast<blasint>(v);
}
CBLAS_TRANSPOSE to_blas(Trans t) {
  return t == Trans::kYes ? CblasTrans : CblasNoTrans;
}

// One name per precision, so the templates below are written once.
void cblas_gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, blasint M, blasint N, blasint K, float alpha,
                const float* A, blasint lda, const float* B, blasint ldb, float beta, float* C, blasint ldc) {
  cblas_sgemm(CblasRowMajor, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}
void cblas_gemm(CBLAS_TRANSPOSE ta, CBLAS_TRANSPOSE tb, blasint M, blasint N, blasint K, double alpha,
                const double* A, blasint lda, const double* B, blasint ldb, double beta, double* C,
                blasint ldc) {
  cblas_dgemm(CblasRowMajor, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}
void cblas_gemv(CBLAS_TRANSPOSE ta, blasint rows, blasint cols, float alpha, const float* A, blasint lda,
                const float* x, float beta, float* y) {
  cblas_sgemv(CblasRowMajor, ta, rows, cols, alpha, A, lda, x, 1, beta, y, 1);
}
void cblas_gemv(CBLAS_TRANSPOSE ta, blasint rows, blasint cols, double alpha, const double* A, blasint lda,
                const double* x, double beta, double* y) {
  cblas_dgemv(CblasRowMajor, ta, rows, cols, alpha, A, lda, x, 1, beta, y, 1);
}

}  // namespace

namespace detail {

const char* openblas_core() {
  return openblas_get_corename();
}

template <class T>
void gemm_openblas(Trans ta, Trans tb, index_t M, index_t N, index_t K, T alpha, const T* A, index_t lda,
                   const T* B, index_t ldb, T beta, T* C, index_t ldc) {
  pin_openblas_to_one_thread();
  cblas_gemm(to_blas(ta), to_blas(tb), to_blas(M), to_blas(N), to_blas(K), alpha, A, to_blas(lda), B,
             to_blas(ldb), beta, C, to_blas(ldc));
}

// gemv's op(A) is (M, N): stored (M, N) for kNo, (N, M) for kYes; cblas wants the stored shape.
template <class T>
void gemv_openblas(Trans ta, index_t M, index_t N, T alpha, const T* A, index_t lda, const T* x, T beta,
                   T* y) {
  pin_openblas_to_one_thread();
  const bool t = ta == Trans::kYes;
  cblas_gemv(to_blas(ta), to_blas(t ? N : M), to_blas(t ? M : N), alpha, A, to_blas(lda), x, beta, y);
}

RECUR_INSTANTIATE_GEMM_PAIR(gemm_openblas, gemv_openblas, float)
RECUR_INSTANTIATE_GEMM_PAIR(gemm_openblas, gemv_openblas, double)

}  // namespace detail
}  // namespace recur
