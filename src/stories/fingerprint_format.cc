// The text form of a fingerprint (16 lower-case hex digits), as item.fingerprint carries it.
#include "steppewatch/stories/fingerprint.h"

namespace steppewatch::stories {

void AppendFingerprint(Fingerprint fp, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  char buf[16];
  for (int i = 15; i >= 0; --i) {
    buf[i] = kHex[fp & 0xf];
    fp >>= 4;
  }
  out->append(buf, sizeof buf);
}

bool ParseFingerprint(std::string_view text, Fingerprint* fp) {
  if (text.size() != 16) return false;
  Fingerprint value = 0;
  for (char c : text) {
    int digit;
    if (c >= '0' && c <= '9') {
      digit = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      digit = c - 'a' + 10;
    } else if (c >= 'A' && c <= 'F') {
      // Upper case is accepted on input (a hand-made or re-encoded alert); output is lower case.
      digit = c - 'A' + 10;
    } else {
      return false;
    }
    value = (value << 4) | static_cast<Fingerprint>(digit);
  }
  *fp = value;
  return true;
}

}  // namespace steppewatch::stories
