#include "loader/transform/transform.h"

#include <cmath>
#include <cstring>

#include "gtest/gtest.h"

namespace medfs::loader {
namespace {

DecodedImage Grey16(uint32_t rows, uint32_t cols, std::vector<int16_t> px) {
  DecodedImage img;
  img.rows = rows;
  img.columns = cols;
  img.frames = 1;
  img.type = PixelType::kI16;
  img.photometric = "MONOCHROME2";
  img.data.resize(px.size() * 2);
  std::memcpy(img.data.data(), px.data(), img.data.size());
  return img;
}

float Windowed(double x, double c, double w) {  // PS3.3 C.11.2.1.2.1
  if (x <= c - 0.5 - (w - 1) / 2) return 0.f;
  if (x > c - 0.5 + (w - 1) / 2) return 1.f;
  return static_cast<float>((x - (c - 0.5)) / (w - 1) + 0.5);
}

struct WindowCase {
  int16_t stored;
  double slope, intercept, center, width;
  bool monochrome1;
};

class WindowTest : public ::testing::TestWithParam<WindowCase> {};

TEST_P(WindowTest, ModalityLutThenLinearWindow) {
  const WindowCase c = GetParam();
  DecodedImage img = Grey16(2, 2, {c.stored, c.stored, c.stored, c.stored});
  if (c.monochrome1) img.photometric = "MONOCHROME1";
  ImageInfo info;
  info.rescale_slope = c.slope;
  info.rescale_intercept = c.intercept;
  TransformOptions o;
  o.height = o.width = 2;
  o.window = Window{c.center, c.width};
  float out[4];
  Transformer t;
  t.Apply(img, 0, info, o, out);
  float expected = Windowed(c.stored * c.slope + c.intercept, c.center, c.width);
  if (c.monochrome1) expected = 1.f - expected;
  for (float v : out) EXPECT_NEAR(v, expected, 1e-5);
}

INSTANTIATE_TEST_SUITE_P(Values, WindowTest,
                         ::testing::Values(WindowCase{1000, 1, -1024, 40, 400, false},
                                           WindowCase{1064, 1, -1024, 40, 400, false},
                                           WindowCase{-2000, 1, -1024, 40, 400, false},
                                           WindowCase{3000, 1, -1024, 40, 400, false},
                                           WindowCase{500, 2, 0, 1000, 500, false},
                                           WindowCase{1064, 1, -1024, 40, 400, true}));

// 16 columns take the vectorised row path; same size in and out is the
// identity geometry, so each output is its own input pixel windowed.
TEST(TransformTest, SameSizeSixteenBitIsWindowedIdentity) {
  std::vector<int16_t> px(16 * 16);
  for (size_t i = 0; i < px.size(); ++i) px[i] = static_cast<int16_t>(i * 7 - 800);
  DecodedImage img = Grey16(16, 16, px);
  ImageInfo info;
  TransformOptions o;
  o.height = o.width = 16;
  o.window = Window{0, 2000};
  std::vector<float> out(16 * 16);
  Transformer t;
  t.Apply(img, 0, info, o, out.data());
  for (size_t i = 0; i < px.size(); ++i) {
    EXPECT_NEAR(out[i], Windowed(px[i], 0, 2000), 1e-4) << i;
  }
}

TEST(TransformTest, FileWindowThenMinMaxFallback) {
  DecodedImage img = Grey16(1, 2, {0, 100});
  ImageInfo info;
  TransformOptions o;
  o.height = 1;
  o.width = 2;
  float out[2];
  Transformer t;
  t.Apply(img, 0, info, o, out);  // no window anywhere: min..max
  EXPECT_FLOAT_EQ(out[0], 0.f);
  EXPECT_FLOAT_EQ(out[1], 1.f);
  info.has_window = true;
  info.window_center = 50;
  info.window_width = 101;
  t.Apply(img, 0, info, o, out);
  EXPECT_NEAR(out[0], Windowed(0, 50, 101), 1e-6);
  EXPECT_NEAR(out[1], Windowed(100, 50, 101), 1e-6);
}

TEST(TransformTest, AreaDownscaleAveragesBlocks) {
  // 4x4 with 2x2 blocks of 0, 40, 80, 120 -> 2x2 averages.
  std::vector<int16_t> px = {0, 0, 40, 40, 0, 0, 40, 40, 80, 80, 120, 120, 80, 80, 120, 120};
  DecodedImage img = Grey16(4, 4, px);
  ImageInfo info;
  TransformOptions o;
  o.height = o.width = 2;
  o.window = Window{60.5, 121};  // maps 0..120 to 0..1 linearly
  float out[4];
  Transformer t;
  t.Apply(img, 0, info, o, out);
  float e[4] = {Windowed(0, 60.5, 121), Windowed(40, 60.5, 121), Windowed(80, 60.5, 121),
                Windowed(120, 60.5, 121)};
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(out[i], e[i], 1e-5) << i;
}

TEST(TransformTest, FractionalAreaAndBilinearKeepConstants) {
  for (auto [in, out] : {std::pair{512u, 224u}, std::pair{64u, 224u}, std::pair{7u, 3u}}) {
    DecodedImage img = Grey16(in, in, std::vector<int16_t>(size_t{in} * in, 50));
    ImageInfo info;
    TransformOptions o;
    o.height = o.width = out;
    o.window = Window{0.5, 100};
    std::vector<float> result(size_t{out} * out);
    Transformer t;
    t.Apply(img, 0, info, o, result.data());
    for (float v : result) ASSERT_NEAR(v, Windowed(50, 0.5, 100), 1e-4) << in << "->" << out;
  }
}

TEST(TransformTest, BilinearUpscaleInterpolates) {
  DecodedImage img = Grey16(1, 2, {0, 100});
  ImageInfo info;
  TransformOptions o;
  o.height = 1;
  o.width = 4;
  o.window = Window{50, 101};
  float out[4];
  Transformer t;
  t.Apply(img, 0, info, o, out);
  float a = Windowed(0, 50, 101), b = Windowed(100, 50, 101);
  // Half-pixel centres: x = -0.25 (clamped 0), 0.25, 0.75, 1.25 (clamped 1).
  EXPECT_NEAR(out[0], a, 1e-6);
  EXPECT_NEAR(out[1], a + 0.25f * (b - a), 1e-6);
  EXPECT_NEAR(out[2], a + 0.75f * (b - a), 1e-6);
  EXPECT_NEAR(out[3], b, 1e-6);
}

TEST(TransformTest, NormaliseReplicateAndOutputTypes) {
  DecodedImage img = Grey16(1, 1, {100});
  ImageInfo info;
  TransformOptions o;
  o.height = o.width = 1;
  o.window = Window{100.5, 2};  // 100 -> 0.5 exactly
  o.channels = 3;
  o.mean = {0.5f, 0.25f, 0.f};
  o.std = {0.5f, 0.25f, 2.f};
  float f[3];
  Transformer t;
  t.Apply(img, 0, info, o, f);
  EXPECT_FLOAT_EQ(f[0], 0.f);
  EXPECT_FLOAT_EQ(f[1], 1.f);
  EXPECT_FLOAT_EQ(f[2], 0.25f);
  o.dtype = OutputType::kFloat16;
  _Float16 h[3];
  t.Apply(img, 0, info, o, h);
  EXPECT_FLOAT_EQ(static_cast<float>(h[1]), 1.f);
  o.dtype = OutputType::kUint8;
  uint8_t u[3];
  t.Apply(img, 0, info, o, u);
  EXPECT_EQ(u[0], 128);  // round(0.5 * 255)
  EXPECT_EQ(u[2], 128);  // normalisation not applied to uint8
}

TEST(TransformTest, ColourBecomesPlanesOrLuma) {
  DecodedImage img;
  img.rows = img.columns = img.frames = 1;
  img.samples_per_pixel = 3;
  img.type = PixelType::kU8;
  img.photometric = "RGB";
  img.data = {std::byte{255}, std::byte{0}, std::byte{51}};
  ImageInfo info;
  info.bits_stored = 8;
  TransformOptions o;
  o.height = o.width = 1;
  o.channels = 3;
  float rgb[3];
  Transformer t;
  t.Apply(img, 0, info, o, rgb);
  EXPECT_FLOAT_EQ(rgb[0], 1.f);
  EXPECT_FLOAT_EQ(rgb[1], 0.f);
  EXPECT_NEAR(rgb[2], 0.2f, 1e-6);
  o.channels = 1;
  float y;
  t.Apply(img, 0, info, o, &y);
  EXPECT_NEAR(y, 0.299f + 0.114f * 0.2f, 1e-5);
}

TEST(TransformTest, ValidateRejectsUnusableOptions) {
  TransformOptions o;
  o.channels = 2;
  EXPECT_EQ(ValidateTransformOptions(o).code(), absl::StatusCode::kInvalidArgument);
  o = {};
  o.height = 0;
  EXPECT_EQ(ValidateTransformOptions(o).code(), absl::StatusCode::kInvalidArgument);
  o = {};
  o.std[0] = 0;
  EXPECT_EQ(ValidateTransformOptions(o).code(), absl::StatusCode::kInvalidArgument);
  o = {};
  o.window = Window{0, 0};
  EXPECT_EQ(ValidateTransformOptions(o).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace medfs::loader
