// GEMM / GEMV: the one seam between recur and a BLAS (row-major throughout).
//
//   C (M, N) = alpha · op(A) · op(B) + beta · C      op(A): (M, K), op(B): (K, N)
//   y (M)    = alpha · op(A) · x + beta · y          op(A): (M, N), x: (N)
//
// Backends, one file each in src/ops/: `dnnl` (oneDNN's sgemm, JIT-compiled for the CPU's instruction
// set at run time; single precision, double goes to the next backend), `openblas` (OpenBLAS, whose
// kernels are picked by CPU model or OPENBLAS_CORETYPE) and `reference` (the plain loops of
// gemm_reference, also the test oracle). A build has the reference and those CMake's RECUR_BLAS asked
// for; the best it has runs (dnnl, then openblas), unless RECUR_BLAS in the environment or
// set_blas_backend() names another.
// Batch-1 products go to GEMV (OpenBLAS runs M = 1 SGEMM 2.5-10x slower than SGEMV): M == 1 with
// op(A) = A, and N == 1 when the column of op(B) and of C is contiguous (op(B) = Bᵀ or ldb == 1,
// and ldc == 1). Large products are split over recur's threads (threads.h); every backend call
// runs single-threaded. beta == 0 means C is overwritten (NaNs in C are not propagated), as in BLAS.
// Every dimension and leading dimension must be below 2^31 (BLAS integers); zero sizes are fine.
#pragma once

#include <span>
#include <string_view>

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

// The backends this build has, best first (e.g. {"dnnl", "openblas", "reference"}).
std::span<const char* const> blas_backends();
// The backend gemm/gemv use now: the first of blas_backends(), or the one RECUR_BLAS names in the
// environment (read once, at the first call of these functions or of a product; an unknown or unbuilt
// name throws, listing those built).
const char* blas_backend();
// Switches every later product to the named backend (one of blas_backends(); throws otherwise).
// Not for use while another thread computes a product.
void set_blas_backend(std::string_view name);
// The kernels the active backend runs, for benchmark records: oneDNN's instruction set
// ("avx512_core_amx", ...), OpenBLAS's core ("SkylakeX", "Haswell", ... : its guess from the CPU model
// unless OPENBLAS_CORETYPE names one; "Prescott", SSE3, when it does not know the CPU), or "reference".
const char* blas_core();

}  // namespace recur
