// The fourteen image operations of AutoAugment, on 8-bit RGB images, as
// torchvision's `autoaugment._apply_op` computes them on a PIL image with
// NEAREST interpolation and fill=None (black), bit for bit (Pillow 13,
// torchvision 0.29; checked by tests/cleanclip/augment against
// tools/autoaugment_reference.py):
//
//   ShearX/ShearY   F.affine(shear=degrees(atan(m)), centre (0, 0)): PIL's affine
//                   transform in 16.16 fixed point, sampling pixel centres
//   TranslateX/Y    F.affine(translate=int(m) pixels), centre (w/2, h/2)
//   Rotate          Image.rotate(m degrees counter-clockwise, centre (w/2, h/2)),
//                   with PIL's exact transposes for 180 (and 90/270 on squares)
//   Brightness      ImageEnhance.Brightness(1 + m): blend with black
//   Color           ImageEnhance.Color(1 + m): blend with the L (ITU-R 601 luma,
//                   16-bit fixed point) image
//   Contrast        ImageEnhance.Contrast(1 + m): blend with the mean luma,
//                   rounded to an integer
//   Sharpness       ImageEnhance.Sharpness(1 + m): blend with PIL's SMOOTH
//                   filter (3x3 kernel 1 1 1 / 1 5 1 / 1 1 1 over 13, borders kept)
//   Posterize       ImageOps.posterize(int(m) bits, 1..8)
//   Solarize        ImageOps.solarize(threshold m): values >= m are inverted
//   AutoContrast    ImageOps.autocontrast(): per channel, stretch [lo, hi] to [0, 255]
//   Equalize        ImageOps.equalize(): per-channel histogram equalisation
//   Invert          ImageOps.invert()
//
// Blends run in single precision as PIL's ImagingBlend does (this library is
// compiled with -ffp-contract=off so that no FMA changes a rounding).
#pragma once

#include <string_view>

#include "io/image.h"

namespace clipgrad::cleanclip {

enum class AugmentOp {
  kShearX,
  kShearY,
  kTranslateX,
  kTranslateY,
  kRotate,
  kBrightness,
  kColor,
  kContrast,
  kSharpness,
  kPosterize,
  kSolarize,
  kAutoContrast,
  kEqualize,
  kInvert,
};
inline constexpr int kNumAugmentOps = 14;

// torchvision's name of the operation ("ShearX", "AutoContrast", ...).
std::string_view augment_op_name(AugmentOp op);
// The inverse; throws std::invalid_argument naming the unknown name.
AugmentOp augment_op_from_name(std::string_view name);

// One operation in place, with torchvision's magnitude convention (the value
// `_apply_op` receives, sign included): shear factor (ShearX/Y), pixels
// (TranslateX/Y, truncated toward zero as int() does), degrees counter-clockwise
// (Rotate), factor - 1 (Brightness, Color, Contrast, Sharpness), bits (Posterize,
// truncated; must be 1..8, else std::invalid_argument, as PIL raises), threshold
// (Solarize); AutoContrast, Equalize and Invert ignore it. The size never changes.
void apply_augment_op(io::Image& image, AugmentOp op, double magnitude);

// The building blocks, exposed for tests and for other augmentations.
// PIL's Image.transform(size, AFFINE, matrix, NEAREST, fillcolor=black): output
// pixel (x, y) samples input (a0 x + a1 y + a2, a3 x + a4 y + a5) at pixel centres.
void affine_nearest(io::Image& image, const double (&matrix)[6]);
// PIL's Image.blend(degenerate, image, factor), written into `image`.
void blend_into(io::Image& image, const io::Image& degenerate, double factor);

}  // namespace clipgrad::cleanclip
