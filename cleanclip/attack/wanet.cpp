#include "cleanclip/attack/wanet.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "cleanclip/attack/triggers.h"

namespace clipgrad::cleanclip {

namespace {

// PyTorch's cubic convolution kernel (a = -0.75) at the four taps of offset t in [0, 1).
void cubic_weights(double t, double weights[4]) {
  constexpr double a = -0.75;
  auto near = [](double x) { return ((a + 2) * x - (a + 3)) * x * x + 1; };       // |x| <= 1
  auto far = [](double x) { return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a; };  // 1 < |x| < 2
  weights[0] = far(t + 1);
  weights[1] = near(t);
  weights[2] = near(1 - t);
  weights[3] = far(2 - t);
}

// align_corners=True: output index i samples input coordinate i * (in - 1) / (out - 1).
double aligned_source(int index, int in_size, int out_size) {
  return out_size > 1 ? static_cast<double>(index) * (in_size - 1) / (out_size - 1) : 0.0;
}

}  // namespace

std::vector<float> draw_wanet_grid(int k, Generator& generator) {
  if (k < 2) throw std::invalid_argument("wanet: grid size k " + std::to_string(k) + " must be >= 2");
  std::vector<float> grid(static_cast<size_t>(2) * k * k);
  double absolute_sum = 0;
  for (float& value : grid) {
    value = static_cast<float>(generator.uniform() * 2 - 1);
    absolute_sum += std::fabs(value);
  }
  const double mean_absolute = absolute_sum / grid.size();
  if (!(mean_absolute > 0)) throw std::runtime_error("wanet: the drawn grid is all zeros");
  for (float& value : grid) value = static_cast<float>(value / mean_absolute);
  return grid;
}

std::vector<float> upsample_bicubic_aligned(const std::vector<float>& planes, int channels, int k, int width,
                                            int height) {
  if (planes.size() != static_cast<size_t>(channels) * k * k)
    throw std::invalid_argument("upsample_bicubic_aligned: " + std::to_string(planes.size()) + " values for " +
                                std::to_string(channels) + " planes of " + std::to_string(k) + "x" + std::to_string(k));
  std::vector<float> out(static_cast<size_t>(channels) * width * height);
  auto tap = [k](int index) { return std::clamp(index, 0, k - 1); };
  for (int c = 0; c < channels; ++c) {
    const float* plane = planes.data() + static_cast<size_t>(c) * k * k;
    for (int y = 0; y < height; ++y) {
      double source_y = aligned_source(y, k, height);
      int y0 = static_cast<int>(std::floor(source_y));
      double weights_y[4];
      cubic_weights(source_y - y0, weights_y);
      for (int x = 0; x < width; ++x) {
        double source_x = aligned_source(x, k, width);
        int x0 = static_cast<int>(std::floor(source_x));
        double weights_x[4];
        cubic_weights(source_x - x0, weights_x);
        // Rows first, then the column, as PyTorch's kernel.
        double value = 0;
        for (int i = 0; i < 4; ++i) {
          const float* row = plane + static_cast<size_t>(tap(y0 - 1 + i)) * k;
          double row_value = 0;
          for (int j = 0; j < 4; ++j) row_value += weights_x[j] * row[tap(x0 - 1 + j)];
          value += weights_y[i] * row_value;
        }
        out[(static_cast<size_t>(c) * height + y) * width + x] = static_cast<float>(value);
      }
    }
  }
  return out;
}

std::vector<float> wanet_field(const std::vector<float>& grid, int k, double s, int width, int height) {
  if (width < 1 || height < 1) throw std::invalid_argument("wanet: empty image");
  std::vector<float> upsampled = upsample_bicubic_aligned(grid, 2, k, width, height);  // [2, H, W]
  const size_t plane = static_cast<size_t>(width) * height;
  std::vector<float> field(plane * 2);  // [H, W, 2]
  const double scale = s / height;
  for (size_t p = 0; p < plane; ++p) {
    field[p * 2] = static_cast<float>(scale * upsampled[p]);
    field[p * 2 + 1] = static_cast<float>(scale * upsampled[plane + p]);
  }
  return field;
}

std::vector<double> warp_values(const io::Image& image, const std::vector<float>& field) {
  const int width = image.width, height = image.height;
  const size_t plane = static_cast<size_t>(width) * height;
  if (field.size() != plane * 2)
    throw std::invalid_argument("wanet: a field of " + std::to_string(field.size()) + " values for a " +
                                std::to_string(width) + "x" + std::to_string(height) + " image");
  // Normalised coordinate g in [-1, 1] -> pixel coordinate, corners on pixel centres.
  auto to_pixel = [](double g, int size) { return size > 1 ? (g + 1) / 2 * (size - 1) : 0.0; };
  auto identity = [](int index, int size) { return size > 1 ? -1.0 + 2.0 * index / (size - 1) : 0.0; };
  std::vector<double> out(plane * 3);
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x) {
      const size_t p = static_cast<size_t>(y) * width + x;
      double px = to_pixel(std::clamp(identity(x, width) + field[p * 2], -1.0, 1.0), width);
      double py = to_pixel(std::clamp(identity(y, height) + field[p * 2 + 1], -1.0, 1.0), height);
      int x0 = std::min(static_cast<int>(std::floor(px)), width - 1);
      int y0 = std::min(static_cast<int>(std::floor(py)), height - 1);
      int x1 = std::min(x0 + 1, width - 1), y1 = std::min(y0 + 1, height - 1);
      double wx = px - x0, wy = py - y0;
      const uint8_t *p00 = image.pixel(x0, y0), *p01 = image.pixel(x1, y0);
      const uint8_t *p10 = image.pixel(x0, y1), *p11 = image.pixel(x1, y1);
      for (int c = 0; c < 3; ++c)
        out[p * 3 + c] = (1 - wy) * ((1 - wx) * p00[c] + wx * p01[c]) + wy * ((1 - wx) * p10[c] + wx * p11[c]);
    }
  return out;
}

void apply_warp(io::Image& image, const std::vector<float>& field) {
  std::vector<double> values = warp_values(image, field);
  for (size_t i = 0; i < values.size(); ++i) image.rgb[i] = to_level(values[i] / 255.0);
}

}  // namespace clipgrad::cleanclip
