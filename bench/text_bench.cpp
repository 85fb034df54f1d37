// The text side of a batch, timed where the tests only check results:
//   BM_TokenizeBatch     Tokenizer::tokenize_batch of 10000 captions: a fresh
//                        tokenizer (cold word cache), a warm one, and a warm
//                        one without ftfy's repair. ASCII captions take
//                        ftfy's fast path, so warm and warm/no_repair should
//                        cost the same: compare the two rows of one run.
//   BM_WordNetLoad       WordNet::load of the Debian files EDA reads.
//
//   build/bench/text_bench [--benchmark_filter=...]
#include <benchmark/benchmark.h>

#include <cstdio>
#include <string>
#include <vector>

#include "cleanclip/augment/wordnet.h"
#include "clip/text/tokenizer.h"

using namespace clipgrad;

namespace {

// 10000 captions in the zero-shot templates' style, each one distinct.
std::vector<std::string> captions() {
  const char* classes[] = {"t-shirt/top", "trouser", "pullover", "dress", "coat",
                           "sandal",      "shirt",   "sneaker",  "bag",   "ankle boot"};
  const char* templates[] = {"a photo of a %s.", "a blurry photo of the %s.", "a black and white photo of a %s.",
                             "a low contrast photo of a %s.", "a good photo of the %s, worn by someone."};
  std::vector<std::string> out;
  for (int i = 0; i < 10000; ++i) {
    char caption[128];
    std::snprintf(caption, sizeof caption, templates[i % 5], classes[(i / 5) % 10]);
    out.push_back(std::string(caption) + " #" + std::to_string(i));
  }
  return out;
}

void BM_TokenizeBatchCold(benchmark::State& state) {
  const std::vector<std::string> batch = captions();
  for (auto _ : state) {
    state.PauseTiming();
    const clip::Tokenizer fresh(CLIPGRAD_DEFAULT_BPE);  // the word cache starts empty
    state.ResumeTiming();
    benchmark::DoNotOptimize(fresh.tokenize_batch(batch));
  }
  state.SetItemsProcessed(state.iterations() * int64_t(batch.size()));
}
BENCHMARK(BM_TokenizeBatchCold)->Name("BM_TokenizeBatch/cold")->Unit(benchmark::kMillisecond);

void tokenize_warm(benchmark::State& state, clip::TextRepair repair) {
  const std::vector<std::string> batch = captions();
  const clip::Tokenizer tokenizer(CLIPGRAD_DEFAULT_BPE, repair);
  tokenizer.tokenize_batch(batch);  // fills the word cache
  for (auto _ : state) benchmark::DoNotOptimize(tokenizer.tokenize_batch(batch));
  state.SetItemsProcessed(state.iterations() * int64_t(batch.size()));
}
BENCHMARK_CAPTURE(tokenize_warm, warm, clip::TextRepair::kFtfy)
    ->Name("BM_TokenizeBatch/warm")
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(tokenize_warm, warm_no_repair, clip::TextRepair::kNone)
    ->Name("BM_TokenizeBatch/warm_no_repair")
    ->Unit(benchmark::kMillisecond);

void BM_WordNetLoad(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(cleanclip::WordNet::load().lemma_count());
}
BENCHMARK(BM_WordNetLoad)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
