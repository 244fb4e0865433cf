// Names of the decode stage's enums: stable strings used in dead-letter headers and metric labels.
#include "steppewatch/decode/news_item.h"

namespace steppewatch::decode {

std::string_view FieldName(Field field) {
  switch (field) {
    case Field::kTitle:
      return "title";
    case Field::kBody:
      return "body";
  }
  return "unknown";
}

std::string_view DecodeErrorName(DecodeError error) {
  switch (error) {
    case DecodeError::kOk:
      return "ok";
    case DecodeError::kTombstone:
      return "tombstone";
    case DecodeError::kEmptyPayload:
      return "empty_payload";
    case DecodeError::kTooLarge:
      return "too_large";
    case DecodeError::kInvalidUtf8:
      return "invalid_utf8";
    case DecodeError::kInvalidJson:
      return "invalid_json";
    case DecodeError::kNotAnObject:
      return "not_an_object";
    case DecodeError::kMissingId:
      return "missing_id";
    case DecodeError::kNoText:
      return "no_text";
    case DecodeError::kWrongType:
      return "wrong_type";
  }
  return "unknown";
}

}  // namespace steppewatch::decode
