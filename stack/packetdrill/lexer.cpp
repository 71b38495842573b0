#include "stack/packetdrill/lexer.hpp"

#include <arpa/inet.h>

#include <cstdio>

namespace tcpsim::stack::packetdrill {

std::string Diagnostic::to_string() const {
    if (loc.line == 0) return file + ": " + message;
    return file + ":" + std::to_string(loc.line) + ":" + std::to_string(loc.column) + ": " + message;
}

const char* to_string(TokenKind k) {
    switch (k) {
        case TokenKind::Integer: return "integer";
        case TokenKind::HexInteger: return "hex integer";
        case TokenKind::Float: return "number";
        case TokenKind::Word: return "word";
        case TokenKind::String: return "string";
        case TokenKind::BackQuoted: return "`command`";
        case TokenKind::Code: return "%{ code }%";
        case TokenKind::Option: return "--option";
        case TokenKind::Ipv4Addr: return "IPv4 address";
        case TokenKind::Ipv6Addr: return "IPv6 address";
        case TokenKind::Ellipsis: return "'...'";
        case TokenKind::Punct: return "punctuation";
        case TokenKind::End: return "end of file";
    }
    return "token";
}

std::string Token::describe() const {
    switch (kind) {
        case TokenKind::End: return "end of file";
        case TokenKind::String: return "string \"" + text + "\"";
        case TokenKind::BackQuoted: return "`command`";
        case TokenKind::Code: return "%{ code }% block";
        case TokenKind::Option: return "option '--" + text + "'";
        default: return "'" + text + "'";
    }
}

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
bool is_word_char(char c) { return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }

class Lexer {
public:
    Lexer(std::string_view src, const std::string& file, std::vector<Diagnostic>& errors)
        : src_(src), file_(file), errors_(errors) {}

    std::vector<Token> run() {
        std::vector<Token> out;
        while (true) {
            skip_blanks_and_comments();
            if (pos_ >= src_.size()) break;
            Token t;
            bool first = !token_on_line_;
            if (lex_one(t)) {
                t.first_on_line = first;
                token_on_line_ = true;  // also after a multi-line token: its last line is taken
                out.push_back(std::move(t));
            }
        }
        Token end;
        end.kind = TokenKind::End;
        end.loc = here();
        end.offset = end.end_offset = src_.size();
        end.first_on_line = true;
        out.push_back(std::move(end));
        return out;
    }

private:
    SourceLoc here() const { return SourceLoc{line_, static_cast<std::uint32_t>(pos_ - line_start_ + 1)}; }
    char peek(std::size_t ahead = 0) const { return pos_ + ahead < src_.size() ? src_[pos_ + ahead] : '\0'; }
    void advance(std::size_t n = 1) {
        for (std::size_t i = 0; i < n && pos_ < src_.size(); ++i) {
            if (src_[pos_] == '\n') {
                ++line_;
                line_start_ = pos_ + 1;
                token_on_line_ = false;
            }
            ++pos_;
        }
    }
    void error(SourceLoc loc, std::string msg) { errors_.push_back(Diagnostic{file_, loc, std::move(msg)}); }

    void skip_blanks_and_comments() {
        while (pos_ < src_.size()) {
            char c = peek();
            if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
                advance();
            } else if (c == '/' && peek(1) == '/') {
                while (pos_ < src_.size() && peek() != '\n') advance();
            } else if (c == '/' && peek(1) == '*') {
                SourceLoc start = here();
                std::size_t close = src_.find("*/", pos_ + 2);
                if (close == std::string_view::npos) {
                    error(start, "unterminated /* comment");
                    advance(src_.size() - pos_);
                } else {
                    advance(close + 2 - pos_);
                }
            } else {
                break;
            }
        }
    }

    // Length of the longest match of `pattern` at pos_ for the number/word family.
    std::size_t match_integer() const {
        std::size_t i = pos_;
        if (i < src_.size() && src_[i] == '-') ++i;
        std::size_t digits = i;
        while (i < src_.size() && is_digit(src_[i])) ++i;
        return i > digits ? i - pos_ : 0;
    }
    std::size_t match_float() const {
        std::size_t i = pos_;
        if (i < src_.size() && src_[i] == '-') ++i;
        while (i < src_.size() && is_digit(src_[i])) ++i;
        if (i >= src_.size() || src_[i] != '.') return 0;
        ++i;
        std::size_t frac = i;
        while (i < src_.size() && is_digit(src_[i])) ++i;
        return i > frac ? i - pos_ : 0;
    }
    std::size_t match_hex() const {
        if (peek() != '0' || peek(1) != 'x') return 0;
        std::size_t i = pos_ + 2;
        while (i < src_.size() && is_hex(src_[i])) ++i;
        return i > pos_ + 2 ? i - pos_ : 0;
    }
    std::size_t match_word() const {
        std::size_t i = pos_;
        while (i < src_.size() && is_word_char(src_[i])) ++i;
        return i - pos_;
    }
    std::size_t match_ipv4() const {
        std::size_t i = pos_;
        for (int part = 0; part < 4; ++part) {
            if (part > 0) {
                if (i >= src_.size() || src_[i] != '.') return 0;
                ++i;
            }
            std::size_t start = i;
            while (i < src_.size() && is_digit(src_[i])) ++i;
            if (i == start) return 0;
        }
        return i - pos_;
    }
    // IPv6: the longest run of hex digits, colons and dots that inet_pton accepts and that has
    // "::" or seven colons, so sequence ranges like 1:1001 never qualify.
    std::size_t match_ipv6() const {
        // The longest IPv6 text (with an embedded IPv4 address) has 45 characters.
        std::size_t i = pos_;
        bool colon = false;
        while (i < src_.size() && i - pos_ < 45 && (is_hex(src_[i]) || src_[i] == ':' || src_[i] == '.')) colon |= src_[i++] == ':';
        if (!colon) return 0;
        for (std::size_t len = i - pos_; len >= 2; --len) {
            std::string cand(src_.substr(pos_, len));
            std::size_t colons = 0;
            for (char c : cand) colons += c == ':';
            if (cand.find("::") == std::string::npos && colons != 7) continue;
            unsigned char buf[16];
            if (inet_pton(AF_INET6, cand.c_str(), buf) == 1) return len;
        }
        return 0;
    }

    bool lex_one(Token& t) {
        t.loc = here();
        t.offset = pos_;
        char c = peek();
        auto finish = [&](TokenKind kind, std::size_t len) {
            t.kind = kind;
            t.text = std::string(src_.substr(pos_, len));
            advance(len);
            t.end_offset = pos_;
            return true;
        };

        if (c == '.' && peek(1) == '.' && peek(2) == '.') return finish(TokenKind::Ellipsis, 3);
        if (c == '-' && peek(1) == '-' && is_word_char(peek(2))) {
            std::size_t i = pos_ + 2;
            while (i < src_.size() && is_word_char(src_[i])) ++i;
            finish(TokenKind::Option, i - pos_);
            t.text.erase(0, 2);
            return true;
        }
        if (c == '"' || c == '`') return lex_quoted(t, c);
        if (c == '%' && peek(1) == '{') return lex_code(t);

        if (is_word_char(c) || c == '-' || c == '.' || c == ':') {
            // Longest match; on a tie the earlier kind wins (packetdrill's flex rule order).
            struct Cand { TokenKind kind; std::size_t len; };
            const Cand cands[] = {
                {TokenKind::Float, match_float()},     {TokenKind::Integer, match_integer()},
                {TokenKind::HexInteger, match_hex()},  {TokenKind::Word, match_word()},
                {TokenKind::Ipv4Addr, match_ipv4()},   {TokenKind::Ipv6Addr, (is_hex(c) || c == ':') ? match_ipv6() : 0},
            };
            Cand best{TokenKind::End, 0};
            for (const Cand& k : cands)
                if (k.len > best.len) best = k;
            if (best.len > 0) return finish(best.kind, best.len);
        }
        auto uc = static_cast<unsigned char>(c);
        if (uc < 0x20 || uc >= 0x7f) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02x", uc);
            error(t.loc, std::string("unexpected character '") + buf + "'");
            advance();
            return false;
        }
        return finish(TokenKind::Punct, 1);
    }

    // "string" or `command`: contents kept verbatim (packetdrill does not unescape either), a
    // backslash protects the next character from closing the token.
    bool lex_quoted(Token& t, char quote) {
        std::size_t i = pos_ + 1;
        while (i < src_.size() && src_[i] != quote) {
            if (src_[i] == '\\' && i + 1 < src_.size()) ++i;
            ++i;
        }
        if (i >= src_.size()) {
            error(t.loc, quote == '"' ? "unterminated string" : "unterminated `command` (missing closing backquote)");
            // Resume at the next line so one missing quote does not swallow the script.
            std::size_t nl = src_.find('\n', pos_);
            advance((nl == std::string_view::npos ? src_.size() : nl) - pos_);
            return false;
        }
        t.kind = quote == '"' ? TokenKind::String : TokenKind::BackQuoted;
        t.text = std::string(src_.substr(pos_ + 1, i - pos_ - 1));
        advance(i + 1 - pos_);
        t.end_offset = pos_;
        return true;
    }

    bool lex_code(Token& t) {
        std::size_t close = src_.find("}%", pos_ + 2);
        if (close == std::string_view::npos) {
            error(t.loc, "unterminated %{ code block (missing }%)");
            advance(src_.size() - pos_);
            return false;
        }
        std::string_view body = src_.substr(pos_ + 2, close - pos_ - 2);
        while (!body.empty() && (body.front() == ' ' || body.front() == '\t')) body.remove_prefix(1);
        while (!body.empty() && (body.back() == ' ' || body.back() == '\t')) body.remove_suffix(1);
        t.kind = TokenKind::Code;
        t.text = std::string(body);
        advance(close + 2 - pos_);
        t.end_offset = pos_;
        return true;
    }

    std::string_view src_;
    const std::string& file_;
    std::vector<Diagnostic>& errors_;
    std::size_t pos_ = 0;
    std::uint32_t line_ = 1;
    std::size_t line_start_ = 0;
    bool token_on_line_ = false;
};

}  // namespace

std::vector<Token> tokenize(std::string_view source, const std::string& file, std::vector<Diagnostic>& errors) {
    return Lexer(source, file, errors).run();
}

}  // namespace tcpsim::stack::packetdrill
