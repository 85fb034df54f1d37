// stb_image and stb_image_write, compiled here with only the decoders clipgrad
// takes from stb: PNG and BMP (JPEG goes through libjpeg-turbo, WebP through
// libwebp: io/decode.h). Debian's libstb builds every decoder (GIF, PNM,
// TGA, PSD, HDR, PIC too), and each is attack surface for files from the web.
//
// Every allocation stb_image makes goes through bounded_malloc/realloc: one
// that asks for more than stb_allocation_cap (set by decode_png_or_bmp from
// the image's own header, io/image.cpp) fails, and stb reports "outofmem" instead
// of growing a buffer that the file's dimensions do not call for (a zlib
// stream in a PNG that inflates far past its image, say).
//
// stb_image copies an empty IDAT chunk with memcpy(NULL, source, 0) when it
// has no data buffer yet: undefined behaviour, though glibc does nothing, and
// UBSan stops there (found by scripts/fuzz.sh; tests/fuzz/image_corpus keeps
// the file). Every memcpy of stb_image is made safe_memcpy, which copies
// nothing when there is nothing to copy.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace clipgrad::io::detail {

thread_local size_t stb_allocation_cap = SIZE_MAX;

namespace {

void* bounded_malloc(size_t size) { return size > stb_allocation_cap ? nullptr : std::malloc(size); }
void* bounded_realloc(void* pointer, size_t size) {
  return size > stb_allocation_cap ? nullptr : std::realloc(pointer, size);
}
void* safe_memcpy(void* destination, const void* source, size_t bytes) {
  return bytes == 0 ? destination : std::memcpy(destination, source, bytes);
}

}  // namespace

}  // namespace clipgrad::io::detail

#define STBI_MALLOC(size) clipgrad::io::detail::bounded_malloc(size)
#define STBI_REALLOC(pointer, size) clipgrad::io::detail::bounded_realloc(pointer, size)
#define STBI_FREE(pointer) std::free(pointer)
#define STBI_ONLY_PNG
#define STBI_ONLY_BMP
#define STB_IMAGE_IMPLEMENTATION
#define memcpy clipgrad::io::detail::safe_memcpy
#include <stb_image.h>
#undef memcpy

#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb_image_write.h>
