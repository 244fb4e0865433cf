// libFuzzer target for the decode stage: arbitrary bytes as a Kafka payload, through decoders
// with the default and with nested field paths and a small size limit. Checks, beyond "no crash
// and no sanitizer report": a decoded item satisfies NewsItem's contract (id and some text,
// every view valid UTF-8), and decoding is deterministic across decoder state (the same payload
// decodes the same after another item was decoded in between).
//
// Run (what was done for the report; the `fuzz` preset builds it too, with the whole core):
//   clang++ -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -Iinclude
//     tests/fuzz/decode_fuzzer.cc src/decode/*.cc -lsimdjson -labsl_statusor -labsl_status
//     -labsl_strings -labsl_cord ... -o build/decode-fuzz/decode_fuzzer
//   build/decode-fuzz/decode_fuzzer -max_total_time=60 WORK_DIR tests/fuzz/corpus/decode
// Every crash it finds becomes a file in tests/fuzz/corpus/decode/ (regression-*).
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "simdjson.h"
#include "steppewatch/decode/news_item.h"

namespace {

using steppewatch::decode::DecodeError;
using steppewatch::decode::DecoderOptions;
using steppewatch::decode::ItemDecoder;
using steppewatch::decode::NewsItem;

std::unique_ptr<ItemDecoder> Make(const DecoderOptions& options) {
  auto decoder = ItemDecoder::Create(options);
  if (!decoder.ok()) std::abort();
  return std::move(decoder).value();
}

// The fields of an item, copied out of the decoder's buffers.
std::string Flatten(DecodeError error, const NewsItem& item) {
  std::string out(steppewatch::decode::DecodeErrorName(error));
  for (std::string_view f :
       {item.id, item.title, item.body, item.url, item.source, item.lang, item.published_at}) {
    out += '\x1f';
    out.append(f);
  }
  return out;
}

void CheckContract(DecodeError error, const NewsItem& item) {
  if (error != DecodeError::kOk) return;
  if (item.id.empty() || (item.title.empty() && item.body.empty())) std::abort();
  for (std::string_view f :
       {item.id, item.title, item.body, item.url, item.source, item.lang, item.published_at}) {
    if (!simdjson::validate_utf8(f.data(), f.size())) std::abort();
  }
}

void Run(ItemDecoder& decoder, std::string_view payload) {
  NewsItem item;
  std::string detail;
  DecodeError first = decoder.Decode(payload, &item, &detail);
  CheckContract(first, item);
  const std::string first_flat = Flatten(first, item);
  // Another item in between, then the same payload again: must give the same result.
  decoder.Decode(R"({"id":"other","title":"\u0410\u0411","body":"x"})", &item);
  DecodeError second = decoder.Decode(payload, &item, &detail);
  if (Flatten(second, item) != first_flat) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static ItemDecoder* plain = Make(DecoderOptions{}).release();
  static ItemDecoder* nested = [] {
    DecoderOptions options;
    options.fields.id = "meta.id";
    options.fields.lang = "meta.lang";
    options.fields.title = "content.title";
    options.fields.url = "content.title";  // two fields sharing one path
    options.max_item_bytes = 4096;         // small: exercises too_large and buffer growth
    return Make(options).release();
  }();
  // A non-null pointer even for size 0: an empty payload, not a tombstone.
  static const char kEmpty[1] = {};
  std::string_view payload(size ? reinterpret_cast<const char*>(data) : kEmpty, size);
  Run(*plain, payload);
  Run(*nested, payload);
  return 0;
}
