// Products against a matrix packed once and used many times: the recurrent weights, which
// multiply a new (B, H) state at every step of a sequence.
//
//   C (M, N) = A (M, K) · op(W) + beta · C       op(W): (K, N)
//   W stored (N, K) with Trans::kYes (nn.Linear layout, C = A · Wᵀ), or (K, N) with Trans::kNo
//
// recur's own kernel, not a BLAS call: OpenBLAS repacks W on every call, which at RNN step shapes
// (M = B rows against a 4H × H matrix) costs as much memory traffic as the product itself. Here W is
// laid out once in panels of panel_width() columns, each (K, panel_width()) contiguous, the last
// one zero-padded, and a register-blocked kernel streams the panels.
//
// Every element of C is one multiply-add chain over k = 0 … K−1 in order, whatever M, the row block
// it falls in and the thread count. So a product over T·B rows and T products over B rows give the
// same bits: inference over a whole sequence and RnnStream step by step agree exactly.
#pragma once

#include <memory>

#include "recur/ops/gemm.h"

namespace recur {

template <class T>
class PackedMatrix {
 public:
  // Columns per panel: three SIMD vectors of the library's target (AVX-512: 48 floats, 24 doubles;
  // otherwise 32-byte vectors: 24 floats, 12 doubles).
  static index_t panel_width();

  PackedMatrix() = default;
  // Packs op(W): (K, N) from W with leading dimension ldw (W is (N, K) for kYes, (K, N) for kNo).
  PackedMatrix(Trans trans_w, index_t K, index_t N, const T* W, index_t ldw);

  index_t k() const { return K_; }
  index_t n() const { return N_; }
  bool empty() const { return data_ == nullptr; }
  index_t panels() const { return (N_ + panel_width() - 1) / panel_width(); }
  // Panel p: (K, panel_width()) row-major, columns [p·panel_width(), …) of op(W). The first panel
  // is 64-byte aligned, every panel to the kernel's vector size (a third of a panel row).
  const T* panel(index_t p) const { return data_.get() + p * K_ * panel_width(); }

 private:
  index_t K_ = 0, N_ = 0;
  std::shared_ptr<T[]> data_;
};

// C (M, N) = A (M, K) · op(W) + beta · C. beta == 0 overwrites C (NaNs in C are not propagated).
// Split over recur's threads, by column panels and row chunks, when the product is large enough.
template <class T>
void gemm_packed(index_t M, const T* A, index_t lda, const PackedMatrix<T>& W, T beta, T* C, index_t ldc);

// The kernel chosen for this CPU at first use: "avx512", "avx2" or "generic" (compiled for each,
// whatever the build's -march), and whether its multiply-adds are fused (one rounding each). The
// environment variable RECUR_PACKED_ISA (avx512, avx2 or generic) caps the choice.
const char* packed_gemm_isa();
bool packed_gemm_fused();

extern template class PackedMatrix<float>;
extern template class PackedMatrix<double>;

}  // namespace recur
