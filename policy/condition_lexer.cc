// The condition lexer: turns the text of a `when:` condition into tokens,
// decoding number and string literals and refusing, with a hint, what
// people write from other languages (`=`, `and`, `null`, arithmetic).
#include <cmath>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "policy/condition_internal.h"

namespace havengate::policy::internal {
namespace {

class Lexer {
 public:
  Lexer(absl::string_view text, std::vector<ConditionError>* errors)
      : text_(text), errors_(errors) {}

  // Tokenises everything; returns false after the first lexical error (the
  // rest of the text cannot be trusted to tokenise meaningfully).
  bool Run(std::vector<Token>* out) {
    while (true) {
      Token t;
      if (!Next(&t)) return false;
      out->push_back(t);
      if (t.kind == Tok::kEnd) return true;
    }
  }

 private:
  bool Fail(size_t offset, std::string message) {
    errors_->push_back({offset, std::move(message)});
    return false;
  }

  bool Next(Token* t) {
    while (pos_ < text_.size() && absl::ascii_isspace(text_[pos_])) ++pos_;
    t->offset = pos_;
    if (pos_ >= text_.size()) {
      // "Ends too early" points just after the last written character, not
      // at trailing line breaks.
      size_t end = text_.size();
      while (end > 0 && absl::ascii_isspace(text_[end - 1])) --end;
      t->offset = end;
      t->kind = Tok::kEnd;
      return true;
    }
    char c = text_[pos_];
    char n = pos_ + 1 < text_.size() ? text_[pos_ + 1] : '\0';
    if (absl::ascii_isalpha(c) || c == '_') return Identifier(t);
    if (absl::ascii_isdigit(c) || (c == '.' && absl::ascii_isdigit(n))) {
      return Number(t);
    }
    if (c == '"' || c == '\'') return String(t);
    auto two = [&](Tok kind) {
      t->kind = kind;
      pos_ += 2;
      return true;
    };
    auto one = [&](Tok kind) {
      t->kind = kind;
      pos_ += 1;
      return true;
    };
    switch (c) {
      case '(': return one(Tok::kLParen);
      case ')': return one(Tok::kRParen);
      case '[': return one(Tok::kLBracket);
      case ']': return one(Tok::kRBracket);
      case ',': return one(Tok::kComma);
      case '.': return one(Tok::kDot);
      case '-': return one(Tok::kMinus);
      case '=':
        if (n == '=') return two(Tok::kEq);
        return Fail(pos_, "use `==` to compare (a single `=` is not an operator)");
      case '!':
        if (n == '=') return two(Tok::kNe);
        return one(Tok::kNot);
      case '<':
        if (n == '=') return two(Tok::kLe);
        return one(Tok::kLt);
      case '>':
        if (n == '=') return two(Tok::kGe);
        return one(Tok::kGt);
      case '&':
        if (n == '&') return two(Tok::kAnd);
        return Fail(pos_, "use `&&` for \"and\"");
      case '|':
        if (n == '|') return two(Tok::kOr);
        return Fail(pos_, "use `||` for \"or\"");
      case '+': case '*': case '/': case '%': case '?': case ':':
        return Fail(pos_, absl::StrCat("`", std::string(1, c),
                                       "`: arithmetic and `? :` are not "
                                       "supported in conditions"));
      default:
        return Fail(pos_, absl::StrCat("unexpected character `",
                                       std::string(1, c), "`"));
    }
  }

  bool Identifier(Token* t) {
    size_t start = pos_;
    while (pos_ < text_.size() &&
           (absl::ascii_isalnum(text_[pos_]) || text_[pos_] == '_')) {
      ++pos_;
    }
    t->text = std::string(text_.substr(start, pos_ - start));
    if (t->text == "in") {
      t->kind = Tok::kIn;
    } else if (t->text == "true") {
      t->kind = Tok::kTrue;
    } else if (t->text == "false") {
      t->kind = Tok::kFalse;
    } else if (t->text == "and" || t->text == "AND") {
      return Fail(start, "use `&&` for \"and\"");
    } else if (t->text == "or" || t->text == "OR") {
      return Fail(start, "use `||` for \"or\"");
    } else if (t->text == "not" || t->text == "NOT") {
      return Fail(start, "use `!` for \"not\"");
    } else if (t->text == "null") {
      return Fail(start, "`null` is not supported; use has(field) to test "
                         "whether a field is set");
    } else {
      t->kind = Tok::kIdent;
    }
    return true;
  }

  bool Number(Token* t) {
    size_t start = pos_;
    bool is_double = false;
    {
      while (pos_ < text_.size() && absl::ascii_isdigit(text_[pos_])) ++pos_;
      if (pos_ < text_.size() && text_[pos_] == '.' && pos_ + 1 < text_.size() &&
          absl::ascii_isdigit(text_[pos_ + 1])) {
        is_double = true;
        ++pos_;
        while (pos_ < text_.size() && absl::ascii_isdigit(text_[pos_])) ++pos_;
      }
      if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
        size_t save = pos_++;
        if (pos_ < text_.size() && (text_[pos_] == '+' || text_[pos_] == '-')) ++pos_;
        if (pos_ < text_.size() && absl::ascii_isdigit(text_[pos_])) {
          is_double = true;
          while (pos_ < text_.size() && absl::ascii_isdigit(text_[pos_])) ++pos_;
        } else {
          pos_ = save;
        }
      }
    }
    std::string digits(text_.substr(start, pos_ - start));
    bool is_unsigned = !is_double && pos_ < text_.size() &&
                       (text_[pos_] == 'u' || text_[pos_] == 'U');
    if (is_unsigned) ++pos_;
    if (pos_ < text_.size() &&
        (absl::ascii_isalpha(text_[pos_]) || text_[pos_] == '_')) {
      return Fail(start, absl::StrCat("`", text_.substr(start, pos_ + 1 - start),
                                      "` is not a number; put text in quotes"));
    }
    bool ok;
    if (is_double) {
      t->kind = Tok::kDouble;
      ok = absl::SimpleAtod(digits, &t->d) && std::isfinite(t->d);
    } else if (is_unsigned) {
      t->kind = Tok::kUint;
      ok = absl::SimpleAtoi(digits, &t->u);
    } else {
      t->kind = Tok::kInt;
      ok = absl::SimpleAtoi(digits, &t->i);
    }
    if (!ok) return Fail(start, absl::StrCat("`", digits, "` is not a valid number"));
    return true;
  }

  bool String(Token* t) {
    char quote = text_[pos_];
    size_t start = pos_++;
    std::string value;
    while (pos_ < text_.size() && text_[pos_] != quote) {
      char c = text_[pos_];
      if (c == '\n') break;
      if (c == '\\') {
        if (pos_ + 1 >= text_.size()) break;
        char e = text_[pos_ + 1];
        switch (e) {
          case '\\': value.push_back('\\'); break;
          case '"': value.push_back('"'); break;
          case '\'': value.push_back('\''); break;
          case 'n': value.push_back('\n'); break;
          case 't': value.push_back('\t'); break;
          case 'r': value.push_back('\r'); break;
          default:
            return Fail(pos_, absl::StrCat("unknown escape `\\",
                                           std::string(1, e), "` in text"));
        }
        pos_ += 2;
        continue;
      }
      value.push_back(c);
      ++pos_;
    }
    if (pos_ >= text_.size() || text_[pos_] != quote) {
      return Fail(start, absl::StrCat("text starting here has no closing ",
                                      std::string(1, quote)));
    }
    ++pos_;
    t->kind = Tok::kString;
    t->text = std::move(value);
    return true;
  }

  absl::string_view text_;
  std::vector<ConditionError>* errors_;
  size_t pos_ = 0;
};

}  // namespace

bool Tokenize(absl::string_view text, std::vector<ConditionError>* errors,
              std::vector<Token>* out) {
  return Lexer(text, errors).Run(out);
}

}  // namespace havengate::policy::internal
