// Prompt templates for zero-shot classification and synthetic captions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace clipgrad::clip {

// The 80 ImageNet prompt templates of OpenAI's "Prompt Engineering for
// ImageNet" notebook, in its order; "{}" marks where the class name goes.
const std::vector<std::string>& imagenet_templates();

// `prompt_template` with its "{}" replaced by `name`; throws unless it has exactly one.
std::string fill_template(std::string_view prompt_template, std::string_view name);

}  // namespace clipgrad::clip
