#include "stories/alert_fields.h"

namespace steppewatch::stories {
namespace {

constexpr std::string_view kAlertSchema = "steppewatch.alert.v1";

simdjson::error_code ParseItem(simdjson::dom::element item, AlertFields* f) {
  simdjson::dom::object obj;
  if (auto e = item.get_object().get(obj)) return e;
  // Every member in order (a repeated key: the last one counts).
  for (simdjson::dom::key_value_pair field : obj) {
    std::string* dest = nullptr;
    if (field.key == "id") {
      dest = &f->id;
    } else if (field.key == "source") {
      dest = &f->source;
    } else if (field.key == "lang") {
      dest = &f->lang;
    } else if (field.key == "published_at") {
      dest = &f->published_at;
    } else if (field.key == "fingerprint") {
      dest = &f->fingerprint;
      f->has_fingerprint = true;
    } else {
      continue;
    }
    if (field.value.is_null()) {
      if (dest == &f->fingerprint) f->has_fingerprint = false;
      continue;
    }
    std::string_view s;
    if (auto e = field.value.get_string().get(s)) return e;
    dest->assign(s);
  }
  return simdjson::SUCCESS;
}

// Appends `value` (a JSON string) as the `*n`-th of `list`, reusing its strings across alerts.
simdjson::error_code AppendReused(simdjson::dom::element value, std::vector<std::string>* list,
                                  size_t* n) {
  std::string_view s;
  if (auto e = value.get_string().get(s)) return e;
  if (*n == list->size()) list->emplace_back();
  (*list)[(*n)++].assign(s);
  return simdjson::SUCCESS;
}

simdjson::error_code ParseMatches(simdjson::dom::element matches, AlertFields* f) {
  simdjson::dom::array arr;
  if (auto e = matches.get_array().get(arr)) return e;
  for (simdjson::dom::element match_element : arr) {
    simdjson::dom::object match;
    if (auto e = match_element.get_object().get(match)) return e;
    for (simdjson::dom::key_value_pair field : match) {
      if (field.key == "rule") {
        if (auto e = AppendReused(field.value, &f->rules, &f->n_rules)) return e;
      } else if (field.key == "tags") {
        simdjson::dom::array tags;
        if (auto e = field.value.get_array().get(tags)) return e;
        for (simdjson::dom::element tag : tags) {
          if (auto e = AppendReused(tag, &f->tags, &f->n_tags)) return e;
        }
      }
    }
  }
  return simdjson::SUCCESS;
}

simdjson::error_code ParseFields(simdjson::dom::element root, AlertFields* f) {
  simdjson::dom::object obj;
  if (auto e = root.get_object().get(obj)) return e;
  for (simdjson::dom::key_value_pair field : obj) {
    if (field.key == "schema") {
      std::string_view s;
      if (auto e = field.value.get_string().get(s)) return e;
      f->has_schema = true;
      f->schema_ok = s == kAlertSchema;
    } else if (field.key == "item") {
      if (auto e = ParseItem(field.value, f)) return e;
    } else if (field.key == "matches") {
      if (auto e = ParseMatches(field.value, f)) return e;
    } else if (field.key == "origin") {
      simdjson::dom::object origin;
      if (auto e = field.value.get_object().get(origin)) return e;
      for (simdjson::dom::key_value_pair of : origin) {
        if (of.key != "timestamp_ms") continue;
        int64_t ts;
        if (auto e = of.value.get_int64().get(ts)) return e;
        f->origin_timestamp_ms = ts;
      }
    }
  }
  return simdjson::SUCCESS;
}

}  // namespace

void AlertFieldParser::Parse(std::string_view json, AlertFields* f) {
  f->schema_ok = f->has_schema = f->has_fingerprint = f->fp_ok = false;
  f->fp = 0;
  f->id.clear();
  f->source.clear();
  f->lang.clear();
  f->published_at.clear();
  f->fingerprint.clear();
  f->origin_timestamp_ms = -1;
  f->n_rules = f->n_tags = 0;

  // One padded buffer, reused: Kafka payloads have no readable bytes past their end.
  if (buffer_.capacity() < json.size() + simdjson::SIMDJSON_PADDING) {
    buffer_.reserve(json.size() + simdjson::SIMDJSON_PADDING);
  }
  buffer_.assign(json);
  simdjson::dom::element root;
  f->error = parser_
                 .parse(reinterpret_cast<const uint8_t*>(buffer_.data()), buffer_.size(),
                        /*realloc_if_needed=*/false)
                 .get(root);
  if (f->error) return;
  f->error = ParseFields(root, f);
  if (f->error) return;
  f->fp_ok = f->has_fingerprint && ParseFingerprint(f->fingerprint, &f->fp);
}

}  // namespace steppewatch::stories
