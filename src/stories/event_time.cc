#include "stories/event_time.h"

#include <cctype>

namespace steppewatch::stories {
namespace {

int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

void CivilFromDays(int64_t z, int64_t* y, unsigned* m, unsigned* d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = static_cast<int64_t>(yoe) + era * 400 + (*m <= 2);
}

bool LeapYear(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

unsigned DaysInMonth(int64_t y, unsigned m) {
  static constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && LeapYear(y) ? 29 : kDays[m - 1];
}

// A cursor over the text with the few primitives the formats need.
struct Cursor {
  std::string_view s;
  size_t i = 0;
  bool Done() const { return i >= s.size(); }
  bool Digits(int n, int* out) {
    if (i + n > s.size()) return false;
    int v = 0;
    for (int k = 0; k < n; ++k) {
      char c = s[i + k];
      if (c < '0' || c > '9') return false;
      v = v * 10 + (c - '0');
    }
    i += n;
    *out = v;
    return true;
  }
  bool Take(char c) {
    if (i < s.size() && s[i] == c) return ++i, true;
    return false;
  }
};

bool Assemble(int64_t y, int mo, int d, int h, int mi, int sec, int millis, int offset_min,
              int64_t* ms) {
  if (mo < 1 || mo > 12 || d < 1 || d > static_cast<int>(DaysInMonth(y, mo))) return false;
  if (h > 23 || mi > 59 || sec > 60) return false;  // 60: a leap second, counted as :59 + 1
  int64_t days = DaysFromCivil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d));
  *ms = ((days * 24 + h) * 60 + mi) * 60000LL + sec * 1000LL + millis - offset_min * 60000LL;
  return true;
}

// Reads an optional fraction of a second: ".79" -> 790 ms (digits past milliseconds ignored).
bool Fraction(Cursor& c, int* millis) {
  *millis = 0;
  if (!c.Take('.') && !c.Take(',')) return true;
  int digits = 0, value = 0;
  while (!c.Done() && c.s[c.i] >= '0' && c.s[c.i] <= '9') {
    if (digits < 3) value = value * 10 + (c.s[c.i] - '0');
    ++digits;
    ++c.i;
  }
  if (digits == 0) return false;
  for (int k = digits; k < 3; ++k) value *= 10;
  *millis = value;
  return true;
}

bool ParseIso(std::string_view text, int64_t* ms, bool* has_time) {
  Cursor c{text};
  int y, mo, d;
  if (!c.Digits(4, &y) || !c.Take('-') || !c.Digits(2, &mo) || !c.Take('-') || !c.Digits(2, &d)) {
    return false;
  }
  if (c.Done()) {
    *has_time = false;
    return Assemble(y, mo, d, 0, 0, 0, 0, 0, ms);
  }
  int h, mi, sec = 0, millis = 0, offset = 0;
  if (!c.Take('T') && !c.Take('t') && !c.Take(' ')) return false;
  if (!c.Digits(2, &h) || !c.Take(':') || !c.Digits(2, &mi)) return false;
  if (c.Take(':')) {
    if (!c.Digits(2, &sec) || !Fraction(c, &millis)) return false;
  }
  if (c.Take('Z') || c.Take('z')) {
  } else if (!c.Done() && (c.s[c.i] == '+' || c.s[c.i] == '-')) {
    int sign = c.s[c.i] == '-' ? -1 : 1;
    ++c.i;
    int oh, om;
    if (!c.Digits(2, &oh)) return false;
    c.Take(':');
    if (!c.Digits(2, &om) || oh > 23 || om > 59) return false;
    offset = sign * (oh * 60 + om);
  }
  if (!c.Done()) return false;
  *has_time = true;
  return Assemble(y, mo, d, h, mi, sec, millis, offset, ms);
}

bool ParseReuters(std::string_view text, int64_t* ms, bool* has_time) {
  static constexpr std::string_view kMonths[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                                 "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
  Cursor c{text};
  int d, y, h, mi, sec, millis;
  if (!c.Digits(2, &d) && !c.Digits(1, &d)) return false;
  if (!c.Take('-') || c.i + 3 > text.size()) return false;
  int mo = 0;
  for (int k = 0; k < 12; ++k) {
    std::string_view m = text.substr(c.i, 3);
    bool same = true;
    for (int j = 0; j < 3; ++j) {
      same &= std::toupper(static_cast<unsigned char>(m[j])) == kMonths[k][j];
    }
    if (same) mo = k + 1;
  }
  if (mo == 0) return false;
  c.i += 3;
  if (!c.Take('-') || !c.Digits(4, &y) || !c.Take(' ')) return false;
  while (c.Take(' ')) {
  }
  if (!c.Digits(2, &h) || !c.Take(':') || !c.Digits(2, &mi) || !c.Take(':') || !c.Digits(2, &sec) ||
      !Fraction(c, &millis)) {
    return false;
  }
  // Some Reuters-21578 stamps carry the desk's letters after the time ("00:02:59.13RM",
  // "10:08:20.88E F"): the time is still good.
  while (!c.Done() && (std::isupper(static_cast<unsigned char>(c.s[c.i])) || c.s[c.i] == ' ')) {
    ++c.i;
  }
  if (!c.Done()) return false;
  *has_time = true;
  return Assemble(y, mo, d, h, mi, sec, millis, 0, ms);
}

// The form of nearly every item's published_at, "YYYY-MM-DDTHH:MM:SSZ", read with fixed offsets;
// false (ParseIso decides) for anything else, or when Assemble rejects the date.
bool ParseCommonIso(std::string_view text, int64_t* ms, bool* has_time) {
  if (text.size() != 20 || text[4] != '-' || text[7] != '-' || text[10] != 'T' || text[13] != ':' ||
      text[16] != ':' || text[19] != 'Z') {
    return false;
  }
  bool digits = true;
  auto at = [&](int i, int n) {
    int v = 0;
    for (int k = i; k < i + n; ++k) {
      const unsigned d = static_cast<unsigned char>(text[k]) - '0';
      digits &= d <= 9;
      v = v * 10 + static_cast<int>(d);
    }
    return v;
  };
  const int y = at(0, 4), mo = at(5, 2), d = at(8, 2), h = at(11, 2), mi = at(14, 2),
            sec = at(17, 2);
  if (!digits || !Assemble(y, mo, d, h, mi, sec, 0, 0, ms)) return false;
  *has_time = true;
  return true;
}

}  // namespace

bool ParseEventTime(std::string_view text, int64_t* ms, bool* has_time_of_day) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) text.remove_suffix(1);
  if (text.size() < 10) return false;
  // ParseIso's result for this form (ParseIso ran ~380 instructions an alert).
  if (ParseCommonIso(text, ms, has_time_of_day)) return true;
  if (ParseIso(text, ms, has_time_of_day)) return true;
  return ParseReuters(text, ms, has_time_of_day);
}

void AppendRfc3339(int64_t ms, std::string* out) {
  int64_t days = ms >= 0 ? ms / 86400000 : -((-ms + 86399999) / 86400000);
  int64_t rest = ms - days * 86400000;
  int64_t y;
  unsigned m, d;
  CivilFromDays(days, &y, &m, &d);
  if (y < 0 || y > 9999) y = y < 0 ? 0 : 9999;  // RFC 3339 has four-digit years
  // By hand: this runs for every enriched alert, and snprintf costs ~10x more.
  char buf[25] = "0000-00-00T00:00:00.000Z";
  auto put = [&buf](int at, int64_t v, int width) {
    for (int i = width - 1; i >= 0; --i, v /= 10) buf[at + i] = static_cast<char>('0' + v % 10);
  };
  put(0, y, 4);
  put(5, m, 2);
  put(8, d, 2);
  put(11, rest / 3600000, 2);
  put(14, rest / 60000 % 60, 2);
  put(17, rest / 1000 % 60, 2);
  put(20, rest % 1000, 3);
  out->append(buf, 24);
}

}  // namespace steppewatch::stories
