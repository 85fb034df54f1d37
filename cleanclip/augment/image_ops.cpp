#include "cleanclip/augment/image_ops.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <numbers>
#include <stdexcept>
#include <string>

namespace clipgrad::cleanclip {
namespace {

// In the order of the enum.
constexpr std::array<std::string_view, kNumAugmentOps> kOpNames = {
    "ShearX",   "ShearY",    "TranslateX", "TranslateY", "Rotate",       "Brightness", "Color",
    "Contrast", "Sharpness", "Posterize",  "Solarize",   "AutoContrast", "Equalize",   "Invert"};

// Python's math.radians / math.degrees: one multiplication by a rounded constant.
double radians(double degrees) { return degrees * (std::numbers::pi / 180.0); }
double degrees(double radians) { return radians * (180.0 / std::numbers::pi); }

// Python's float `%`: the result takes the divisor's sign.
double python_mod(double value, double divisor) {
  double mod = std::fmod(value, divisor);
  if (mod != 0.0) {
    if ((divisor < 0) != (mod < 0)) mod += divisor;
  } else {
    mod = std::copysign(0.0, divisor);
  }
  return mod;
}

// Python's round(value, 15): the value correctly rounded to 15 decimals.
double round15(double value) {
  char text[64];
  std::snprintf(text, sizeof text, "%.15f", value);
  return std::strtod(text, nullptr);
}

// PIL's COORD and FLOOR macros (Geometry.c): truncation after a sign test.
int pil_coord(double v) { return v < 0.0 ? -1 : static_cast<int>(v); }
int pil_floor(double v) { return v < 0.0 ? static_cast<int>(std::floor(v)) : static_cast<int>(v); }
int pil_fix16(double v) { return pil_floor(v * 65536.0 + 0.5); }

void copy_pixel(io::Image& out, int x, int y, const io::Image& in, int xin, int yin) {
  const uint8_t* source = in.pixel(xin, yin);
  uint8_t* target = out.pixel(x, y);
  target[0] = source[0];
  target[1] = source[1];
  target[2] = source[2];
}

// ImagingScaleAffine: no rotation or shear terms; columns are pretabulated.
void scale_affine(io::Image& out, const io::Image& in, const double (&a)[6]) {
  std::vector<int> column_of(out.width, 0);  // calloc'ed in PIL: 0 where never set
  int x_min = out.width, x_max = 0;
  double xo = a[2] + a[0] * 0.5;
  for (int x = 0; x < out.width; ++x) {
    int xin = pil_coord(xo);
    if (xin >= 0 && xin < in.width) {
      x_max = x + 1;
      x_min = std::min(x_min, x);
      column_of[x] = xin;
    }
    xo += a[0];
  }
  double yo = a[5] + a[4] * 0.5;
  for (int y = 0; y < out.height; ++y) {
    int yin = pil_coord(yo);
    if (yin >= 0 && yin < in.height)
      for (int x = x_min; x < x_max; ++x) copy_pixel(out, x, y, in, column_of[x], yin);
    yo += a[4];
  }
}

bool fits_fixed(const double (&a)[6], int x, int y) {
  return std::fabs(x * a[0] + y * a[1] + a[2]) < 32768.0 && std::fabs(x * a[3] + y * a[4] + a[5]) < 32768.0;
}

// affine_fixed: 16.16 fixed point, accumulated along rows and columns.
void affine_fixed(io::Image& out, const io::Image& in, const double (&a)[6]) {
  int a0 = pil_fix16(a[0]), a1 = pil_fix16(a[1]), a3 = pil_fix16(a[3]), a4 = pil_fix16(a[4]);
  int a2 = pil_fix16(a[2] + a[0] * 0.5 + a[1] * 0.5);
  int a5 = pil_fix16(a[5] + a[3] * 0.5 + a[4] * 0.5);
  for (int y = 0; y < out.height; ++y) {
    int xx = a2, yy = a5;
    for (int x = 0; x < out.width; ++x) {
      int xin = xx >> 16;  // arithmetic shift: floor
      if (xin >= 0 && xin < in.width) {
        int yin = yy >> 16;
        if (yin >= 0 && yin < in.height) copy_pixel(out, x, y, in, xin, yin);
      }
      xx += a0;
      yy += a3;
    }
    a2 += a1;
    a5 += a4;
  }
}

// PIL's floating-point fallback when coordinates leave the 16.16 range.
void affine_float(io::Image& out, const io::Image& in, const double (&a)[6]) {
  double xo = a[2] + a[1] * 0.5 + a[0] * 0.5;
  double yo = a[5] + a[4] * 0.5 + a[3] * 0.5;
  for (int y = 0; y < out.height; ++y) {
    double xx = xo, yy = yo;
    for (int x = 0; x < out.width; ++x) {
      int xin = pil_coord(xx);
      if (xin >= 0 && xin < in.width) {
        int yin = pil_coord(yy);
        if (yin >= 0 && yin < in.height) copy_pixel(out, x, y, in, xin, yin);
      }
      xx += a[0];
      yy += a[3];
    }
    xo += a[1];
    yo += a[4];
  }
}

// torchvision's _get_inverse_affine_matrix(center, angle, translate, scale=1, shear),
// term by term in the same order so every rounding matches.
void inverse_affine_matrix(double cx, double cy, double angle, double tx, double ty, double shear_x, double shear_y,
                           double (&m)[6]) {
  double rot = radians(angle), sx = radians(shear_x), sy = radians(shear_y);
  double a = std::cos(rot - sy) / std::cos(sy);
  double b = -std::cos(rot - sy) * std::tan(sx) / std::cos(sy) - std::sin(rot);
  double c = std::sin(rot - sy) / std::cos(sy);
  double d = -std::sin(rot - sy) * std::tan(sx) / std::cos(sy) + std::cos(rot);
  m[0] = d;
  m[1] = -b;
  m[2] = 0.0;
  m[3] = -c;
  m[4] = a;
  m[5] = 0.0;
  m[2] += m[0] * (-cx - tx) + m[1] * (-cy - ty);
  m[5] += m[3] * (-cx - tx) + m[4] * (-cy - ty);
  m[2] += cx;
  m[5] += cy;
}

void rotate_180(io::Image& image) {
  const io::Image source = image;
  for (int y = 0; y < image.height; ++y)
    for (int x = 0; x < image.width; ++x) copy_pixel(image, x, y, source, image.width - 1 - x, image.height - 1 - y);
}

// PIL's Transpose.ROTATE_90 (counter-clockwise) or ROTATE_270, on a square image.
void rotate_quarter(io::Image& image, bool counter_clockwise) {
  const io::Image source = image;
  const int n = image.width;
  for (int y = 0; y < n; ++y)
    for (int x = 0; x < n; ++x) {
      if (counter_clockwise)
        copy_pixel(image, x, y, source, n - 1 - y, x);
      else
        copy_pixel(image, x, y, source, y, n - 1 - x);
    }
}

// Image.rotate(angle, NEAREST, expand=False, center=None, fillcolor=black).
void rotate(io::Image& image, double angle_degrees) {
  double angle = python_mod(angle_degrees, 360.0);
  if (angle == 0.0) return;
  if (angle == 180.0) return rotate_180(image);
  if ((angle == 90.0 || angle == 270.0) && image.width == image.height) return rotate_quarter(image, angle == 90.0);
  double cx = image.width / 2.0, cy = image.height / 2.0;
  double theta = -radians(angle);
  double m[6] = {round15(std::cos(theta)),  round15(std::sin(theta)), 0.0,
                 round15(-std::sin(theta)), round15(std::cos(theta)), 0.0};
  double x = -cx - 0.0, y = -cy - 0.0;
  double m2 = m[0] * x + m[1] * y + m[2];
  double m5 = m[3] * x + m[4] * y + m[5];
  m[2] = m2 + cx;
  m[5] = m5 + cy;
  affine_nearest(image, m);
}

void shear(io::Image& image, double factor, bool along_x) {
  double angle = degrees(std::atan(factor));
  double m[6];
  inverse_affine_matrix(0.0, 0.0, 0.0, 0.0, 0.0, along_x ? angle : 0.0, along_x ? 0.0 : angle, m);
  affine_nearest(image, m);
}

void translate(io::Image& image, double pixels, bool along_x) {
  double shift = std::trunc(pixels);  // int(magnitude)
  double m[6];
  inverse_affine_matrix(image.width * 0.5, image.height * 0.5, 0.0, along_x ? shift : 0.0, along_x ? 0.0 : shift, 0.0,
                        0.0, m);
  affine_nearest(image, m);
}

// ITU-R 601-2 luma as PIL's RGB -> L conversion computes it.
uint8_t luma(const uint8_t* rgb) {
  return static_cast<uint8_t>((rgb[0] * 19595 + rgb[1] * 38470 + rgb[2] * 7471 + 0x8000) >> 16);
}

io::Image grayscale_rgb(const io::Image& image) {
  io::Image gray(image.width, image.height);
  for (size_t i = 0; i < image.rgb.size(); i += 3) {
    uint8_t l = luma(&image.rgb[i]);
    gray.rgb[i] = gray.rgb[i + 1] = gray.rgb[i + 2] = l;
  }
  return gray;
}

io::Image mean_luma_image(const io::Image& image) {
  uint64_t sum = 0, count = static_cast<uint64_t>(image.width) * image.height;
  for (size_t i = 0; i < image.rgb.size(); i += 3) sum += luma(&image.rgb[i]);
  double mean = count ? static_cast<double>(sum) / static_cast<double>(count) : 0.0;
  io::Image degenerate(image.width, image.height);
  std::fill(degenerate.rgb.begin(), degenerate.rgb.end(), static_cast<uint8_t>(static_cast<int>(mean + 0.5)));
  return degenerate;
}

// ImageFilter.SMOOTH through ImagingFilter3x3: float kernel, +0.5, clamp, truncate;
// the outer rows and columns are copied; images under 3x3 are returned as they are.
io::Image smooth(const io::Image& image) {
  io::Image out = image;
  if (image.width < 3 || image.height < 3) return out;
  const float side = static_cast<float>(1.0 / 13.0), centre = static_cast<float>(5.0 / 13.0);
  const float k[9] = {side, side, side, side, centre, side, side, side, side};
  const float offset = 0.0f + 0.5f;
  auto row3 = [&](int x, int y, int c, const float* kernel) {
    return static_cast<float>(image.pixel(x - 1, y)[c]) * kernel[0] +
           static_cast<float>(image.pixel(x, y)[c]) * kernel[1] +
           static_cast<float>(image.pixel(x + 1, y)[c]) * kernel[2];
  };
  for (int y = 1; y < image.height - 1; ++y)
    for (int x = 1; x < image.width - 1; ++x)
      for (int c = 0; c < 3; ++c) {
        float sum = offset;
        sum += row3(x, y + 1, c, &k[0]);
        sum += row3(x, y, c, &k[3]);
        sum += row3(x, y - 1, c, &k[6]);
        sum = sum < 0.0f ? 0.0f : sum;
        sum = sum > 255.0f ? 255.0f : sum;
        out.pixel(x, y)[c] = static_cast<uint8_t>(sum);
      }
  return out;
}

using Lut = std::array<uint8_t, 256>;

void apply_luts(io::Image& image, const std::array<Lut, 3>& luts) {
  for (size_t i = 0; i < image.rgb.size(); i += 3)
    for (int c = 0; c < 3; ++c) image.rgb[i + c] = luts[c][image.rgb[i + c]];
}

void apply_lut(io::Image& image, const Lut& lut) { apply_luts(image, {lut, lut, lut}); }

std::array<std::array<uint64_t, 256>, 3> histograms(const io::Image& image) {
  std::array<std::array<uint64_t, 256>, 3> counts{};
  for (size_t i = 0; i < image.rgb.size(); i += 3)
    for (int c = 0; c < 3; ++c) ++counts[c][image.rgb[i + c]];
  return counts;
}

Lut identity_lut() {
  Lut lut;
  for (int i = 0; i < 256; ++i) lut[i] = static_cast<uint8_t>(i);
  return lut;
}

// Image.point clamps table entries to [0, 255].
uint8_t clamp_u8(int64_t value) { return static_cast<uint8_t>(std::clamp<int64_t>(value, 0, 255)); }

void autocontrast(io::Image& image) {
  auto counts = histograms(image);
  std::array<Lut, 3> luts;
  for (int c = 0; c < 3; ++c) {
    const auto& h = counts[c];
    int lo = 0, hi = 255;
    while (lo < 255 && h[lo] == 0) ++lo;  // Python leaves lo = 255 when the channel is empty
    while (hi > 0 && h[hi] == 0) --hi;
    if (hi <= lo) {
      luts[c] = identity_lut();
      continue;
    }
    double scale = 255.0 / (hi - lo);
    double offset = -lo * scale;
    for (int i = 0; i < 256; ++i) {
      double value = i * scale + offset;
      luts[c][i] = clamp_u8(static_cast<int64_t>(value));  // int() truncates toward zero
    }
  }
  apply_luts(image, luts);
}

void equalize(io::Image& image) {
  auto counts = histograms(image);
  std::array<Lut, 3> luts;
  for (int c = 0; c < 3; ++c) {
    const auto& h = counts[c];
    uint64_t total = 0, last = 0;
    int nonzero = 0;
    for (int i = 0; i < 256; ++i)
      if (h[i]) {
        total += h[i];
        last = h[i];
        ++nonzero;
      }
    uint64_t step = nonzero <= 1 ? 0 : (total - last) / 255;
    if (step == 0) {
      luts[c] = identity_lut();
      continue;
    }
    uint64_t n = step / 2;
    for (int i = 0; i < 256; ++i) {
      luts[c][i] = clamp_u8(static_cast<int64_t>(n / step));
      n += h[i];
    }
  }
  apply_luts(image, luts);
}

void posterize(io::Image& image, double magnitude) {
  double bits = std::trunc(magnitude);
  if (!(bits >= 1 && bits <= 8))
    throw std::invalid_argument("Posterize: bits must be between 1 and 8, got " + std::to_string(magnitude));
  int mask = ~((1 << (8 - static_cast<int>(bits))) - 1);
  Lut lut;
  for (int i = 0; i < 256; ++i) lut[i] = static_cast<uint8_t>(i & mask);
  apply_lut(image, lut);
}

void solarize(io::Image& image, double threshold) {
  Lut lut;
  for (int i = 0; i < 256; ++i) lut[i] = static_cast<uint8_t>(i < threshold ? i : 255 - i);
  apply_lut(image, lut);
}

void invert(io::Image& image) {
  Lut lut;
  for (int i = 0; i < 256; ++i) lut[i] = static_cast<uint8_t>(255 - i);
  apply_lut(image, lut);
}

}  // namespace

std::string_view augment_op_name(AugmentOp op) {
  int index = static_cast<int>(op);
  if (index >= 0 && index < kNumAugmentOps) return kOpNames[index];
  throw std::invalid_argument("augment_op_name: unknown AugmentOp " + std::to_string(static_cast<int>(op)));
}

AugmentOp augment_op_from_name(std::string_view name) {
  for (int i = 0; i < kNumAugmentOps; ++i)
    if (kOpNames[i] == name) return static_cast<AugmentOp>(i);
  throw std::invalid_argument("unknown AutoAugment operation '" + std::string(name) +
                              "' (expected one of ShearX, ShearY, TranslateX, TranslateY, Rotate, Brightness, "
                              "Color, Contrast, Sharpness, Posterize, Solarize, AutoContrast, Equalize, Invert)");
}

void affine_nearest(io::Image& image, const double (&a)[6]) {
  const io::Image source = image;
  std::fill(image.rgb.begin(), image.rgb.end(), uint8_t{0});  // fillcolor black
  if (a[1] == 0 && a[3] == 0) return scale_affine(image, source, a);
  if (fits_fixed(a, 0, 0) && fits_fixed(a, image.width, image.height) && fits_fixed(a, 0, image.height) &&
      fits_fixed(a, image.width, 0))
    return affine_fixed(image, source, a);
  affine_float(image, source, a);
}

void blend_into(io::Image& image, const io::Image& degenerate, double factor) {
  if (degenerate.width != image.width || degenerate.height != image.height)
    throw std::invalid_argument("blend_into: images differ in size");
  const float alpha = static_cast<float>(factor);  // PIL takes the factor as a C float
  if (alpha == 0.0f) {
    image.rgb = degenerate.rgb;
    return;
  }
  if (alpha == 1.0f) return;
  const bool interpolate = alpha >= 0 && alpha <= 1.0;
  for (size_t i = 0; i < image.rgb.size(); ++i) {
    int from = degenerate.rgb[i], to = image.rgb[i];
    float value = static_cast<float>(from) + alpha * static_cast<float>(to - from);
    if (interpolate) {
      image.rgb[i] = static_cast<uint8_t>(value);
    } else {
      image.rgb[i] = value <= 0.0f ? 0 : value >= 255.0f ? 255 : static_cast<uint8_t>(value);
    }
  }
}

void apply_augment_op(io::Image& image, AugmentOp op, double magnitude) {
  switch (op) {
    case AugmentOp::kShearX: return shear(image, magnitude, true);
    case AugmentOp::kShearY: return shear(image, magnitude, false);
    case AugmentOp::kTranslateX: return translate(image, magnitude, true);
    case AugmentOp::kTranslateY: return translate(image, magnitude, false);
    case AugmentOp::kRotate: return rotate(image, magnitude);
    case AugmentOp::kBrightness: return blend_into(image, io::Image(image.width, image.height), 1.0 + magnitude);
    case AugmentOp::kColor: return blend_into(image, grayscale_rgb(image), 1.0 + magnitude);
    case AugmentOp::kContrast: return blend_into(image, mean_luma_image(image), 1.0 + magnitude);
    case AugmentOp::kSharpness: return blend_into(image, smooth(image), 1.0 + magnitude);
    case AugmentOp::kPosterize: return posterize(image, magnitude);
    case AugmentOp::kSolarize: return solarize(image, magnitude);
    case AugmentOp::kAutoContrast: return autocontrast(image);
    case AugmentOp::kEqualize: return equalize(image);
    case AugmentOp::kInvert: return invert(image);
  }
  throw std::invalid_argument("apply_augment_op: unknown AugmentOp " + std::to_string(static_cast<int>(op)));
}

}  // namespace clipgrad::cleanclip
