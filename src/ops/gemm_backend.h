// Internal: the single-threaded backend calls behind gemm()/gemv(), implemented by gemm_blas.cpp
// (OpenBLAS) or by the reference loops (gemm_reference.cpp). Same contract as gemm/gemv in
// recur/ops/gemm.h; arguments are already checked (dimensions fit 32-bit BLAS integers).
#pragma once

#include "recur/ops/gemm.h"

namespace recur::detail {

template <class T>
void gemm_backend(Trans trans_a, Trans trans_b, index_t M, index_t N, index_t K, T alpha, const T* A,
                  index_t lda, const T* B, index_t ldb, T beta, T* C, index_t ldc);
template <class T>
void gemv_backend(Trans trans_a, index_t M, index_t N, T alpha, const T* A, index_t lda, const T* x, T beta,
                  T* y);

// Each backend file instantiates both precisions with this.
#define RECUR_INSTANTIATE_GEMM_BACKEND(T)                                                                \
  template void gemm_backend<T>(Trans, Trans, index_t, index_t, index_t, T, const T*, index_t, const T*, \
                                index_t, T, T*, index_t);                                                \
  template void gemv_backend<T>(Trans, index_t, index_t, T, const T*, index_t, const T*, T, T*);

}  // namespace recur::detail
