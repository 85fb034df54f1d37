// WaNet (Nguyen & Tran, ICLR 2021): an image warped by a smooth random flow.
//
// A k x k control grid of uniform(-1, 1) pairs, normalised by its mean absolute
// value, is upsampled bicubically (PyTorch's align_corners=True, a = -0.75) to
// H x W and scaled by s / H. That field offsets the identity sampling grid in
// grid_sample's normalised coordinates ([-1, 1] across the image, corners on
// pixel centres); the result is clamped to [-1, 1], so every sample lies inside
// the image, and the image is sampled bilinearly. Bilinear weights sum to one,
// so a constant image stays constant. As in the paper's code, the y offsets are
// also scaled by s / H (not s / W) on non-square images.
#pragma once

#include <vector>

#include "io/image.h"
#include "tensor/random.h"

namespace clipgrad::cleanclip {

// [2, k, k]: uniform(-1, 1) drawn channel-major (x offsets, then y), divided by
// the mean absolute value of all 2k^2 values.
std::vector<float> draw_wanet_grid(int k, Generator& generator);

// PyTorch's F.interpolate(mode="bicubic", align_corners=True) of each of
// `channels` planes [k, k] -> [channels, height, width].
std::vector<float> upsample_bicubic_aligned(const std::vector<float>& planes, int channels, int k, int width,
                                            int height);

// The flow field [H, W, 2] (x, y offsets in normalised coordinates) = s / H * upsampled grid.
std::vector<float> wanet_field(const std::vector<float>& grid, int k, double s, int width, int height);

// The warped image before rounding: [H, W, 3] in 8-bit units (0..255).
std::vector<double> warp_values(const io::Image& image, const std::vector<float>& field);

// Warps in place: warp_values rounded to nearest.
void apply_warp(io::Image& image, const std::vector<float>& field);

}  // namespace clipgrad::cleanclip
