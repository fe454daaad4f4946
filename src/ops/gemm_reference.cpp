// The GEMM/GEMV oracle and the `reference` backend: plain loops, accumulation in double.
#include "gemm_backend.h"

namespace recur {

template <class T>
void gemm_reference(Trans trans_a, Trans trans_b, index_t M, index_t N, index_t K, T alpha, const T* A,
                    index_t lda, const T* B, index_t ldb, T beta, T* C, index_t ldc) {
  for (index_t i = 0; i < M; ++i) {
    for (index_t j = 0; j < N; ++j) {
      double acc = 0;
      for (index_t k = 0; k < K; ++k) {
        const double a = trans_a == Trans::kYes ? A[k * lda + i] : A[i * lda + k];
        const double b = trans_b == Trans::kYes ? B[j * ldb + k] : B[k * ldb + j];
        acc += a * b;
      }
      T& c = C[i * ldc + j];
      c = static_cast<T>(double(alpha) * acc + (beta == T(0) ? 0.0 : double(beta) * double(c)));
    }
  }
}

template <class T>
void gemv_reference(Trans trans_a, index_t M, index_t N, T alpha, const T* A, index_t lda, const T* x, T beta,
                    T* y) {
  // op(A) is (M, N); stored A is (M, N) for kNo and (N, M) for kYes.
  for (index_t i = 0; i < M; ++i) {
    double acc = 0;
    for (index_t j = 0; j < N; ++j)
      acc += double(trans_a == Trans::kYes ? A[j * lda + i] : A[i * lda + j]) * x[j];
    y[i] = static_cast<T>(double(alpha) * acc + (beta == T(0) ? 0.0 : double(beta) * double(y[i])));
  }
}

RECUR_INSTANTIATE_GEMM_PAIR(gemm_reference, gemv_reference, float)
RECUR_INSTANTIATE_GEMM_PAIR(gemm_reference, gemv_reference, double)

}  // namespace recur
