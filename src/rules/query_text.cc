// A query's text outside the parser: term strings (quoted phrases, prefixes, starred phrases
// turned into regexes), printing a parsed tree back as text, columns of a byte offset (see
// query.h).
#include <string>
#include <string_view>

#include "rules/query_chars.h"
#include "steppewatch/common/log.h"
#include "steppewatch/rules/query.h"

namespace steppewatch::rules {

using internal::IsSpace;
using internal::IsWordStop;
using internal::StripWs;
using log::Cat;
using match::TermSpec;

namespace {

// Writes a lang:/source: value so that it lexes back as one value: quoted when it holds
// spaces or delimiters or is an operator word.
void AppendValue(const std::string& v, std::string* out) {
  bool plain = !v.empty() && v != "AND" && v != "OR" && v != "NOT" && v != "AT_LEAST" &&
               v != "AT_LEAST_DISTINCT" && !v.starts_with("NEAR") && !v.starts_with("ONEAR") &&
               v[0] != '@' && v[0] != '/' && v.find(':') == std::string::npos;
  for (char c : v) plain = plain && !IsWordStop(c);
  if (plain) {
    out->append(v);
  } else {
    out->append(Cat("\"", v, "\""));
  }
}

// Binding strength in the grammar (query.h): OR < AND < NEAR < NOT and the primaries.
int Precedence(const QueryNode& n) {
  switch (n.kind) {
    case QueryNode::Kind::kOr:
      return 1;
    case QueryNode::Kind::kAnd:
      return 2;
    case QueryNode::Kind::kNear:
      return 3;
    default:
      return 4;
  }
}

void Print(const QueryNode& n, std::string* out);

// Prints `child` in parentheses only when the grammar needs them to keep the tree: the
// canonical form then never nests deeper than the query it came from, so it always parses
// again (within the depth limit) to the same tree.
void PrintOperand(const QueryNode& child, bool parens, std::string* out) {
  if (parens) out->append("(");
  Print(child, out);
  if (parens) out->append(")");
}

void Print(const QueryNode& n, std::string* out) {
  using K = QueryNode::Kind;
  auto join = [&](std::string_view op) {
    for (size_t i = 0; i < n.children.size(); ++i) {
      if (i) out->append(Cat(" ", op, " "));
      const QueryNode& c = *n.children[i];
      // Chains of OR and of AND parse as one node, and NEAR chains nest to the left, so a
      // child of equal strength came from parentheses, except a NEAR's left operand.
      bool parens = Precedence(c) < Precedence(n) ||
                    (Precedence(c) == Precedence(n) && !(n.kind == K::kNear && i == 0));
      PrintOperand(c, parens, out);
    }
  };
  switch (n.kind) {
    case K::kTerm:
      if (!n.display.empty()) {
        out->append(Cat("\"", n.display, "\""));
      } else if (n.term_kind == TermSpec::Kind::kRegex) {
        out->append(Cat("/", n.text, "/"));
      } else {
        out->append(Cat("\"", n.text, n.term_kind == TermSpec::Kind::kPrefix ? "*" : "", "\""));
      }
      break;
    case K::kSet:
      out->append(Cat("@", n.text));
      break;
    case K::kAnd:
      join("AND");
      break;
    case K::kOr:
      join("OR");
      break;
    case K::kNot:
      out->append("NOT ");
      PrintOperand(*n.children[0], Precedence(*n.children[0]) < 4, out);
      break;
    case K::kNear:
      join(Cat(n.ordered ? "ONEAR/" : "NEAR/", n.distance));
      break;
    case K::kField: {
      // A field scope takes a term, a set or a parenthesised expression.
      const QueryNode& c = *n.children[0];
      out->append(n.fields == kTitleMask ? "title:" : "body:");
      PrintOperand(c, c.kind != K::kTerm && c.kind != K::kSet, out);
      break;
    }
    case K::kLang:
    case K::kSource:
      out->append(n.kind == K::kLang ? "lang:(" : "source:(");
      for (size_t i = 0; i < n.values.size(); ++i) {
        if (i) out->append(" OR ");
        AppendValue(n.values[i], out);
      }
      out->append(")");
      break;
    case K::kAtLeast:
    case K::kAtLeastDistinct:
      out->append(Cat(n.kind == K::kAtLeast ? "AT_LEAST(" : "AT_LEAST_DISTINCT(", n.count, ", "));
      Print(*n.children[0], out);
      out->append(")");
      break;
  }
}

// Replaces `*out` with `raw` without leading and trailing white space and with every inner run
// of it as one space; `emit` appends each other byte to `*out` (as is, escaped or expanded).
template <typename Emit>
void CollapseSpaces(std::string_view raw, std::string* out, Emit emit) {
  out->clear();
  bool space = false;
  for (char c : raw) {
    if (IsSpace(c)) {
      space = true;
      continue;
    }
    if (space && !out->empty()) out->push_back(' ');
    space = false;
    emit(c);
  }
}

}  // namespace

bool ParseTermString(std::string_view raw, std::string* text, TermSpec::Kind* kind,
                     std::string* error, std::string* display) {
  if (display) display->clear();
  raw = StripWs(raw);
  if (raw.size() >= 2 && raw.front() == '/' && raw.back() == '/') {
    *kind = TermSpec::Kind::kRegex;
    *text = std::string(raw.substr(1, raw.size() - 2));
    if (text->empty()) {
      *error = "empty regex '//'";
      return false;
    }
    return true;
  }
  if (raw.size() >= 2 && raw.front() == '"' && raw.back() == '"') {
    raw = StripWs(raw.substr(1, raw.size() - 2));
  }
  *kind = TermSpec::Kind::kLiteral;
  if (raw == "*") {
    *error = "a lone '*' is not a term: write a prefix such as Kazakh*";
    return false;
  }
  if (!raw.empty() && raw.back() == '*') {
    *kind = TermSpec::Kind::kPrefix;
    raw.remove_suffix(1);
    if (!raw.empty() && IsSpace(raw.back())) {
      *error = "a prefix '*' must follow a word directly, as in 'Kazakh*'";
      return false;
    }
  }
  if (raw.find('*') != std::string_view::npos) {
    // A phrase of word prefixes: "внешн* политик*". Every '*' must end a word.
    for (size_t i = raw.find('*'); i != std::string_view::npos; i = raw.find('*', i + 1)) {
      if (i == 0 || IsSpace(raw[i - 1]) || (i + 1 < raw.size() && !IsSpace(raw[i + 1]))) {
        *error = "'*' is allowed only at the end of a word (a prefix); use a /regex/ otherwise";
        return false;
      }
    }
    bool last_prefix = *kind == TermSpec::Kind::kPrefix;
    if (display) *display = Cat(StripWs(raw), last_prefix ? "*" : "");
    // The matcher folds the text (case, and white-space runs to one space) before regexes see
    // it; a starred word continues with anything but white space and ASCII punctuation.
    constexpr std::string_view kRest = "[^\\s!-/:-@\\[-`{-~]*";
    CollapseSpaces(raw, text, [&](char c) {
      if (c == '*') {
        text->append(kRest);
      } else if (static_cast<unsigned char>(c) < 0x80 &&
                 !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))) {
        text->push_back('\\');
        text->push_back(c);
      } else {
        text->push_back(c);
      }
    });
    if (last_prefix) text->append(kRest);
    *kind = TermSpec::Kind::kRegex;
    return true;
  }
  // Collapse runs of spaces: "Xi  Jinping" and "Xi Jinping" are one phrase.
  CollapseSpaces(raw, text, [text](char c) { text->push_back(c); });
  if (text->empty()) {
    *error = "empty term";
    return false;
  }
  return true;
}

std::string QueryToString(const QueryNode& node) {
  std::string out;
  Print(node, &out);
  return out;
}

int ColumnOf(std::string_view text, uint32_t offset) {
  int column = 1;
  for (size_t i = 0; i < offset && i < text.size(); ++i) {
    if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80) ++column;
  }
  // A continuation byte at `offset` itself belongs to the code point already counted.
  return column;
}

}  // namespace steppewatch::rules
