// libFuzzer target: the PyTorch checkpoint reader (zip, legacy, TorchScript)
// on arbitrary bytes, and the restricted unpickler alone on them (a zip's CRC
// would otherwise keep most mutations away from the pickle). A TorchFileError
// is the expected answer to bad input; anything else escaping (another
// exception, a crash, a sanitizer report, a huge allocation) is a bug.
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "io/torch/pickle.h"
#include "io/torch/torch_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace clipgrad::io;
  try {
    const TorchCheckpoint file = parse_torch_file("fuzz-input", data, size);
    for (const auto& [name, stored] : file.tensors)
      if (!stored.value.defined()) throw std::logic_error("tensor '" + name + "' came back undefined");
  } catch (const TorchFileError&) {
  }
  try {
    // Storages as a persistent id names them, so tensors can be rebuilt.
    auto storage = [](Unpickler& u, PyRef pid) {
      PyRef value = u.make(PyKind::Storage);
      value->storage.key = "0";
      value->storage.dtype = "F32";
      value->storage.element_size = 4;
      value->storage.numel = pid->kind == PyKind::Tuple ? pid->items.size() * 16 : 16;
      return value;
    };
    Unpickler unpickler("fuzz-input", storage, size > 0 && (data[0] & 1));
    size_t offset = 0;
    while (offset < size) unpickler.load(data, size, offset);
  } catch (const TorchFileError&) {
  }
  return 0;
}
