// ItemProcessor: decode -> scan -> evaluate -> render, for one item, with every buffer reused.
#include "steppewatch/pipeline/item_processor.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <utility>

#include "steppewatch/alert/alert.h"
#include "steppewatch/match/matcher.h"
#include "steppewatch/normalise/fold.h"
#include "steppewatch/rules/evaluator.h"
#include "steppewatch/rules/pack.h"
#include "steppewatch/stories/fingerprint.h"

namespace steppewatch::pipeline {
namespace {

std::string HostName() {
  char buf[256] = {0};
  if (gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') return "unknown";
  return buf;
}

alert::RenderOptions RenderOptionsOf(const ProcessorOptions& options) {
  alert::RenderOptions render;
  render.include_snippets = options.include_snippets;
  render.hits = options.hits;
  return render;
}

class ItemProcessorImpl final : public ItemProcessor {
 public:
  ItemProcessorImpl(std::shared_ptr<const rules::CompiledPack> pack, ProcessorOptions options,
                    std::unique_ptr<decode::ItemDecoder> decoder,
                    std::unique_ptr<match::MatchContext> context)
      : pack_(std::move(pack)),
        options_(std::move(options)),
        decoder_(std::move(decoder)),
        context_(std::move(context)),
        evaluator_(pack_),
        renderer_(*pack_, RenderOptionsOf(options_)) {
    if (options_.instance.empty()) options_.instance = HostName();
    size_t topics = pack_->topics().size();
    json_.resize(topics);
    rules_header_.resize(topics);
    tags_header_.resize(topics);
    severity_header_.resize(topics);
    alert_id_.resize(topics);
    headers_.resize(topics);
    topic_rules_.resize(topics);
  }

  const Outcome& Process(std::string_view payload, const Origin& origin) override {
    Outcome& out = outcome_;
    out.kind = Outcome::Kind::kNoMatch;
    out.reason = {};
    out.message.clear();
    out.alerts.clear();
    out.bytes_scanned = 0;
    out.hits = 0;
    out.rules_fired = 0;
    out.match_nanos = 0;
    out.fired_rules.clear();
    out.hits_truncated = false;
    out.item = nullptr;

    detail_.clear();
    decode::DecodeError error = decoder_->Decode(payload, &item_, &detail_);
    if (error != decode::DecodeError::kOk) {
      out.kind = Outcome::Kind::kDeadLetter;
      out.reason = decode::DecodeErrorName(error);
      out.message.assign(detail_.empty() ? out.reason : std::string_view(detail_));
      return out;
    }
    out.item = &item_;
    std::string_view fields[2] = {item_.title, item_.body};
    // Two clock reads (~50 ns of an item of ~4 us) for the daemon's match-time histogram.
    const auto scan_start = options_.time_scans ? std::chrono::steady_clock::now()
                                                : std::chrono::steady_clock::time_point();
    const absl::Status scanned = context_->Scan(fields, &hits_);
    if (options_.time_scans) {
      out.match_nanos = std::chrono::duration_cast<std::chrono::nanoseconds>(
                            std::chrono::steady_clock::now() - scan_start)
                            .count();
    }
    out.bytes_scanned = item_.title.size() + item_.body.size();
    if (!scanned.ok()) {
      out.kind = Outcome::Kind::kDeadLetter;
      out.reason = "match_error";
      out.message = std::string(scanned.message());
      return out;
    }
    out.hits = static_cast<uint32_t>(hits_.size());
    out.hits_truncated = context_->truncated();
    if (hits_.empty()) return out;
    rules::ItemView view;
    view.fields[0] = item_.title;
    view.fields[1] = item_.body;
    view.lang = item_.lang;
    view.source = item_.source;
    const std::vector<rules::FiredRule>& fired = evaluator_.Evaluate(view, hits_);
    if (fired.empty()) return out;
    out.kind = Outcome::Kind::kAlerts;
    // The fired rules' records are cold with a large pack: asked for now, they arrive while the
    // fingerprint below is computed.
    for (const rules::FiredRule& f : fired) renderer_.Prefetch(f.rule);
    out.rules_fired = static_cast<uint32_t>(fired.size());
    for (const rules::FiredRule& f : fired) out.fired_rules.push_back(f.rule);

    // Group the fired rules by destination topic (topic ids index pack().topics()). Every
    // enabled rule has a topic, so with one topic in the pack all of them go there, without a
    // look at each fired rule's topic list (a cache miss each with a large pack).
    used_topics_.clear();
    if (pack_->topics().size() == 1) {
      used_topics_.push_back(0);
      for (const rules::FiredRule& f : fired) topic_rules_[0].push_back(&f);
    } else {
      for (const rules::FiredRule& f : fired) {
        for (uint16_t t : pack_->rules()[f.rule].topic_ids) {
          if (topic_rules_[t].empty()) used_topics_.push_back(t);
          topic_rules_[t].push_back(&f);
        }
      }
    }
    std::sort(used_topics_.begin(), used_topics_.end());
    processed_at_.clear();
    if (options_.fixed_processed_at.empty()) {
      alert::AppendRfc3339Now(&processed_at_);
    } else {
      processed_at_ = options_.fixed_processed_at;
    }
    alert::AlertContext context;
    context.item = &item_;
    context.hits = hits_;
    context.fired_hits = &evaluator_.fired_hits();
    context.origin_topic = origin.topic;
    context.origin_partition = origin.partition;
    context.origin_offset = origin.offset;
    context.origin_timestamp_ms = origin.timestamp_ms;
    context.processed_at = processed_at_;
    context.instance = options_.instance;
    context.hits_truncated = out.hits_truncated;
    // The near-duplicate fingerprint, for alerting items only, from the text the matcher folded
    // (and the original body, whose line breaks Fold does not keep).
    context.has_fingerprint = true;
    context.fingerprint =
        fingerprinter_.Compute(FoldedField(0, item_.title), FoldedField(1, item_.body), item_.body,
                               &context.lead_fingerprint, &context.fingerprint_tokens,
                               &context.sentence_fingerprint, &context.sentence_fingerprint2);
    for (uint16_t t : used_topics_) {
      json_[t].clear();
      context.topic = pack_->topics()[t];
      renderer_.Render(context, topic_rules_[t], &json_[t], &rules_header_[t], &tags_header_[t],
                       &severity_header_[t], &alert_id_[t]);
      topic_rules_[t].clear();
      AlertMessage& alert = out.alerts.emplace_back();
      alert.topic = pack_->topics()[t];
      alert.key = item_.id;
      alert.value = json_[t];
      headers_[t] = {Header{alert::kHeaderSchema, alert::kAlertSchema},
                     Header{alert::kHeaderRules, rules_header_[t]},
                     Header{alert::kHeaderTags, tags_header_[t]},
                     Header{alert::kHeaderSeverity, severity_header_[t]},
                     Header{alert::kHeaderAlertId, alert_id_[t]}};
      alert.headers = headers_[t];
    }
    return out;
  }

  const rules::CompiledPack& pack() const override { return *pack_; }

 private:
  // Returns the folded text of field `f` of the last scan; folds it here when the matcher did
  // not (a pack of case-sensitive terms only, or a scan that stopped at the hit cap).
  std::string_view FoldedField(size_t f, std::string_view original) {
    std::string_view folded = context_->folded(f);
    if (!folded.empty() || original.empty()) return folded;
    normalise::Fold(original, &fold_[f]);
    return fold_[f].text();
  }

  std::shared_ptr<const rules::CompiledPack> pack_;
  ProcessorOptions options_;
  std::unique_ptr<decode::ItemDecoder> decoder_;
  std::unique_ptr<match::MatchContext> context_;
  rules::Evaluator evaluator_;
  alert::AlertRenderer renderer_;
  stories::Fingerprinter fingerprinter_;
  normalise::FoldedText fold_[2];

  Outcome outcome_;
  decode::NewsItem item_;
  std::string detail_;
  std::vector<match::Hit> hits_;
  std::string processed_at_;
  std::vector<uint16_t> used_topics_;
  // Per topic of the pack: the fired rules of the current item and the rendered message.
  std::vector<std::vector<const rules::FiredRule*>> topic_rules_;
  std::vector<std::string> json_, rules_header_, tags_header_, severity_header_, alert_id_;
  std::vector<std::array<Header, 5>> headers_;  // the alert's headers (views of the above)
};

}  // namespace

absl::StatusOr<std::unique_ptr<ItemProcessor>> ItemProcessor::Create(
    std::shared_ptr<const rules::CompiledPack> pack, const ProcessorOptions& options) {
  if (!pack) return absl::InvalidArgumentError("ItemProcessor needs a pack");
  if (!pack->matcher()) {
    return absl::FailedPreconditionError("the pack was loaded without a matcher");
  }
  auto decoder = decode::ItemDecoder::Create(options.decoder);
  if (!decoder.ok()) return decoder.status();
  auto context = match::MatchContext::Create(pack->matcher());
  if (!context.ok()) return context.status();
  return std::unique_ptr<ItemProcessor>(
      new ItemProcessorImpl(std::move(pack), options, *std::move(decoder), *std::move(context)));
}

}  // namespace steppewatch::pipeline
