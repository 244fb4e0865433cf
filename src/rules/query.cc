// Recursive-descent parser of the rule query language (config/rules/README.md).
#include "steppewatch/rules/query.h"

#include <cctype>
#include <charconv>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "rules/query_chars.h"
#include "steppewatch/common/log.h"

namespace steppewatch::rules {

using log::Cat;
namespace {

using internal::IsSpace;
using internal::IsWordStop;

struct Token {
  enum class Kind : uint8_t {
    kEnd,
    kLParen,
    kRParen,
    kComma,
    kAnd,
    kOr,
    kNot,
    kNear,
    kAtLeast,
    kAtLeastDistinct,
    kPhrase,
    kRegex,
    kSetRef,
    kWord,
    kTitle,
    kBody,
    kLang,
    kSource,
  };
  Kind kind = Kind::kEnd;
  uint32_t offset = 0;
  std::string_view text;   // the token as written
  std::string_view value;  // phrase/regex content, set name, word
  uint32_t distance = 0;
  bool ordered = false;
};
using TK = Token::Kind;

bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

std::string Describe(const Token& t) {
  switch (t.kind) {
    case TK::kEnd:
      return "the end of the query";
    default:
      return Cat("'", t.text, "'");
  }
}

class Lexer {
 public:
  explicit Lexer(std::string_view q) : q_(q) {}

  bool Run(std::vector<Token>* out, QueryError* error) {
    size_t i = 0;
    while (true) {
      while (i < q_.size() && IsSpace(q_[i])) ++i;
      Token t;
      t.offset = static_cast<uint32_t>(i);
      if (i == q_.size()) {
        out->push_back(t);
        return true;
      }
      char c = q_[i];
      if (c == '(' || c == ')' || c == ',') {
        t.kind = c == '(' ? TK::kLParen : c == ')' ? TK::kRParen : TK::kComma;
        t.text = q_.substr(i, 1);
        ++i;
      } else if (c == '"') {
        size_t close = q_.find('"', i + 1);
        if (close == std::string_view::npos) {
          *error = {t.offset, "unterminated phrase: add the closing '\"'"};
          return false;
        }
        t.kind = TK::kPhrase;
        t.text = q_.substr(i, close + 1 - i);
        t.value = q_.substr(i + 1, close - i - 1);
        i = close + 1;
      } else if (c == '/') {
        size_t j = i + 1;
        while (j < q_.size() && q_[j] != '/') j += (q_[j] == '\\' && j + 1 < q_.size()) ? 2 : 1;
        if (j >= q_.size()) {
          *error = {t.offset, "unterminated regex: add the closing '/'"};
          return false;
        }
        t.kind = TK::kRegex;
        t.text = q_.substr(i, j + 1 - i);
        t.value = q_.substr(i + 1, j - i - 1);
        i = j + 1;
      } else if (c == '@') {
        size_t j = i + 1;
        while (j < q_.size() && !IsWordStop(q_[j])) ++j;
        t.kind = TK::kSetRef;
        t.text = q_.substr(i, j - i);
        t.value = q_.substr(i + 1, j - i - 1);
        bool valid =
            !t.value.empty() && t.value[0] != '.' && t.value[0] != '_' && t.value[0] != '-';
        for (char ch : t.value) valid = valid && IsNameChar(ch);
        if (!valid) {
          *error = {t.offset, Cat("invalid set reference '", t.text,
                                  "': set names are [a-z0-9][a-z0-9._-]*")};
          return false;
        }
        i = j;
      } else {
        size_t j = i;
        while (j < q_.size() && !IsWordStop(q_[j])) ++j;
        std::string_view w = q_.substr(i, j - i);
        t.text = w;
        t.value = w;
        size_t colon = w.find(':');
        if (colon != std::string_view::npos) {
          std::string_view name = w.substr(0, colon);
          TK kind = TK::kEnd;
          if (name == "title") kind = TK::kTitle;
          if (name == "body") kind = TK::kBody;
          if (name == "lang") kind = TK::kLang;
          if (name == "source") kind = TK::kSource;
          if (kind != TK::kEnd) {
            t.kind = kind;
            t.text = w.substr(0, colon + 1);
            out->push_back(t);
            i += colon + 1;
            continue;
          }
        }
        if (w == "AND") {
          t.kind = TK::kAnd;
        } else if (w == "OR") {
          t.kind = TK::kOr;
        } else if (w == "NOT") {
          t.kind = TK::kNot;
        } else if (w == "AT_LEAST") {
          t.kind = TK::kAtLeast;
        } else if (w == "AT_LEAST_DISTINCT") {
          t.kind = TK::kAtLeastDistinct;
        } else if (w == "NEAR" || w == "ONEAR" || w.starts_with("NEAR/") ||
                   w.starts_with("ONEAR/")) {
          t.kind = TK::kNear;
          t.ordered = w[0] == 'O';
          size_t slash = w.find('/');
          std::string_view digits =
              slash == std::string_view::npos ? std::string_view() : w.substr(slash + 1);
          auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), t.distance);
          if (digits.empty() || ec != std::errc() || p != digits.data() + digits.size()) {
            *error = {t.offset, Cat("'", w, "': write ", t.ordered ? "ONEAR" : "NEAR",
                                    "/n with n the maximum distance in words")};
            return false;
          }
        } else {
          t.kind = TK::kWord;
        }
        i = j;
      }
      out->push_back(t);
    }
  }

 private:
  std::string_view q_;
};

bool StartsOperand(TK k) {
  switch (k) {
    case TK::kLParen:
    case TK::kNot:
    case TK::kAtLeast:
    case TK::kAtLeastDistinct:
    case TK::kPhrase:
    case TK::kRegex:
    case TK::kSetRef:
    case TK::kWord:
    case TK::kTitle:
    case TK::kBody:
    case TK::kLang:
    case TK::kSource:
      return true;
    default:
      return false;
  }
}

// True when the subtree has a term or set that is not under NOT: something whose hits can
// give NEAR a position and AT_LEAST an occurrence.
bool HasPositiveTerm(const QueryNode& n) {
  switch (n.kind) {
    case QueryNode::Kind::kTerm:
    case QueryNode::Kind::kSet:
      return true;
    case QueryNode::Kind::kNot:
      return false;
    default:
      for (const auto& c : n.children) {
        if (HasPositiveTerm(*c)) return true;
      }
      return false;
  }
}

class Parser {
 public:
  Parser(std::vector<Token> tokens, const QueryLimits& limits)
      : t_(std::move(tokens)), limits_(limits) {}

  std::unique_ptr<QueryNode> ParseAll() {
    auto root = ParseOr();
    if (!root) return nullptr;
    if (Peek().kind != TK::kEnd) {
      if (Peek().kind == TK::kRParen) return Fail(Peek(), "unbalanced ')': no '(' to close");
      return FailBetween();
    }
    return root;
  }

  QueryError error;

 private:
  const Token& Peek() const { return t_[pos_]; }
  const Token& Next() { return t_[pos_ == t_.size() - 1 ? pos_ : pos_++]; }

  std::unique_ptr<QueryNode> Fail(const Token& t, std::string message) {
    if (!failed_) error = {t.offset, std::move(message)};
    failed_ = true;
    return nullptr;
  }
  std::unique_ptr<QueryNode> FailBetween() {
    const Token& t = Peek();
    if (StartsOperand(t.kind)) {
      return Fail(t, Cat("missing operator before ", Describe(t),
                         ": write AND or OR between operands (operators are upper case)"));
    }
    return Fail(t, Cat("unexpected ", Describe(t)));
  }

  static std::unique_ptr<QueryNode> Make(QueryNode::Kind kind, uint32_t offset) {
    auto n = std::make_unique<QueryNode>();
    n->kind = kind;
    n->offset = offset;
    return n;
  }

  std::unique_ptr<QueryNode> ParseOr() {
    auto left = ParseAnd();
    if (!left) return nullptr;
    if (Peek().kind != TK::kOr) return left;
    auto node = Make(QueryNode::Kind::kOr, left->offset);
    node->children.push_back(std::move(left));
    while (Peek().kind == TK::kOr) {
      Next();
      auto right = ParseAnd();
      if (!right) return nullptr;
      node->children.push_back(std::move(right));
    }
    return node;
  }

  std::unique_ptr<QueryNode> ParseAnd() {
    auto left = ParseNear();
    if (!left) return nullptr;
    if (Peek().kind != TK::kAnd) {
      if (StartsOperand(Peek().kind)) return FailBetween();
      return left;
    }
    auto node = Make(QueryNode::Kind::kAnd, left->offset);
    node->children.push_back(std::move(left));
    while (Peek().kind == TK::kAnd) {
      Next();
      auto right = ParseNear();
      if (!right) return nullptr;
      node->children.push_back(std::move(right));
    }
    if (StartsOperand(Peek().kind)) return FailBetween();
    return node;
  }

  std::unique_ptr<QueryNode> ParseNear() {
    auto left = ParseUnary();
    if (!left) return nullptr;
    while (Peek().kind == TK::kNear) {
      const Token& op = Next();
      if (op.distance > limits_.max_near_distance) {
        return Fail(op, Cat("NEAR distance ", op.distance, " exceeds the limit of ",
                            limits_.max_near_distance, " words: use AND"));
      }
      auto right = ParseUnary();
      if (!right) return nullptr;
      if (!HasPositiveTerm(*left) || !HasPositiveTerm(*right)) {
        return Fail(op, Cat(op.text,
                            " needs terms on both sides (a side with only NOT or "
                            "lang:/source: filters has no position)"));
      }
      auto node = Make(QueryNode::Kind::kNear, left->offset);
      node->distance = op.distance;
      node->ordered = op.ordered;
      node->children.push_back(std::move(left));
      node->children.push_back(std::move(right));
      left = std::move(node);
    }
    return left;
  }

  std::unique_ptr<QueryNode> ParseUnary() {
    if (Peek().kind != TK::kNot) return ParsePrimary();
    const Token& op = Next();
    if (!Enter(op)) return nullptr;
    auto child = ParseUnary();
    --depth_;
    if (!child) return nullptr;
    auto node = Make(QueryNode::Kind::kNot, op.offset);
    node->children.push_back(std::move(child));
    return node;
  }

  bool Enter(const Token& t) {
    if (++depth_ > limits_.max_depth) {
      Fail(t, Cat("the query nests deeper than ", limits_.max_depth, " levels"));
      return false;
    }
    return true;
  }

  std::unique_ptr<QueryNode> Term(const Token& t) {
    auto node = Make(QueryNode::Kind::kTerm, t.offset);
    std::string err;
    std::string_view raw = t.kind == TK::kWord ? t.value : t.text;
    if (!ParseTermString(raw, &node->text, &node->term_kind, &err, &node->display)) {
      return Fail(t, err);
    }
    if (node->text.size() > limits_.max_term_bytes) {
      return Fail(t, Cat("term is ", node->text.size(), " bytes, over the limit of ",
                         limits_.max_term_bytes));
    }
    return node;
  }

  std::unique_ptr<QueryNode> ParseGroup(const Token& open) {
    if (!Enter(open)) return nullptr;
    auto inner = ParseOr();
    --depth_;
    if (!inner) return nullptr;
    if (Peek().kind != TK::kRParen) {
      if (Peek().kind == TK::kEnd) {
        return Fail(open, "unbalanced '(': add the closing ')'");
      }
      return FailBetween();
    }
    Next();
    return inner;
  }

  std::unique_ptr<QueryNode> ParseValues(const Token& field, QueryNode::Kind kind) {
    auto node = Make(kind, field.offset);
    std::string_view what = kind == QueryNode::Kind::kLang ? "a language code" : "a source glob";
    auto value = [&](const Token& t) {
      std::string v(t.kind == TK::kPhrase ? t.value : t.text);
      if (kind == QueryNode::Kind::kLang) absl::AsciiStrToLower(&v);
      node->values.push_back(std::move(v));
    };
    const Token& t = Next();
    if (t.kind == TK::kWord || t.kind == TK::kPhrase) {
      value(t);
      return node;
    }
    if (t.kind != TK::kLParen) {
      return Fail(t, Cat("expected ", what, " after '", field.text, "', found ", Describe(t)));
    }
    while (true) {
      const Token& v = Next();
      if (v.kind != TK::kWord && v.kind != TK::kPhrase) {
        return Fail(v, Cat("expected ", what, " in '", field.text, "(...)', found ", Describe(v)));
      }
      value(v);
      const Token& sep = Next();
      if (sep.kind == TK::kRParen) return node;
      if (sep.kind != TK::kOr) {
        return Fail(sep,
                    Cat("expected OR or ')' in '", field.text, "(...)', found ", Describe(sep)));
      }
    }
  }

  std::unique_ptr<QueryNode> ParsePrimary() {
    const Token& t = Next();
    switch (t.kind) {
      case TK::kLParen:
        return ParseGroup(t);
      case TK::kWord:
      case TK::kPhrase:
      case TK::kRegex:
        return Term(t);
      case TK::kSetRef: {
        auto node = Make(QueryNode::Kind::kSet, t.offset);
        node->text = std::string(t.value);
        return node;
      }
      case TK::kTitle:
      case TK::kBody: {
        auto node = Make(QueryNode::Kind::kField, t.offset);
        node->fields = t.kind == TK::kTitle ? kTitleMask : kBodyMask;
        const Token& next = Peek();
        if (next.kind != TK::kLParen && next.kind != TK::kWord && next.kind != TK::kPhrase &&
            next.kind != TK::kRegex && next.kind != TK::kSetRef) {
          return Fail(next,
                      Cat("expected '(' or a term after '", t.text, "', found ", Describe(next)));
        }
        if (!Enter(t)) return nullptr;
        auto child = ParsePrimary();
        --depth_;
        if (!child) return nullptr;
        node->children.push_back(std::move(child));
        return node;
      }
      case TK::kLang:
        return ParseValues(t, QueryNode::Kind::kLang);
      case TK::kSource:
        return ParseValues(t, QueryNode::Kind::kSource);
      case TK::kAtLeast:
      case TK::kAtLeastDistinct: {
        auto node = Make(
            t.kind == TK::kAtLeast ? QueryNode::Kind::kAtLeast : QueryNode::Kind::kAtLeastDistinct,
            t.offset);
        std::string usage = Cat(t.text, "(n, expression)");
        const Token& open = Next();
        if (open.kind != TK::kLParen) {
          return Fail(open, Cat("expected '(' after ", t.text, ": write ", usage));
        }
        const Token& n = Next();
        auto [p, ec] = std::from_chars(n.text.data(), n.text.data() + n.text.size(), node->count);
        if (n.kind != TK::kWord || ec != std::errc() || p != n.text.data() + n.text.size() ||
            node->count == 0) {
          return Fail(n, Cat("expected a count >= 1, found ", Describe(n), ": write ", usage));
        }
        if (node->count > limits_.max_at_least) {
          return Fail(n,
                      Cat("count ", node->count, " exceeds the limit of ", limits_.max_at_least));
        }
        const Token& comma = Next();
        if (comma.kind != TK::kComma) {
          return Fail(comma, Cat("expected ',' after the count: write ", usage));
        }
        if (!Enter(t)) return nullptr;
        auto child = ParseOr();
        --depth_;
        if (!child) return nullptr;
        if (Peek().kind != TK::kRParen) {
          if (Peek().kind == TK::kEnd) return Fail(open, "unbalanced '(': add the closing ')'");
          return FailBetween();
        }
        Next();
        if (!HasPositiveTerm(*child)) {
          return Fail(t, Cat(t.text, " needs terms to count (not only NOT or filters)"));
        }
        node->children.push_back(std::move(child));
        return node;
      }
      case TK::kEnd:
        return Fail(t, "the query ends where a term was expected");
      case TK::kRParen:
        return Fail(t, "expected a term before ')'");
      case TK::kAnd:
      case TK::kOr:
        return Fail(t, Cat(t.text, " needs a term on its left"));
      case TK::kNear:
        return Fail(t, Cat(t.text, " needs terms on both sides"));
      default:
        return Fail(t, Cat("unexpected ", Describe(t)));
    }
  }

  std::vector<Token> t_;
  const QueryLimits& limits_;
  size_t pos_ = 0;
  int depth_ = 0;
  bool failed_ = false;
};

}  // namespace

ParsedQuery ParseQuery(std::string_view query, const QueryLimits& limits) {
  ParsedQuery result;
  if (query.size() > limits.max_query_bytes) {
    result.error = {0, Cat("the query is ", query.size(), " bytes, over the limit of ",
                           limits.max_query_bytes, ": move term lists into sets")};
    return result;
  }
  std::vector<Token> tokens;
  if (!Lexer(query).Run(&tokens, &result.error)) return result;
  Parser parser(std::move(tokens), limits);
  result.root = parser.ParseAll();
  if (!result.root) result.error = parser.error;
  return result;
}

}  // namespace steppewatch::rules
