// Lexer for the packetdrill script language (github.com/google/packetdrill, lexer.l): turns a
// script into tokens that carry line:column. It follows packetdrill's longest-match rules, so
// `+.1...0.200` is '+', FLOAT ".1", ELLIPSIS, FLOAT "0.200" and `1:1001(1000)` is never an IPv6
// address. Keywords (ack, win, mss, ...) stay plain words; the parser gives them meaning by
// position, which keeps struct fields such as `fd=` or `events=` ordinary names.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "stack/packetdrill/diagnostic.hpp"

namespace tcpsim::stack::packetdrill {

enum class TokenKind {
    Integer,      // 123, -1 (the sign belongs to the number, as in packetdrill)
    HexInteger,   // 0x1f
    Float,        // .1, 0.200, -1.5
    Word,         // SOCK_STREAM, S, sackOK, abcd1234
    String,       // "..." (text holds the unescaped contents)
    BackQuoted,   // `...` shell command (text holds the contents, may span lines)
    Code,         // %{ ... }% (text holds the contents, trimmed of blanks at both ends)
    Option,       // --name (text holds "name")
    Ipv4Addr,     // 192.0.2.1
    Ipv6Addr,     // 2001:db8::1
    Ellipsis,     // ...
    Punct,        // any other single character: < > ( ) [ ] { } , : = | + * ~ . - ;
    End,
};
const char* to_string(TokenKind k);

struct Token {
    TokenKind kind = TokenKind::End;
    std::string text;   // source text, or the decoded contents for String/BackQuoted/Code/Option
    SourceLoc loc;      // first character
    std::size_t offset = 0;      // byte offset of the first character
    std::size_t end_offset = 0;  // byte offset just past the token
    bool first_on_line = false;  // nothing but blanks/comments before it on its line

    bool is(char c) const { return kind == TokenKind::Punct && text.size() == 1 && text[0] == c; }
    bool is_word(std::string_view w) const { return kind == TokenKind::Word && text == w; }
    // How the token reads in an error message: 'accept', "\"abc\"", end of file ...
    std::string describe() const;
};

// Tokenizes `source`; lexical errors (unterminated string/comment/command/code block, a stray
// control or non-ASCII character) are appended to `errors`, and lexing resumes after them.
// The result always ends with an End token.
std::vector<Token> tokenize(std::string_view source, const std::string& file, std::vector<Diagnostic>& errors);

}  // namespace tcpsim::stack::packetdrill
