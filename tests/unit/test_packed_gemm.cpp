// recur::PackedMatrix / gemm_packed (ops/packed_gemm.h) against the double-accumulated oracle
// gemm_reference and against the exact value the header promises (one fused multiply-add chain over
// k = 0 … K−1 per element of C). Covers both layouts of W, row counts on either side of the 8-row
// block, column counts on either side of the panel width, K = 0, every beta, leading dimensions wider
// than the rows (NaN in the padding of A and W, a sentinel in C's padding), beta = 0 over NaN, the
// packed layout itself, argument errors, and the bit-identity of rows across M, row blocking and the
// thread count.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <limits>
#include <string>
#include <vector>

#include "recur/ops/gemm.h"
#include "recur/ops/packed_gemm.h"
#include "recur/rng.h"
#include "recur/threads.h"
#include "test_util.h"

namespace recur {
namespace {

using ::recur::testing::all_close;
using ::recur::testing::eps_of;
using ::recur::testing::random_matrix;
using ::recur::testing::ThreadCountGuard;
using ::recur::testing::throws_error_with;
using ::recur::testing::trans_name;

// A panel is three SIMD vectors of the kernel chosen for this CPU: 64 bytes (AVX-512), 32 (AVX2)
// or 16 (generic).
TEST(PackedMatrix, PanelIsThreeVectors) {
  const index_t float_bytes = PackedMatrix<float>::panel_width() * index_t(sizeof(float));
  EXPECT_TRUE(float_bytes == 3 * 64 || float_bytes == 3 * 32 || float_bytes == 3 * 16) << float_bytes;
  const std::string isa = packed_gemm_isa();
  EXPECT_EQ(float_bytes, isa == "avx512" ? 3 * 64 : isa == "avx2" ? 3 * 32 : 3 * 16) << isa;
  EXPECT_EQ(PackedMatrix<double>::panel_width() * index_t(sizeof(double)), float_bytes);
}

// Written into the padding of C (columns past N): gemm_packed must never touch it.
constexpr double kPadSentinel = 12345.0;

// Tolerance against the double-accumulated reference, per element (the reasoning of test_gemm.cpp):
//   atol = kGemmSlack · K · eps · max|a| · max|b|  +  kGemmSlack · eps · |beta| · max|c0|
//   rtol = kGemmResultUlps · eps
// The kernel accumulates each element sequentially, like a BLAS kernel, so the rounding errors grow
// linearly in K (measured for OpenBLAS: worst element 0.2-0.5 · K·eps); its FMAs round once per step
// instead of twice, which only lowers that. A slack of 2 leaves a 4x margin, while a dropped,
// duplicated or mis-strided term (error ~ |a||b| ~ 0.25 for U(-1, 1) operands) stays >= 2000x the
// tolerance for every K used here (K <= 513).
constexpr double kGemmSlack = 2.0;
constexpr double kGemmResultUlps = 4.0;  // acc + beta·c is rounded once more after the chain

// The beta values of every test. All are 0 or powers of two, so beta·c is exact and the final
// acc + beta·c rounds the same whether or not the compiler fuses it: the exact FMA-chain oracle below
// does not depend on that choice.
constexpr double kBetas[] = {0.0, 1.0, 0.5, -2.0};

constexpr Trans kBoth[] = {Trans::kNo, Trans::kYes};

// max |x| over the (rows, cols) block of a matrix with leading dimension ld (padding ignored).
template <class T>
double max_abs(const std::vector<T>& m, index_t rows, index_t cols, index_t ld) {
  double r = 0;
  for (index_t i = 0; i < rows; ++i)
    for (index_t j = 0; j < cols; ++j) {
      const double x = static_cast<double>(m[static_cast<size_t>(i * ld + j)]);
      if (!std::isnan(x)) r = std::max(r, std::abs(x));
    }
  return r;
}

// Passes iff the two buffers hold the same bytes; otherwise names the first differing element.
template <class T>
::testing::AssertionResult same_bits(const std::vector<T>& actual, const std::vector<T>& expected) {
  if (actual.size() != expected.size())
    return ::testing::AssertionFailure() << "sizes differ: " << actual.size() << " vs " << expected.size();
  if (std::memcmp(actual.data(), expected.data(), actual.size() * sizeof(T)) == 0)
    return ::testing::AssertionSuccess();
  size_t i = 0;
  while (std::memcmp(&actual[i], &expected[i], sizeof(T)) == 0) ++i;
  return ::testing::AssertionFailure()
         << "first differing element " << i << " of " << actual.size() << ": "
         << ::testing::PrintToString(actual[i]) << " vs " << ::testing::PrintToString(expected[i]);
}

// Random operands for C (M, N) = A (M, K) · op(W) + beta · C: A and W with `pad` extra columns holding
// NaN, C with `pad` extra columns holding kPadSentinel and, when beta = 0, NaN everywhere else.
template <class T>
struct Operands {
  Trans trans_w;
  index_t M, N, K, lda, ldw, ldc;
  std::vector<T> A, W, C0;
};

template <class T>
Operands<T> make_operands(Rng& rng, Trans trans_w, index_t M, index_t N, index_t K, index_t pad, bool nan_c) {
  const T nan = std::numeric_limits<T>::quiet_NaN();
  Operands<T> o{trans_w, M, N, K, K + pad, (trans_w == Trans::kYes ? K : N) + pad, N + pad, {}, {}, {}};
  o.A = random_matrix<T>(rng, M, K, o.lda, nan);
  o.W = trans_w == Trans::kYes ? random_matrix<T>(rng, N, K, o.ldw, nan)
                               : random_matrix<T>(rng, K, N, o.ldw, nan);
  o.C0 = random_matrix<T>(rng, M, N, o.ldc, T(kPadSentinel));
  if (nan_c)
    for (index_t i = 0; i < M; ++i)
      for (index_t j = 0; j < N; ++j) o.C0[static_cast<size_t>(i * o.ldc + j)] = nan;
  return o;
}

template <class T>
PackedMatrix<T> pack(const Operands<T>& o) {
  return PackedMatrix<T>(o.trans_w, o.K, o.N, o.W.data(), o.ldw);
}

// gemm_packed over the first M rows of o (M <= o.M), into a copy of C0 (by default o.C0).
template <class T>
std::vector<T> run_packed(const Operands<T>& o, const PackedMatrix<T>& packed, index_t M, T beta,
                          const std::vector<T>* C0 = nullptr) {
  std::vector<T> C = C0 ? *C0 : o.C0;
  gemm_packed<T>(M, o.A.data(), o.lda, packed, beta, C.data(), o.ldc);
  return C;
}

// Checks gemm_packed over the first M rows of o against gemm_reference: all of C, the rows past M and
// the padding included (neither side may touch them). With beta = 0, C starts as NaN (padding aside).
template <class T>
void check_against_reference(const Operands<T>& o, const PackedMatrix<T>& packed, index_t M, double beta) {
  SCOPED_TRACE(std::string("W ") + trans_name(o.trans_w) + " M=" + std::to_string(M) +
               " N=" + std::to_string(o.N) + " K=" + std::to_string(o.K) + " beta=" + std::to_string(beta) +
               " lda=" + std::to_string(o.lda) + " ldw=" + std::to_string(o.ldw) +
               " ldc=" + std::to_string(o.ldc));
  std::vector<T> C0 = o.C0;
  if (beta == 0)
    for (index_t i = 0; i < o.M; ++i)
      for (index_t j = 0; j < o.N; ++j)
        C0[static_cast<size_t>(i * o.ldc + j)] = std::numeric_limits<T>::quiet_NaN();
  std::vector<T> expected = C0;
  gemm_reference<T>(Trans::kNo, o.trans_w, M, o.N, o.K, T(1), o.A.data(), o.lda, o.W.data(), o.ldw, T(beta),
                    expected.data(), o.ldc);
  const std::vector<T> actual = run_packed(o, packed, M, T(beta), &C0);
  const double max_w =
      o.trans_w == Trans::kYes ? max_abs(o.W, o.N, o.K, o.ldw) : max_abs(o.W, o.K, o.N, o.ldw);
  const double atol =
      kGemmSlack * eps_of<T>() *
      (double(o.K) * max_abs(o.A, M, o.K, o.lda) * max_w + std::abs(beta) * max_abs(C0, M, o.N, o.ldc));
  EXPECT_TRUE(all_close(actual, expected, atol, kGemmResultUlps * eps_of<T>()));
  // Every element of the product is overwritten with a finite value. Checked apart: with K = 0 and
  // beta = 0 the tolerance is 0, and all_close then lets a NaN pass.
  if (beta == 0) {
    index_t not_finite = 0;
    for (index_t i = 0; i < M; ++i)
      for (index_t j = 0; j < o.N; ++j)
        not_finite += !std::isfinite(actual[static_cast<size_t>(i * o.ldc + j)]);
    EXPECT_EQ(not_finite, 0);
  }
}

template <class T>
class PackedGemmTest : public ::testing::Test {
 protected:
  static inline const index_t kP = PackedMatrix<T>::panel_width();
  // Column counts on both sides of one and two panel widths, and one far below.
  static inline const std::vector<index_t> kNs = {1, 5, kP - 1, kP, kP + 1, 2 * kP, 2 * kP + 4};
};
using FloatTypes = ::testing::Types<float, double>;
TYPED_TEST_SUITE(PackedGemmTest, FloatTypes);

// Row counts on both sides of the 8-row block (and of 2 blocks, 8 blocks): every remainder block the
// kernel dispatches on (1 to 7 rows) appears alone, and 1 and 7 also after full blocks.
constexpr index_t kMs[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 15, 16, 17, 64, 65};
constexpr index_t kMaxM = 65;
constexpr index_t kKs[] = {0, 1, 3, 64, 513};

// ---- gemm_packed vs the oracle ------------------------------------------------------------------------

TYPED_TEST(PackedGemmTest, MatchesReferenceAllShapes) {
  using T = TypeParam;
  // One set of operands per (trans_w, K, N), packed once; each M uses its first M rows. beta cycles so
  // that every (trans_w, K, N) and every M meets all four values; the padding width cycles over 0, 3, 1.
  constexpr index_t kPads[] = {0, 3, 1};
  int combo = 0;
  for (Trans trans_w : kBoth) {
    for (index_t K : kKs) {
      for (index_t N : TestFixture::kNs) {
        Rng rng(static_cast<std::uint64_t>(combo) + 1);
        const Operands<T> o = make_operands<T>(rng, trans_w, kMaxM, N, K, kPads[combo % 3], false);
        const PackedMatrix<T> packed = pack(o);
        for (size_t m = 0; m < std::size(kMs); ++m)
          check_against_reference(o, packed, kMs[m], kBetas[(m + combo) % 4]);
        ++combo;
      }
    }
  }
}

// Many panels, the last one partial (2048 = 42⅔ float panels, 85⅓ double panels), on 2 threads: the
// products with M >= 9 are large enough (>= 2^18 multiply-adds) to be split by panels.
TYPED_TEST(PackedGemmTest, WideProductSplitOverThreadsMatchesReference) {
  using T = TypeParam;
  ThreadCountGuard guard(2);
  ASSERT_EQ(num_threads(), 2);
  std::uint64_t seed = 100;
  for (Trans trans_w : kBoth) {
    for (const double beta : {0.0, 0.5}) {
      Rng rng(seed++);
      const Operands<T> o = make_operands<T>(rng, trans_w, 64, 2048, 64, 2, beta == 0);
      const PackedMatrix<T> packed = pack(o);
      for (index_t M : {index_t(1), index_t(9), index_t(64)}) check_against_reference(o, packed, M, beta);
    }
  }
}

// The header's promise, checked exactly: element (i, j) is acc = fma(a[i][k], op(W)[k][j], acc) for
// k = 0 … K−1 in order, from acc = +0, then acc + beta·c (or acc when beta = 0). Unlike the tolerance
// checks above this catches a reordered or split accumulation. The kernel's multiply-adds are fused
// where its instruction set has FMA (g++'s default -ffp-contract=fast); packed_gemm_fused() says which,
// and the oracle follows.
TYPED_TEST(PackedGemmTest, EachElementIsOneFmaChainInOrder) {
  using T = TypeParam;
  const index_t P = TestFixture::kP;
  std::uint64_t seed = 200;
  int combo = 0;
  for (Trans trans_w : kBoth) {
    for (index_t K : {index_t(1), index_t(3), index_t(64), index_t(513)}) {
      for (index_t N : {index_t(1), P - 1, P + 1, 2 * P + 4}) {
        Rng rng(seed++);
        const Operands<T> o = make_operands<T>(rng, trans_w, 17, N, K, 1, false);
        const PackedMatrix<T> packed = pack(o);
        ++combo;
        int m = 0;
        for (index_t M : {index_t(1), index_t(3), index_t(4), index_t(5), index_t(6), index_t(7), index_t(8),
                          index_t(10), index_t(17)}) {
          const T beta = T(kBetas[(m++ + combo) % 4]);
          SCOPED_TRACE(std::string("W ") + trans_name(trans_w) + " M=" + std::to_string(M) +
                       " N=" + std::to_string(N) + " K=" + std::to_string(K) +
                       " beta=" + std::to_string(double(beta)));
          std::vector<T> expected = o.C0;
          for (index_t i = 0; i < M; ++i) {
            for (index_t j = 0; j < N; ++j) {
              T acc = T(0);
              for (index_t k = 0; k < K; ++k) {
                const T a = o.A[static_cast<size_t>(i * o.lda + k)];
                const T w = o.W[static_cast<size_t>(trans_w == Trans::kYes ? j * o.ldw + k : k * o.ldw + j)];
                acc = packed_gemm_fused() ? std::fma(a, w, acc) : acc + a * w;
              }
              T& c = expected[static_cast<size_t>(i * o.ldc + j)];
              c = beta == T(0) ? acc : acc + beta * c;
            }
          }
          EXPECT_TRUE(same_bits(run_packed(o, packed, M, beta), expected));
        }
      }
    }
  }
}

TYPED_TEST(PackedGemmTest, BetaZeroOverwritesNaNAndInf) {
  using T = TypeParam;
  const T nan = std::numeric_limits<T>::quiet_NaN(), inf = std::numeric_limits<T>::infinity();
  for (Trans trans_w : kBoth) {
    for (index_t M : {index_t(1), index_t(5), index_t(8), index_t(11)}) {
      SCOPED_TRACE(std::string("W ") + trans_name(trans_w) + " M=" + std::to_string(M));
      const index_t N = TestFixture::kP + 3, K = 7;
      const std::vector<T> A(static_cast<size_t>(M * K), T(1)), W(static_cast<size_t>(K * N), T(2));
      const PackedMatrix<T> packed(trans_w, K, N, W.data(), trans_w == Trans::kYes ? K : N);
      std::vector<T> C(static_cast<size_t>(M * N), nan);
      for (size_t i = 0; i < C.size(); i += 3) C[i] = i % 2 ? inf : -inf;
      gemm_packed<T>(M, A.data(), K, packed, T(0), C.data(), N);
      // Σ_k 1·2 = 2K exactly. EXPECT_EQ, not all_close: with atol = rtol = 0, all_close lets a NaN pass.
      EXPECT_EQ(C, std::vector<T>(C.size(), T(2 * K)));
    }
  }
}

TYPED_TEST(PackedGemmTest, KZeroScalesC) {
  using T = TypeParam;
  const T nan = std::numeric_limits<T>::quiet_NaN();
  const T dummy[1] = {nan};  // never read
  const PackedMatrix<T> packed(Trans::kNo, 0, 3, dummy, 3);
  EXPECT_EQ(packed.panels(), 1);
  // C (2, 3) inside a (2, 4) buffer: C = beta·C, padding untouched.
  std::vector<T> C = {1, -2, 3, T(kPadSentinel), 4, 5, -6, T(kPadSentinel)};
  gemm_packed<T>(2, dummy, 0, packed, T(0.5), C.data(), 4);
  EXPECT_EQ(C, (std::vector<T>{0.5, -1, 1.5, T(kPadSentinel), 2, 2.5, -3, T(kPadSentinel)}));
  gemm_packed<T>(2, dummy, 0, packed, T(1), C.data(), 4);
  EXPECT_EQ(C, (std::vector<T>{0.5, -1, 1.5, T(kPadSentinel), 2, 2.5, -3, T(kPadSentinel)}));
  std::vector<T> D = {nan, nan, nan, T(kPadSentinel)};
  gemm_packed<T>(1, dummy, 0, packed, T(0), D.data(), 4);
  EXPECT_EQ(D, (std::vector<T>{0, 0, 0, T(kPadSentinel)}));
}

TYPED_TEST(PackedGemmTest, EmptyProductsTouchNothing) {
  using T = TypeParam;
  const T a[6] = {1, 2, 3, 4, 5, 6};
  std::vector<T> C(4, T(kPadSentinel));
  const PackedMatrix<T> packed(Trans::kNo, 3, 2, a, 2);
  gemm_packed<T>(0, a, 3, packed, T(0), C.data(), 2);  // M = 0
  const PackedMatrix<T> no_columns(Trans::kYes, 3, 0, a, 3);
  EXPECT_EQ(no_columns.panels(), 0);
  gemm_packed<T>(2, a, 3, no_columns, T(0), C.data(), 2);         // N = 0
  gemm_packed<T>(2, a, 3, PackedMatrix<T>(), T(0), C.data(), 2);  // default-constructed: (0, 0)
  EXPECT_EQ(C, std::vector<T>(4, T(kPadSentinel)));
}

// ---- bit-identity across M, row blocking and threads ----------------------------------------------------

// A row of C has the same bits whether it is computed in a product over 37 rows (4 blocks of 8, then 5),
// alone (M = 1), or in products of 3, 8 or 13 rows, where it lands in a different tile and tile row.
TYPED_TEST(PackedGemmTest, RowsDoNotDependOnMOrRowBlock) {
  using T = TypeParam;
  constexpr index_t M = 37;
  std::uint64_t seed = 300;
  for (Trans trans_w : kBoth) {
    for (const double beta : {0.0, 0.5}) {
      SCOPED_TRACE(std::string("W ") + trans_name(trans_w) + " beta=" + std::to_string(beta));
      Rng rng(seed++);
      const Operands<T> o = make_operands<T>(rng, trans_w, M, 2 * TestFixture::kP + 5, 513, 3, beta == 0);
      const PackedMatrix<T> packed = pack(o);
      const std::vector<T> whole = run_packed(o, packed, M, T(beta));
      for (index_t block : {index_t(1), index_t(3), index_t(8), index_t(13)}) {
        SCOPED_TRACE("rows in products of " + std::to_string(block));
        std::vector<T> C = o.C0;
        for (index_t r = 0; r < M; r += block)
          gemm_packed<T>(std::min(block, M - r), o.A.data() + r * o.lda, o.lda, packed, T(beta),
                         C.data() + r * o.ldc, o.ldc);
        EXPECT_TRUE(same_bits(C, whole));
      }
    }
  }
}

// M = 64, N = 2048, K = 512: 2^26 multiply-adds, far above the 2^18 needed to split the 43 (float) or
// 86 (double) panels over 2 threads. The same bits on 1 thread and on 2 threads, whether the rows come
// in one product, one at a time on 1 thread, or in products of 13 rows (≥ 2^23 multiply-adds) or of a
// single row (2^20) on 2 threads, each of them split too. Few products run on 2 threads: on a loaded
// machine every parallel region can wait for a descheduled thread.
TYPED_TEST(PackedGemmTest, ThreadCountDoesNotChangeBits) {
  using T = TypeParam;
  constexpr index_t M = 64;
  Rng rng(400);
  const Operands<T> o = make_operands<T>(rng, Trans::kYes, M, 2048, 512, 0, false);
  const PackedMatrix<T> packed = pack(o);
  // Rows [r, r + rows) of C = A · Wᵀ + C into C.
  const auto rows_into = [&](std::vector<T>& C, index_t r, index_t rows) {
    gemm_packed<T>(rows, o.A.data() + r * o.lda, o.lda, packed, T(1), C.data() + r * o.ldc, o.ldc);
  };
  std::vector<T> one_thread, row_by_row = o.C0;
  {
    ThreadCountGuard guard(1);
    one_thread = run_packed(o, packed, M, T(1));
    for (index_t r = 0; r < M; ++r) rows_into(row_by_row, r, 1);
  }
  EXPECT_TRUE(same_bits(row_by_row, one_thread));
  ThreadCountGuard guard(2);
  ASSERT_EQ(num_threads(), 2);
  EXPECT_TRUE(same_bits(run_packed(o, packed, M, T(1)), one_thread));
  std::vector<T> blocks_of_13 = o.C0;
  for (index_t r = 0; r < M; r += 13) rows_into(blocks_of_13, r, std::min<index_t>(13, M - r));
  EXPECT_TRUE(same_bits(blocks_of_13, one_thread));
  for (index_t r : {index_t(0), M - 1}) {  // single rows on 2 threads: compare them against row r only
    std::vector<T> C = one_thread;
    std::copy_n(o.C0.begin() + r * o.ldc, o.ldc, C.begin() + r * o.ldc);
    rows_into(C, r, 1);
    EXPECT_TRUE(same_bits(C, one_thread)) << "row " << r;
  }
}

// ---- the packed layout -----------------------------------------------------------------------------------

TYPED_TEST(PackedGemmTest, PanelLayoutAlignmentAndZeroPadding) {
  using T = TypeParam;
  const index_t P = TestFixture::kP;
  const PackedMatrix<T> none;
  EXPECT_TRUE(none.empty());
  EXPECT_EQ(none.k(), 0);
  EXPECT_EQ(none.n(), 0);
  EXPECT_EQ(none.panels(), 0);
  struct Dims {
    index_t K, N;
  };
  std::uint64_t seed = 500;
  for (Trans trans_w : kBoth) {
    for (const Dims d : {Dims{5, 1}, Dims{3, P}, Dims{7, P + 1}, Dims{4, 2 * P + 3}, Dims{1, 3 * P}}) {
      SCOPED_TRACE(std::string("W ") + trans_name(trans_w) + " K=" + std::to_string(d.K) +
                   " N=" + std::to_string(d.N));
      Rng rng(seed++);
      const Operands<T> o = make_operands<T>(rng, trans_w, 1, d.N, d.K, 2, false);
      const PackedMatrix<T> packed = pack(o);
      EXPECT_FALSE(packed.empty());
      EXPECT_EQ(packed.k(), d.K);
      EXPECT_EQ(packed.n(), d.N);
      ASSERT_EQ(packed.panels(), (d.N + P - 1) / P);
      for (index_t p = 0; p < packed.panels(); ++p) {
        SCOPED_TRACE("panel " + std::to_string(p));
        const T* panel = packed.panel(p);
        // Aligned to the kernel's vector (a third of a panel row): 64, 32 or 16 bytes.
        const std::uintptr_t vector_bytes = std::uintptr_t(P) * sizeof(T) / 3;
        EXPECT_EQ(reinterpret_cast<std::uintptr_t>(panel) % vector_bytes, 0u);
        if (p == 0) {
          EXPECT_EQ(reinterpret_cast<std::uintptr_t>(panel) % 64, 0u);
        }
        index_t wrong = 0, nonzero_padding = 0;
        for (index_t k = 0; k < d.K; ++k) {
          for (index_t j = 0; j < P; ++j) {
            const index_t n = p * P + j;
            const T got = panel[k * P + j];
            if (n < d.N) {
              const T want = o.W[static_cast<size_t>(trans_w == Trans::kYes ? n * o.ldw + k : k * o.ldw + n)];
              wrong += std::memcmp(&got, &want, sizeof(T)) != 0;
            } else {
              nonzero_padding += !(got == T(0) && !std::signbit(got));  // +0, not NaN from W's padding
            }
          }
        }
        EXPECT_EQ(wrong, 0);
        EXPECT_EQ(nonzero_padding, 0);
      }
    }
  }
}

// Packing W (N, K) with kYes and its transpose Wᵀ (K, N) with kNo give the same panels and the same C.
TYPED_TEST(PackedGemmTest, TransposedPackingGivesSameBits) {
  using T = TypeParam;
  const T nan = std::numeric_limits<T>::quiet_NaN();
  const index_t M = 11, K = 29, N = 2 * TestFixture::kP + 7;
  Rng rng(600);
  const Operands<T> o = make_operands<T>(rng, Trans::kYes, M, N, K, 3, false);
  const index_t ldwt = N + 1;
  std::vector<T> Wt(static_cast<size_t>(K * ldwt), nan);
  for (index_t n = 0; n < N; ++n)
    for (index_t k = 0; k < K; ++k)
      Wt[static_cast<size_t>(k * ldwt + n)] = o.W[static_cast<size_t>(n * o.ldw + k)];
  const PackedMatrix<T> from_w = pack(o), from_wt(Trans::kNo, K, N, Wt.data(), ldwt);
  ASSERT_EQ(from_wt.panels(), from_w.panels());
  for (index_t p = 0; p < from_w.panels(); ++p)
    EXPECT_EQ(std::memcmp(from_w.panel(p), from_wt.panel(p), sizeof(T) * K * TestFixture::kP), 0)
        << "panel " << p;
  for (const double beta : {0.0, -2.0})
    EXPECT_TRUE(same_bits(run_packed(o, from_wt, M, T(beta)), run_packed(o, from_w, M, T(beta))));
}

// The packed matrix is a copy: W can change or go away, and copies of the PackedMatrix share the panels.
TYPED_TEST(PackedGemmTest, PackedMatrixOwnsItsCopy) {
  using T = TypeParam;
  const index_t M = 9, K = 33, N = TestFixture::kP + 2;
  Rng rng(700);
  Operands<T> o = make_operands<T>(rng, Trans::kNo, M, N, K, 0, false);
  PackedMatrix<T> copy;
  std::vector<T> before;
  {
    const PackedMatrix<T> packed = pack(o);
    before = run_packed(o, packed, M, T(0));
    copy = packed;
    EXPECT_EQ(copy.panel(0), packed.panel(0));
  }
  std::fill(o.W.begin(), o.W.end(), std::numeric_limits<T>::quiet_NaN());
  EXPECT_TRUE(same_bits(run_packed(o, copy, M, T(0)), before));
}

// ---- argument errors -------------------------------------------------------------------------------------

TYPED_TEST(PackedGemmTest, BadArgumentsThrow) {
  using T = TypeParam;
  std::vector<T> w(64, T(0)), a(64, T(0)), c(64, T(0));
  const T* pw = w.data();
  // Negative sizes.
  EXPECT_TRUE(throws_error_with([&] { PackedMatrix<T>(Trans::kNo, -1, 2, pw, 2); },
                                {"PackedMatrix", "negative size", "K=-1"}));
  EXPECT_TRUE(throws_error_with([&] { PackedMatrix<T>(Trans::kYes, 2, -1, pw, 2); },
                                {"PackedMatrix", "negative size", "N=-1"}));
  // ldw against the stored shape: (N, K) = (3, 5) for kYes needs ldw >= 5; (K, N) = (5, 3) for kNo
  // needs ldw >= 3. ldw = 4 is too small for the first and enough for the second.
  EXPECT_TRUE(throws_error_with([&] { PackedMatrix<T>(Trans::kYes, 5, 3, pw, 4); },
                                {"PackedMatrix", "leading dimension 4 too small", "W stored (3, 5)"}));
  EXPECT_TRUE(throws_error_with([&] { PackedMatrix<T>(Trans::kNo, 5, 3, pw, 2); },
                                {"PackedMatrix", "leading dimension 2 too small", "W stored (5, 3)"}));
  EXPECT_NO_THROW(PackedMatrix<T>(Trans::kNo, 5, 3, pw, 4));
  EXPECT_NO_THROW(PackedMatrix<T>(Trans::kYes, 5, 3, pw, 5));
  EXPECT_NO_THROW(PackedMatrix<T>(Trans::kNo, 5, 3, pw, 3));

  // gemm_packed: C (M, 3) = A (M, 5) · op(W); a failed call leaves C alone.
  const PackedMatrix<T> packed(Trans::kNo, 5, 3, pw, 3);
  const std::vector<T> c0(64, T(kPadSentinel));
  c = c0;
  EXPECT_TRUE(throws_error_with([&] { gemm_packed<T>(-1, a.data(), 5, packed, T(0), c.data(), 3); },
                                {"gemm_packed", "negative M=-1"}));
  EXPECT_TRUE(throws_error_with([&] { gemm_packed<T>(2, a.data(), 4, packed, T(0), c.data(), 3); },
                                {"gemm_packed", "leading dimension too small", "K=5", "lda=4"}));
  EXPECT_TRUE(throws_error_with([&] { gemm_packed<T>(2, a.data(), 5, packed, T(0), c.data(), 2); },
                                {"gemm_packed", "leading dimension too small", "N=3", "ldc=2"}));
  EXPECT_EQ(c, c0);
  EXPECT_NO_THROW(gemm_packed<T>(2, a.data(), 5, packed, T(0), c.data(), 3));
}

}  // namespace
}  // namespace recur
