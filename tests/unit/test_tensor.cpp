// Shape and Tensor<T>: sizes, axis arithmetic, error checks, and the storage-sharing contract of
// view / narrow / row versus the deep copies of clone / cast.
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>
#include <vector>

#include "recur/tensor.h"
#include "test_util.h"

namespace recur {
namespace {

std::vector<double> iota_values(index_t n) {
  std::vector<double> v(static_cast<size_t>(n));
  std::iota(v.begin(), v.end(), 0.0);
  return v;
}

// ---- Shape ----------------------------------------------------------------------------------------

TEST(Shape, NumelIsTheProductOfDims) {
  EXPECT_EQ(Shape({2, 3, 4}).numel(), 24);
  EXPECT_EQ(Shape({7}).numel(), 7);
  EXPECT_EQ(Shape({3, 0, 5}).numel(), 0);  // a zero dim empties the tensor
  EXPECT_EQ(Shape().numel(), 1);           // rank 0 is a scalar
  EXPECT_EQ(Shape().rank(), 0);
  EXPECT_EQ(Shape({2, 3, 4}).rank(), 3);
}

TEST(Shape, OuterAndInnerAroundAnAxis) {
  const Shape s{2, 3, 4, 5};
  EXPECT_EQ(s.outer(0), 1);
  EXPECT_EQ(s.inner(0), 60);
  EXPECT_EQ(s.outer(1), 2);
  EXPECT_EQ(s.inner(1), 20);
  EXPECT_EQ(s.outer(2), 6);
  EXPECT_EQ(s.inner(2), 5);
  EXPECT_EQ(s.outer(3), 24);
  EXPECT_EQ(s.inner(3), 1);
  // Negative axes count from the end.
  EXPECT_EQ(s.outer(-1), 24);
  EXPECT_EQ(s.inner(-1), 1);
  EXPECT_EQ(s.outer(-3), 2);
  EXPECT_EQ(s.inner(-3), 20);
  EXPECT_THROW(s.outer(4), Error);
  EXPECT_THROW(s.inner(-5), Error);
}

TEST(Shape, NegativeAxisCountsFromTheEnd) {
  const Shape s{2, 3, 4};
  EXPECT_EQ(s[0], 2);
  EXPECT_EQ(s[2], 4);
  EXPECT_EQ(s[-1], 4);
  EXPECT_EQ(s[-2], 3);
  EXPECT_EQ(s[-3], 2);
  EXPECT_EQ(s.normalize_axis(-1), 2);
  EXPECT_EQ(s.normalize_axis(1), 1);
  EXPECT_THROW(s[3], Error);
  EXPECT_THROW(s[-4], Error);
  EXPECT_THROW(s.normalize_axis(3), Error);
  EXPECT_THROW(Shape()[0], Error);
}

TEST(Shape, Str) {
  EXPECT_EQ(Shape({2, 3, 4}).str(), "(2, 3, 4)");
  EXPECT_EQ(Shape({5}).str(), "(5,)");  // Python's one-tuple
  EXPECT_EQ(Shape().str(), "()");
  EXPECT_EQ(Shape({0, 1}).str(), "(0, 1)");
}

TEST(Shape, NegativeDimensionThrows) {
  EXPECT_THROW(Shape({2, -1}), Error);
  EXPECT_THROW(Shape(std::vector<index_t>{-3}), Error);
  try {
    Shape({4, -2, 3});
    FAIL() << "Shape{4, -2, 3} did not throw";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("negative"), std::string::npos) << e.what();
  }
}

TEST(Shape, Equality) {
  EXPECT_EQ(Shape({2, 3}), Shape(std::vector<index_t>{2, 3}));
  EXPECT_NE(Shape({2, 3}), Shape({3, 2}));
  EXPECT_NE(Shape({6}), Shape({6, 1}));
}

// ---- Tensor ---------------------------------------------------------------------------------------

TEST(Tensor, DefaultIsEmpty) {
  Tensor<float> t;
  EXPECT_TRUE(t.empty());
  EXPECT_EQ(t.data(), nullptr);
}

TEST(Tensor, ZerosAndFull) {
  // Fill the heap first so that a missing zero-initialization is likely to show garbage.
  { Tensor<double> junk = Tensor<double>::full(Shape{3, 5}, 7.5); }
  const Tensor<double> z = Tensor<double>::zeros(Shape{3, 5});
  EXPECT_FALSE(z.empty());
  EXPECT_EQ(z.shape(), Shape({3, 5}));
  EXPECT_EQ(z.rank(), 2);
  EXPECT_EQ(z.dim(0), 3);
  EXPECT_EQ(z.dim(-1), 5);
  EXPECT_EQ(z.numel(), 15);
  for (index_t i = 0; i < z.numel(); ++i) EXPECT_EQ(z[i], 0.0) << "at " << i;

  const Tensor<float> f = Tensor<float>::full(Shape{4}, -2.5f);
  for (index_t i = 0; i < f.numel(); ++i) EXPECT_EQ(f[i], -2.5f) << "at " << i;

  Tensor<float> g = Tensor<float>::full(Shape{2, 2}, 3.0f);
  g.zero();
  EXPECT_EQ(g.to_vector(), std::vector<float>(4, 0.0f));
  g.fill(1.25f);
  EXPECT_EQ(g.to_vector(), std::vector<float>(4, 1.25f));
}

TEST(Tensor, ValuesConstructor) {
  const Tensor<double> t(Shape{2, 3}, {1, 2, 3, 4, 5, 6});
  EXPECT_EQ(t.to_vector(), (std::vector<double>{1, 2, 3, 4, 5, 6}));
  EXPECT_THROW(Tensor<double>(Shape{2, 3}, std::vector<double>(5)), Error);
  EXPECT_THROW(Tensor<double>(Shape{2, 3}, std::vector<double>(7)), Error);
  EXPECT_THROW(Tensor<float>(Shape{0}, std::vector<float>{1.0f}), Error);
  EXPECT_NO_THROW(Tensor<float>(Shape{0}, std::vector<float>{}));
}

TEST(Tensor, AtIsRowMajorAndBoundsChecked) {
  Tensor<double> t(Shape{2, 3, 4}, iota_values(24));
  EXPECT_EQ(t.at({0, 0, 0}), 0.0);
  EXPECT_EQ(t.at({0, 0, 3}), 3.0);
  EXPECT_EQ(t.at({0, 2, 1}), 9.0);
  EXPECT_EQ(t.at({1, 0, 0}), 12.0);
  EXPECT_EQ(t.at({1, 2, 3}), 23.0);
  t.at({1, 1, 2}) = -1.0;
  EXPECT_EQ(t[1 * 12 + 1 * 4 + 2], -1.0);

  EXPECT_THROW(t.at({2, 0, 0}), Error);     // past the end of axis 0
  EXPECT_THROW(t.at({0, 3, 0}), Error);     // past the end of axis 1
  EXPECT_THROW(t.at({0, 0, 4}), Error);     // past the end of axis 2
  EXPECT_THROW(t.at({0, -1, 0}), Error);    // at() does not wrap negative indices
  EXPECT_THROW(t.at({0, 0}), Error);        // too few indices
  EXPECT_THROW(t.at({0, 0, 0, 0}), Error);  // too many indices
  const Tensor<double>& ct = t;
  EXPECT_EQ(ct.at({1, 2, 3}), 23.0);
  EXPECT_THROW(ct.at({1, 2, 4}), Error);
}

TEST(Tensor, ViewSharesStorage) {
  Tensor<double> t(Shape{2, 6}, iota_values(12));
  Tensor<double> v = t.view(Shape{3, 4});
  EXPECT_EQ(v.shape(), Shape({3, 4}));
  EXPECT_EQ(v.data(), t.data());
  EXPECT_EQ(v.at({2, 1}), 9.0);
  v.at({1, 0}) = 100.0;  // flat index 4
  EXPECT_EQ(t.at({0, 4}), 100.0);
  t[11] = -5.0;
  EXPECT_EQ(v.at({2, 3}), -5.0);

  EXPECT_THROW(t.view(Shape{5, 2}), Error);
  EXPECT_THROW(t.view(Shape{13}), Error);
  EXPECT_NO_THROW(t.view(Shape{12}));
  EXPECT_NO_THROW(t.view(Shape{1, 12, 1}));
}

TEST(Tensor, ViewKeepsStorageAlive) {
  Tensor<float> v;
  {
    Tensor<float> t = Tensor<float>::full(Shape{4, 4}, 3.0f);
    v = t.narrow(1, 2).view(Shape{8});
  }  // t is gone; the view's shared storage must still be valid (ASan checks the reads)
  EXPECT_EQ(v.to_vector(), std::vector<float>(8, 3.0f));
}

TEST(Tensor, NarrowSharesStorageAtTheRightOffset) {
  Tensor<double> t(Shape{5, 3}, iota_values(15));
  Tensor<double> n = t.narrow(1, 3);
  EXPECT_EQ(n.shape(), Shape({3, 3}));
  EXPECT_EQ(n.data(), t.data() + 3);
  EXPECT_EQ(n.to_vector(), (std::vector<double>{3, 4, 5, 6, 7, 8, 9, 10, 11}));
  n.at({2, 1}) = -7.0;  // row 3, column 1 of t
  EXPECT_EQ(t.at({3, 1}), -7.0);

  // Narrowing a narrowed tensor composes the offsets.
  Tensor<double> nn = n.narrow(1, 2);
  EXPECT_EQ(nn.data(), t.data() + 6);
  EXPECT_EQ(nn.at({0, 0}), 6.0);

  // Rank 3: the row stride is the product of the inner dims.
  Tensor<double> t3(Shape{4, 2, 3}, iota_values(24));
  Tensor<double> n3 = t3.narrow(2, 2);
  EXPECT_EQ(n3.shape(), Shape({2, 2, 3}));
  EXPECT_EQ(n3.data(), t3.data() + 12);
  EXPECT_EQ(n3.at({1, 1, 2}), 23.0);

  EXPECT_NO_THROW(t.narrow(5, 0));  // empty range at the end
  EXPECT_THROW(t.narrow(4, 2), Error);
  EXPECT_THROW(t.narrow(-1, 2), Error);
  EXPECT_THROW(t.narrow(0, 6), Error);
  EXPECT_THROW(t.narrow(1, -1), Error);
}

TEST(Tensor, RowDropsTheFirstDim) {
  Tensor<float> t(Shape{3, 2, 2}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11});
  Tensor<float> r = t.row(2);
  EXPECT_EQ(r.shape(), Shape({2, 2}));
  EXPECT_EQ(r.data(), t.data() + 8);
  EXPECT_EQ(r.to_vector(), (std::vector<float>{8, 9, 10, 11}));
  r.at({0, 1}) = 42.0f;
  EXPECT_EQ(t.at({2, 0, 1}), 42.0f);

  Tensor<float> v(Shape{4}, {1, 2, 3, 4});
  Tensor<float> s = v.row(3);  // rank 1 -> rank 0 scalar
  EXPECT_EQ(s.rank(), 0);
  EXPECT_EQ(s.numel(), 1);
  EXPECT_EQ(s[0], 4.0f);
  EXPECT_EQ(s.data(), v.data() + 3);

  EXPECT_THROW(t.row(3), Error);
  EXPECT_THROW(t.row(-1), Error);
}

TEST(Tensor, CloneIsDeep) {
  Tensor<double> t(Shape{2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor<double> c = t.clone();
  EXPECT_NE(c.data(), t.data());
  EXPECT_EQ(c.shape(), t.shape());
  EXPECT_EQ(c.to_vector(), t.to_vector());
  c[0] = 99.0;
  t[5] = -1.0;
  EXPECT_EQ(t[0], 1.0);
  EXPECT_EQ(c[5], 6.0);

  // Cloning a view copies only the viewed elements.
  Tensor<double> r = t.row(1).clone();
  EXPECT_EQ(r.shape(), Shape({3}));
  EXPECT_EQ(r.to_vector(), (std::vector<double>{4, 5, -1}));
  r[0] = 0.0;
  EXPECT_EQ(t.at({1, 0}), 4.0);
}

TEST(Tensor, Cast) {
  const Tensor<double> d(Shape{2, 2}, {0.1, -2.25, 1.0 + 1e-12, 3.0});
  const Tensor<float> f = d.cast<float>();
  EXPECT_EQ(f.shape(), d.shape());
  EXPECT_EQ(f[0], static_cast<float>(0.1));  // rounded to nearest, not truncated
  EXPECT_EQ(f[1], -2.25f);
  EXPECT_EQ(f[2], 1.0f);  // below float resolution
  EXPECT_EQ(f[3], 3.0f);

  Tensor<float> src(Shape{3}, {0.1f, -7.5f, 1e-30f});
  Tensor<double> back = src.cast<double>();
  EXPECT_EQ(back.shape(), Shape({3}));
  for (index_t i = 0; i < 3; ++i) EXPECT_EQ(back[i], static_cast<double>(src[i])) << "at " << i;  // exact
  back[0] = 5.0;
  EXPECT_EQ(src[0], 0.1f);  // deep copy
}

}  // namespace
}  // namespace recur
