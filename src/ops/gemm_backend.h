// Internal: the backends behind gemm()/gemv() and the run-time choice between them.
//
// Each backend is one file and makes single-threaded calls (recur's threads split the product in
// gemm_dispatch.cpp): gemm_reference.cpp (plain loops, always built), gemm_openblas.cpp (the only
// file with cblas.h, built when RECUR_HAVE_OPENBLAS), gemm_dnnl.cpp (the only file with dnnl.h,
// single precision only, built when RECUR_HAVE_DNNL). gemm_backends.cpp picks the active one.
// Same contract as gemm/gemv in recur/ops/gemm.h; arguments are already checked (dimensions fit
// 32-bit BLAS integers).
#pragma once

#include "recur/ops/gemm.h"

// Instantiates a gemm/gemv pair with the signatures of recur/ops/gemm.h for scalar T, in the
// namespace where it is expanded: the entry points, the reference loops and each backend use it.
#define RECUR_INSTANTIATE_GEMM_PAIR(GEMM, GEMV, T)                                                           \
  template void GEMM<T>(Trans, Trans, index_t, index_t, index_t, T, const T*, index_t, const T*, index_t, T, \
                        T*, index_t);                                                                        \
  template void GEMV<T>(Trans, index_t, index_t, T, const T*, index_t, const T*, T, T*);

namespace recur::detail {

// The active backend, for T (a backend without T, e.g. oneDNN for double, hands it to the next one).
template <class T>
void gemm_backend(Trans trans_a, Trans trans_b, index_t M, index_t N, index_t K, T alpha, const T* A,
                  index_t lda, const T* B, index_t ldb, T beta, T* C, index_t ldc);
template <class T>
void gemv_backend(Trans trans_a, index_t M, index_t N, T alpha, const T* A, index_t lda, const T* x, T beta,
                  T* y);

#ifdef RECUR_HAVE_OPENBLAS
template <class T>
void gemm_openblas(Trans trans_a, Trans trans_b, index_t M, index_t N, index_t K, T alpha, const T* A,
                   index_t lda, const T* B, index_t ldb, T beta, T* C, index_t ldc);
template <class T>
void gemv_openblas(Trans trans_a, index_t M, index_t N, T alpha, const T* A, index_t lda, const T* x, T beta,
                   T* y);
const char* openblas_core();  // OpenBLAS's kernel name ("SkylakeX", "Prescott", ...)
#endif

#ifdef RECUR_HAVE_DNNL
void gemm_dnnl(Trans trans_a, Trans trans_b, index_t M, index_t N, index_t K, float alpha, const float* A,
               index_t lda, const float* B, index_t ldb, float beta, float* C, index_t ldc);
void gemv_dnnl(Trans trans_a, index_t M, index_t N, float alpha, const float* A, index_t lda, const float* x,
               float beta, float* y);
const char* dnnl_isa();  // the instruction set oneDNN's JIT targets on this CPU ("avx512_core", ...)
#endif

}  // namespace recur::detail
