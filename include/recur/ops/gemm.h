// GEMM / GEMV: the one seam between recur and a BLAS (row-major throughout).
//
//   C (M, N) = alpha · op(A) · op(B) + beta · C      op(A): (M, K), op(B): (K, N)
//   y (M)    = alpha · op(A) · x + beta · y          op(A): (M, N), x: (N)
//
// Backends (CMake RECUR_BLAS): `openblas` (src/ops/gemm_blas.cpp, the only file that includes
// cblas.h) or `reference` (the plain loops of gemm_reference, also the test oracle).
// Batch-1 products go to GEMV (OpenBLAS runs M = 1 SGEMM 2.5-10x slower than SGEMV): M == 1 with
// op(A) = A, and N == 1 when the column of op(B) and of C is contiguous (op(B) = Bᵀ or ldb == 1,
// and ldc == 1). Large products are split over recur's threads (threads.h); OpenBLAS itself runs
// single-threaded. beta == 0 means C is overwritten (NaNs in C are not propagated), as in BLAS.
// Every dimension and leading dimension must be below 2^31 (BLAS integers); zero sizes are fine.
#pragma once

#include "recur/common.h"

namespace recur {

enum class Trans : bool { kNo = false, kYes = true };

template <class T>
void gemm(Trans trans_a, Trans trans_b, index_t M, index_t N, index_t K, T alpha, const T* A, index_t lda,
          const T* B, index_t ldb, T beta, T* C, index_t ldc);

template <class T>
void gemv(Trans trans_a, index_t M, index_t N, T alpha, const T* A, index_t lda, const T* x, T beta, T* y);

// The oracle: textbook loops, accumulating in double. Same contract as gemm / gemv.
template <class T>
void gemm_reference(Trans trans_a, Trans trans_b, index_t M, index_t N, index_t K, T alpha, const T* A,
                    index_t lda, const T* B, index_t ldb, T beta, T* C, index_t ldc);
template <class T>
void gemv_reference(Trans trans_a, index_t M, index_t N, T alpha, const T* A, index_t lda, const T* x, T beta,
                    T* y);

// Name of the compiled backend: "openblas" or "reference".
const char* blas_backend();
// The kernels the backend runs: OpenBLAS's core name ("Cooperlake", "Haswell", ...), which it picks
// for the CPU unless OPENBLAS_CORETYPE names one, or "reference". Benchmarks report it: on an
// AVX-512 CPU, OPENBLAS_CORETYPE=Haswell halves OpenBLAS's SGEMM rate.
const char* blas_core();

}  // namespace recur
