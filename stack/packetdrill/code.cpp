#include "stack/packetdrill/code.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <limits>
#include <map>

#include "stack/packetdrill/symbols.hpp"

namespace tcpsim::stack::packetdrill {

namespace {

constexpr int kMaxDepth = 64;

struct PyToken {
    enum class Kind { Name, Int, Op, String, Newline, End };
    Kind kind = Kind::End;
    std::string text;
    SourceLoc loc;
    std::size_t offset = 0;
};

struct Unsupported {
    CodeError error;
};

class PyParser {
public:
    explicit PyParser(const CodeSpec& code) : src_(code.text), base_(code.text_loc) {}

    CodeProgram run() {
        tokenize();
        CodeProgram prog;
        while (cur().kind != PyToken::Kind::End) {
            if (cur().kind == PyToken::Kind::Newline) {
                ++i_;
                continue;
            }
            prog.statements.push_back(statement());
            if (cur().kind == PyToken::Kind::Newline) ++i_;
            else if (cur().kind != PyToken::Kind::End) fail(cur().loc, "expected the end of the statement, found '" + cur().text + "'");
        }
        return prog;
    }

private:
    [[noreturn]] void fail(SourceLoc loc, std::string msg) { throw Unsupported{CodeError{loc, std::move(msg)}}; }
    const PyToken& cur() const { return toks_[i_]; }
    bool is_op(std::string_view op) const { return cur().kind == PyToken::Kind::Op && cur().text == op; }
    bool is_name(std::string_view n) const { return cur().kind == PyToken::Kind::Name && cur().text == n; }

    // Offsets of line starts within the text, so a location costs a binary search.
    SourceLoc loc_at(std::size_t off) const {
        auto it = std::upper_bound(line_starts_.begin(), line_starts_.end(), off);
        auto line = static_cast<std::uint32_t>(it - line_starts_.begin() - 1);
        auto col = static_cast<std::uint32_t>(off - line_starts_[line]);
        if (line == 0) return SourceLoc{base_.line, base_.column + col};
        return SourceLoc{base_.line + line, col + 1};
    }

    void tokenize() {
        line_starts_.push_back(0);
        for (std::size_t k = 0; k < src_.size(); ++k)
            if (src_[k] == '\n') line_starts_.push_back(k + 1);
        std::size_t i = 0;
        int depth = 0;  // newlines inside brackets do not end a statement (Python)
        auto push = [&](PyToken::Kind k, std::size_t start, std::size_t end) {
            toks_.push_back(PyToken{k, src_.substr(start, end - start), loc_at(start), start});
        };
        while (i < src_.size()) {
            char c = src_[i];
            if (c == ' ' || c == '\t' || c == '\r') {
                ++i;
            } else if (c == '\\' && i + 1 < src_.size() && src_[i + 1] == '\n') {
                i += 2;
            } else if (c == '#') {
                while (i < src_.size() && src_[i] != '\n') ++i;
            } else if (c == '\n' || c == ';') {
                if (depth == 0) push(PyToken::Kind::Newline, i, i + 1);
                ++i;
            } else if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
                std::size_t s = i;
                while (i < src_.size() && (std::isalnum(static_cast<unsigned char>(src_[i])) || src_[i] == '_')) ++i;
                push(PyToken::Kind::Name, s, i);
            } else if (std::isdigit(static_cast<unsigned char>(c))) {
                std::size_t s = i;
                while (i < src_.size() && (std::isalnum(static_cast<unsigned char>(src_[i])) || src_[i] == '_')) ++i;
                push(PyToken::Kind::Int, s, i);
            } else if (c == '\'' || c == '"') {
                std::size_t s = i++;
                while (i < src_.size() && src_[i] != c && src_[i] != '\n') i += src_[i] == '\\' ? 2 : 1;
                if (i >= src_.size() || src_[i] != c) fail(loc_at(s), "unterminated string");
                ++i;
                push(PyToken::Kind::String, s, i);
            } else {
                static const char* ops[] = {"==", "!=", "<=", ">=", "//", "<<", ">>", "<", ">", "|", "&", "^",
                                            "~", "+", "-", "*", "%", "(", ")", ",", "=", "[", "]"};
                bool found = false;
                for (const char* op : ops) {
                    std::string_view o(op);
                    if (src_.compare(i, o.size(), o) == 0) {
                        if (o == "(" || o == "[") ++depth;
                        if ((o == ")" || o == "]") && depth > 0) --depth;
                        push(PyToken::Kind::Op, i, i + o.size());
                        i += o.size();
                        found = true;
                        break;
                    }
                }
                if (!found) fail(loc_at(i), std::string("unsupported character '") + c + "'");
            }
        }
        toks_.push_back(PyToken{PyToken::Kind::End, "", loc_at(src_.size()), src_.size()});
    }

    CodeStatement statement() {
        CodeStatement st;
        st.loc = cur().loc;
        std::size_t start = cur().offset;
        if (is_name("assert")) {
            ++i_;
            st.kind = CodeStatement::Kind::Assert;
            st.expr = expr(0);
            if (is_op(",")) {
                // The message is only shown by Python on failure; skip it up to the statement end.
                while (cur().kind != PyToken::Kind::Newline && cur().kind != PyToken::Kind::End) ++i_;
            }
        } else if (is_name("print") && toks_[i_ + 1].kind == PyToken::Kind::Op && toks_[i_ + 1].text == "(") {
            // print(...) only writes to packetdrill's output: skip its (balanced) arguments.
            st.kind = CodeStatement::Kind::Print;
            i_ += 2;
            int depth = 1;
            while (depth > 0 && cur().kind != PyToken::Kind::End) {
                if (is_op("(")) ++depth;
                if (is_op(")")) --depth;
                ++i_;
            }
            if (depth > 0) fail(cur().loc, "expected ')' to close print(");
        } else if (cur().kind == PyToken::Kind::Name && toks_[i_ + 1].kind == PyToken::Kind::Op && toks_[i_ + 1].text == "=") {
            st.kind = CodeStatement::Kind::Assign;
            st.target = cur().text;
            i_ += 2;
            st.expr = expr(0);
        } else {
            fail(cur().loc, "only 'assert EXPR' and 'NAME = EXPR' statements are supported, found '" + cur().text + "'");
        }
        std::size_t end = cur().offset;
        st.text = src_.substr(start, end - start);
        while (!st.text.empty() && (st.text.back() == ' ' || st.text.back() == '\n' || st.text.back() == ';')) st.text.pop_back();
        return st;
    }

    // Precedence, loosest first (Python): or, and, not, comparisons, |, ^, &, << >>, + -, * // %, unary.
    PyExpr expr(int depth) { return or_expr(depth + 1); }

    PyExpr binary(PyExpr lhs, std::string op, PyExpr rhs) {
        PyExpr e;
        e.kind = PyExpr::Kind::Binary;
        e.loc = lhs.loc;
        e.name = std::move(op);
        e.operands.push_back(std::move(lhs));
        e.operands.push_back(std::move(rhs));
        return e;
    }

    PyExpr or_expr(int d) {
        PyExpr e = and_expr(d);
        while (is_name("or")) {
            ++i_;
            e = binary(std::move(e), "or", and_expr(d));
        }
        return e;
    }
    PyExpr and_expr(int d) {
        PyExpr e = not_expr(d);
        while (is_name("and")) {
            ++i_;
            e = binary(std::move(e), "and", not_expr(d));
        }
        return e;
    }
    PyExpr not_expr(int d) {
        if (d > kMaxDepth) fail(cur().loc, "expression nested too deeply");
        if (is_name("not")) {
            PyExpr e;
            e.kind = PyExpr::Kind::Unary;
            e.loc = cur().loc;
            e.name = "not";
            ++i_;
            e.operands.push_back(not_expr(d + 1));
            return e;
        }
        return comparison(d);
    }
    PyExpr comparison(int d) {
        PyExpr first = level(d, 0);
        static const char* cmps[] = {"==", "!=", "<", "<=", ">", ">="};
        auto cmp_here = [&]() -> const char* {
            for (const char* c : cmps)
                if (is_op(c)) return c;
            return nullptr;
        };
        if (!cmp_here()) return first;
        PyExpr e;
        e.kind = PyExpr::Kind::Compare;
        e.loc = first.loc;
        e.operands.push_back(std::move(first));
        while (const char* c = cmp_here()) {
            ++i_;
            e.compare.emplace_back(c);
            e.operands.push_back(level(d, 0));
        }
        return e;
    }
    // Binary operator levels, loosest first.
    PyExpr level(int d, int lvl) {
        static const std::vector<std::vector<std::string>> levels = {
            {"|"}, {"^"}, {"&"}, {"<<", ">>"}, {"+", "-"}, {"*", "//", "%"}};
        if (lvl == static_cast<int>(levels.size())) return unary(d);
        PyExpr e = level(d, lvl + 1);
        while (true) {
            const std::string* op = nullptr;
            for (const std::string& o : levels[static_cast<std::size_t>(lvl)])
                if (is_op(o)) op = &o;
            if (!op) return e;
            ++i_;
            e = binary(std::move(e), *op, level(d, lvl + 1));
        }
    }
    PyExpr unary(int d) {
        if (d > kMaxDepth) fail(cur().loc, "expression nested too deeply");
        PyExpr e;
        e.loc = cur().loc;
        if (is_op("-") || is_op("+") || is_op("~")) {
            e.kind = PyExpr::Kind::Unary;
            e.name = cur().text;
            ++i_;
            e.operands.push_back(unary(d + 1));
            return e;
        }
        if (is_op("(")) {
            ++i_;
            PyExpr inner = expr(d + 1);
            if (!is_op(")")) fail(cur().loc, "expected ')', found '" + cur().text + "'");
            ++i_;
            return inner;
        }
        if (cur().kind == PyToken::Kind::Int) {
            const std::string& t = cur().text;
            std::uint64_t v = 0;
            std::from_chars_result r{};
            if (t.size() > 2 && t[0] == '0' && (t[1] == 'x' || t[1] == 'X')) r = std::from_chars(t.data() + 2, t.data() + t.size(), v, 16);
            else r = std::from_chars(t.data(), t.data() + t.size(), v, 10);
            if (r.ec != std::errc() || r.ptr != t.data() + t.size() || v > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
                fail(cur().loc, "unsupported number '" + t + "'");
            e.kind = PyExpr::Kind::Int;
            e.value = static_cast<std::int64_t>(v);
            ++i_;
            return e;
        }
        if (cur().kind == PyToken::Kind::Name) {
            const std::string& n = cur().text;
            if (n == "True" || n == "False") {
                e.kind = PyExpr::Kind::Int;
                e.value = n == "True";
            } else if (n == "and" || n == "or" || n == "not" || n == "assert" || n == "import" || n == "in" || n == "is") {
                fail(cur().loc, "unexpected '" + n + "'");
            } else {
                e.kind = PyExpr::Kind::Name;
                e.name = n;
            }
            ++i_;
            if (is_op("(") || is_op("[")) fail(cur().loc, "calls and subscripts are not supported");
            return e;
        }
        fail(cur().loc, cur().kind == PyToken::Kind::End ? "expression ends too early" : "unsupported '" + cur().text + "'");
    }

    std::string src_;
    SourceLoc base_;
    std::vector<PyToken> toks_;
    std::vector<std::size_t> line_starts_;
    std::size_t i_ = 0;
};

struct Evaluator {
    const FieldLookup& lookup;
    std::map<std::string, std::int64_t, std::less<>>& locals;
    std::vector<std::pair<std::string, std::int64_t>> used;  // names read, for messages

    Expected<std::int64_t, std::string> name(const std::string& n) {
        // Earlier assignments, then tcp_info fields, then named constants (TCP_CA_Open ...).
        std::optional<std::int64_t> v;
        if (auto it = locals.find(n); it != locals.end()) v = it->second;
        if (!v && lookup) v = lookup(n);
        if (!v) v = symbol_value(n);
        if (!v) return unexpected("unknown name '" + n + "'");
        bool seen = false;
        for (const auto& u : used) seen |= u.first == n;
        if (!seen && n.compare(0, 5, "tcpi_") == 0) used.emplace_back(n, *v);
        return *v;
    }

    Expected<std::int64_t, std::string> eval(const PyExpr& e) {
        switch (e.kind) {
            case PyExpr::Kind::Int: return e.value;
            case PyExpr::Kind::Name: return name(e.name);
            case PyExpr::Kind::Unary: {
                auto v = eval(e.operands[0]);
                if (!v) return v;
                if (e.name == "-") {
                    if (*v == std::numeric_limits<std::int64_t>::min()) return unexpected(std::string("integer overflow"));
                    return -*v;
                }
                if (e.name == "~") return ~*v;
                if (e.name == "not") return std::int64_t{*v == 0};
                return *v;
            }
            case PyExpr::Kind::Compare: {
                auto lhs = eval(e.operands[0]);
                if (!lhs) return lhs;
                for (std::size_t k = 0; k < e.compare.size(); ++k) {
                    auto rhs = eval(e.operands[k + 1]);
                    if (!rhs) return rhs;
                    const std::string& op = e.compare[k];
                    bool ok = op == "==" ? *lhs == *rhs : op == "!=" ? *lhs != *rhs : op == "<" ? *lhs < *rhs
                            : op == "<=" ? *lhs <= *rhs : op == ">" ? *lhs > *rhs : *lhs >= *rhs;
                    if (!ok) return std::int64_t{0};
                    lhs = rhs;
                }
                return std::int64_t{1};
            }
            case PyExpr::Kind::Binary: {
                auto a = eval(e.operands[0]);
                if (!a) return a;
                if (e.name == "and" && *a == 0) return a;  // Python short-circuit
                if (e.name == "or" && *a != 0) return a;
                auto b = eval(e.operands[1]);
                if (!b) return b;
                const std::string& op = e.name;
                if (op == "and" || op == "or") return b;
                if (op == "|") return *a | *b;
                if (op == "^") return *a ^ *b;
                if (op == "&") return *a & *b;
                std::int64_t r = 0;
                if (op == "+" || op == "-" || op == "*") {
                    bool overflow = op == "+" ? __builtin_add_overflow(*a, *b, &r)
                                  : op == "-" ? __builtin_sub_overflow(*a, *b, &r)
                                              : __builtin_mul_overflow(*a, *b, &r);
                    if (overflow) return unexpected(std::string("integer overflow"));
                    return r;
                }
                if (op == "<<" || op == ">>") {
                    if (*b < 0 || *b > 62) return unexpected(std::string("shift count out of range"));
                    return op == "<<" ? *a << *b : *a >> *b;
                }
                if (*b == 0) return unexpected(std::string("division by zero"));
                if (*b == -1 && *a == std::numeric_limits<std::int64_t>::min()) return unexpected(std::string("integer overflow"));
                // Python floors: -7 // 2 == -4 and -7 % 2 == 1.
                std::int64_t q = *a / *b;
                r = *a % *b;
                if (r != 0 && ((r < 0) != (*b < 0))) {
                    --q;
                    r += *b;
                }
                return op == "//" ? q : r;
            }
        }
        return unexpected(std::string("bad expression"));
    }
};

}  // namespace

std::string PyExpr::to_string() const {
    switch (kind) {
        case Kind::Int: return std::to_string(value);
        case Kind::Name: return name;
        case Kind::Unary: return (name == "not" ? "not " : name) + operands[0].to_string();
        case Kind::Binary: return "(" + operands[0].to_string() + " " + name + " " + operands[1].to_string() + ")";
        case Kind::Compare: {
            std::string s = operands[0].to_string();
            for (std::size_t k = 0; k < compare.size(); ++k) s += " " + compare[k] + " " + operands[k + 1].to_string();
            return s;
        }
    }
    return "?";
}

Expected<CodeProgram, CodeError> parse_code(const CodeSpec& code) {
    try {
        return PyParser(code).run();
    } catch (const Unsupported& u) {
        return unexpected(u.error);
    }
}

std::optional<std::string> run_code(const CodeProgram& program, const FieldLookup& lookup) {
    CodeEnv env;
    return run_code(program, lookup, env);
}

std::optional<std::string> run_code(const CodeProgram& program, const FieldLookup& lookup, CodeEnv& env) {
    Evaluator ev{lookup, env.variables, {}};
    for (const CodeStatement& st : program.statements) {
        if (st.kind == CodeStatement::Kind::Print) continue;
        ev.used.clear();
        auto v = ev.eval(st.expr);
        if (!v) return v.error() + " in '" + st.text + "'";
        if (st.kind == CodeStatement::Kind::Assign) {
            ev.locals[st.target] = *v;
        } else if (*v == 0) {
            std::string msg = "assertion failed: " + st.text.substr(7);  // after "assert "
            if (std::size_t comma = msg.find(','); comma != std::string::npos) msg.resize(comma);
            std::string vals;
            for (const auto& [n, x] : ev.used) vals += (vals.empty() ? "" : ", ") + n + "=" + std::to_string(x);
            if (!vals.empty()) msg += " (" + vals + ")";
            return msg;
        }
    }
    return std::nullopt;
}

}  // namespace tcpsim::stack::packetdrill
