#include "stack/packetdrill/wire.hpp"

#include <algorithm>
#include <cstdio>

#include "link/base/bytes.hpp"

namespace tcpsim::stack::packetdrill {

namespace {

constexpr std::uint8_t kKindMd5 = 19;           // RFC 2385
constexpr std::uint8_t kKindFastOpen = 34;      // RFC 7413
constexpr std::uint8_t kKindExperimental = 254; // RFC 6994, with the TFO magic 0xF989
constexpr std::uint16_t kFastOpenMagic = 0xF989;
constexpr std::uint8_t kKindAccEcn0 = 172;      // AccECN option, order 0 (e0b first)
constexpr std::uint8_t kKindAccEcn1 = 174;      // AccECN option, order 1 (e1b first)

std::uint8_t wire_kind(const TcpOption& o) {
    using K = TcpOption::Kind;
    switch (o.kind) {
        case K::Eol: return 0;
        case K::Nop: return 1;
        case K::Mss: return 2;
        case K::WindowScale: return 3;
        case K::SackPermitted: return 4;
        case K::Sack: return 5;
        case K::Timestamp: return 8;
        case K::FastOpen: return kKindFastOpen;
        case K::FastOpenExp: return kKindExperimental;
        case K::Md5: return kKindMd5;
        case K::AccEcn: return !o.accecn.empty() && o.accecn.front().first == "e1b" ? kKindAccEcn1 : kKindAccEcn0;
    }
    return 0;
}

// Bytes after kind/length for the options the tcp codec has no builder for.
ByteVector extra_data(const TcpOption& o) {
    ByteVector d;
    auto put = [&](std::uint32_t v, int bytes) {
        for (int k = bytes - 1; k >= 0; --k) d.push_back(std::byte((v >> (8 * k)) & 0xff));
    };
    if (o.kind == TcpOption::Kind::FastOpenExp) put(kFastOpenMagic, 2);
    for (std::uint8_t b : o.bytes) d.push_back(std::byte{b});
    for (const auto& f : o.accecn) put(f.second, 3);
    return d;
}

std::string hex(Bytes b) {
    std::string s;
    char buf[3];
    for (std::byte x : b) {
        std::snprintf(buf, sizeof buf, "%02x", std::to_integer<unsigned>(x));
        s += buf;
    }
    return s;
}

// The actual option in script notation (SACK edges relative to sack_base).
std::string describe(const tcp::OptionItem& it, std::uint32_t sack_base) {
    const Bytes d = it.data;
    switch (it.kind) {
        case 0: return "eol";
        case 1: return "nop";
        case 2: if (d.size() == 2) return "mss " + std::to_string(load_be16(d, 0)); break;
        case 3: if (d.size() == 1) return "wscale " + std::to_string(load_u8(d, 0)); break;
        case 4: if (d.empty()) return "sackOK"; break;
        case 5:
            if (d.size() % 8 == 0) {
                std::string s = "sack";
                for (std::size_t k = 0; k < d.size(); k += 8)
                    s += " " + std::to_string(load_be32(d, k) - sack_base) + ":" + std::to_string(load_be32(d, k + 4) - sack_base);
                return s;
            }
            break;
        case 8:
            if (d.size() == 8) return "TS val " + std::to_string(load_be32(d, 0)) + " ecr " + std::to_string(load_be32(d, 4));
            break;
        case kKindFastOpen: return d.empty() ? "FO" : "FO " + hex(d);
        case kKindExperimental:
            if (d.size() >= 2 && load_be16(d, 0) == kFastOpenMagic) return d.size() == 2 ? "FOEXP" : "FOEXP " + hex(d.subspan(2));
            break;
        case kKindMd5: return "md5 " + hex(d);
        default: break;
    }
    return "option kind " + std::to_string(it.kind) + " (" + std::to_string(d.size() + 2) + " bytes)";
}

bool equal(Bytes a, const ByteVector& b) { return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin()); }

}  // namespace

Expected<tcp::Options, std::string> build_options(const std::vector<TcpOption>& options, std::uint32_t sack_base) {
    tcp::Options out;
    for (const TcpOption& o : options) {
        if (!out.fits(o.wire_size())) return unexpected("TCP options exceed 40 bytes at '" + o.to_string() + "'");
        using K = TcpOption::Kind;
        switch (o.kind) {
            case K::Nop: out.nop(); break;
            case K::Eol: out.eol(); break;
            case K::Mss: out.mss(static_cast<std::uint16_t>(o.value)); break;
            case K::WindowScale:
                if (o.wildcard) return unexpected(std::string("'wscale *' matches any shift; a packet to send needs a number"));
                out.window_scale(static_cast<std::uint8_t>(o.value));
                break;
            case K::SackPermitted: out.sack_permitted(); break;
            case K::Sack: {
                if (o.sack.empty() || o.sack.size() > tcp::Options::kMaxSackBlocks)
                    return unexpected("a SACK option carries 1 to 4 blocks, not " + std::to_string(o.sack.size()));
                std::vector<tcp::SackBlock> blocks;
                for (const tcp::SackBlock& b : o.sack) blocks.push_back({b.left + sack_base, b.right + sack_base});
                out.sack(blocks);
                break;
            }
            case K::Timestamp: out.timestamps(o.ts.value, o.ts.echo_reply); break;
            case K::FastOpen:
            case K::FastOpenExp:
            case K::Md5:
            case K::AccEcn: {
                ByteVector d = extra_data(o);
                out.unknown(wire_kind(o), d);
                break;
            }
        }
    }
    return out;
}

std::optional<std::string> match_options(const TcpSpec& expected, const tcp::Options& actual, const OptionMatchRules& rules) {
    if (expected.options_mode == TcpSpec::OptionsMode::Any) return std::nullopt;
    std::vector<tcp::OptionItem> got;
    for (auto it = actual.begin(); it != actual.end(); ++it) got.push_back(*it);

    auto listing = [&]() {
        std::string s = "<";
        for (std::size_t k = 0; k < got.size(); ++k) s += (k ? "," : "") + describe(got[k], rules.sack_base);
        return s + ">";
    };
    for (std::size_t i = 0; i < expected.options.size(); ++i) {
        const TcpOption& want = expected.options[i];
        std::string pos = "option " + std::to_string(i + 1) + ": expected " + want.to_string();
        if (i >= got.size()) return pos + ", got nothing (options sent: " + listing() + ")";
        const tcp::OptionItem& have = got[i];
        const Bytes d = have.data;
        bool ok = have.kind == wire_kind(want);
        if (ok) {
            using K = TcpOption::Kind;
            switch (want.kind) {
                case K::Nop:
                case K::Eol:
                case K::SackPermitted: ok = d.empty(); break;
                case K::Mss: ok = d.size() == 2 && load_be16(d, 0) == want.value; break;
                case K::WindowScale: ok = d.size() == 1 && (want.wildcard || load_u8(d, 0) == want.value); break;
                case K::Sack:
                    ok = d.size() == 8 * want.sack.size();
                    for (std::size_t k = 0; ok && k < want.sack.size(); ++k)
                        ok = load_be32(d, 8 * k) == (want.sack[k].left + rules.sack_base).raw() &&
                             load_be32(d, 8 * k + 4) == (want.sack[k].right + rules.sack_base).raw();
                    break;
                case K::Timestamp:
                    ok = d.size() == 8 && load_be32(d, 4) == want.ts.echo_reply &&
                         (!rules.check_ts_val || load_be32(d, 0) == want.ts.value);
                    break;
                case K::FastOpen:
                case K::FastOpenExp:
                case K::Md5:
                case K::AccEcn: ok = equal(d, extra_data(want)); break;
            }
        }
        if (!ok) return pos + ", got " + describe(have, rules.sack_base) + " (options sent: " + listing() + ")";
    }
    for (std::size_t i = expected.options.size(); i < got.size(); ++i)
        if (got[i].kind != 0)
            return "unexpected option " + std::to_string(i + 1) + ": " + describe(got[i], rules.sack_base) +
                   " (options sent: " + listing() + ")";
    return std::nullopt;
}

}  // namespace tcpsim::stack::packetdrill
