#include "link/virtual/impairments.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <stdexcept>
#include <string>
#include <utility>

namespace tcpsim::link {

namespace {

enum Stream : std::uint64_t { kLossStream = 1, kDelayStream, kDupStream, kCorruptStream, kReorderStream };

void check_fraction(double v, const char* field) {
    if (!std::isfinite(v) || v < 0.0 || v > 1.0)
        throw std::invalid_argument(std::string(field) + ": must be a fraction in [0, 1], got " + std::to_string(v));
}

// GE model states (sch_netem.c GOOD_STATE / BAD_STATE).
constexpr std::uint8_t kGood = 0, kBad = 1;
// GI model states, numbered as in Salsano et al. and FourStateLoss.
constexpr std::uint8_t kTxGap = 1, kTxBurst = 2, kLostBurst = 3, kLostGap = 4;

}  // namespace

GilbertElliottLoss gilbert_elliott(double p) { return GilbertElliottLoss{p, 1.0 - p, 1.0, 0.0}; }
FourStateLoss four_state(double p13) { return FourStateLoss{p13, 1.0 - p13, 0.0, 1.0, 0.0}; }

bool Impairments::is_perfect() const {
    return delay.delay == Duration::zero() && delay.jitter == Duration::zero() &&
           std::holds_alternative<std::monostate>(loss) && duplicate.probability == 0 &&
           corrupt.probability == 0 && reorder.probability == 0 && rate.bits_per_second == 0 && limit == 0;
}

void validate(const Impairments& cfg) {
    // Bounded so that now + delay + 4 jitters (the tables' tail) cannot overflow the clock.
    constexpr Duration kMaxDelay = std::chrono::hours(24 * 365);
    if (cfg.delay.delay < Duration::zero()) throw std::invalid_argument("delay: must not be negative");
    if (cfg.delay.jitter < Duration::zero()) throw std::invalid_argument("jitter: must not be negative");
    if (cfg.delay.delay > kMaxDelay || cfg.delay.jitter > kMaxDelay)
        throw std::invalid_argument("delay: delay and jitter must each be at most a year");
    check_fraction(cfg.delay.correlation, "delay correlation");
    if (const auto* r = std::get_if<RandomLoss>(&cfg.loss)) {
        check_fraction(r->probability, "loss");
        check_fraction(r->correlation, "loss correlation");
    } else if (const auto* ge = std::get_if<GilbertElliottLoss>(&cfg.loss)) {
        check_fraction(ge->p, "loss gemodel p");
        check_fraction(ge->r, "loss gemodel r");
        check_fraction(ge->loss_in_bad, "loss gemodel 1-h");
        check_fraction(ge->loss_in_good, "loss gemodel 1-k");
    } else if (const auto* gi = std::get_if<FourStateLoss>(&cfg.loss)) {
        check_fraction(gi->p13, "loss state p13");
        check_fraction(gi->p31, "loss state p31");
        check_fraction(gi->p32, "loss state p32");
        check_fraction(gi->p23, "loss state p23");
        check_fraction(gi->p14, "loss state p14");
        if (gi->p13 + gi->p14 > 1.0 + 1e-12)
            throw std::invalid_argument("loss state: p13 + p14 must not exceed 1 (transitions out of state 1)");
        if (gi->p31 + gi->p32 > 1.0 + 1e-12)
            throw std::invalid_argument("loss state: p31 + p32 must not exceed 1 (transitions out of state 3)");
    }
    check_fraction(cfg.duplicate.probability, "duplicate");
    check_fraction(cfg.duplicate.correlation, "duplicate correlation");
    check_fraction(cfg.corrupt.probability, "corrupt");
    check_fraction(cfg.corrupt.correlation, "corrupt correlation");
    check_fraction(cfg.reorder.probability, "reorder");
    check_fraction(cfg.reorder.correlation, "reorder correlation");
    // tc q_netem.c refuses both of these.
    if (cfg.reorder.probability > 0 && cfg.delay.delay == Duration::zero())
        throw std::invalid_argument("reorder: needs a delay (reordered frames are the ones sent without it)");
    if (cfg.reorder.gap > 0 && cfg.reorder.probability == 0)
        throw std::invalid_argument("reorder gap: given without a reorder probability");
    if (cfg.rate.bits_per_second == 0 && (cfg.rate.queue_packets != 0 || cfg.rate.queue_bytes != 0))
        throw std::invalid_argument("queue limit: needs a rate (the queue is the serialiser's)");
    if (cfg.rate.cell_size != 0 && static_cast<std::int64_t>(cfg.rate.cell_size) + cfg.rate.cell_overhead <= 0)
        throw std::invalid_argument("rate cell overhead: cell size plus overhead must be positive");
    if (cfg.ecn && std::holds_alternative<std::monostate>(cfg.loss))
        throw std::invalid_argument("ecn: needs a loss model (it marks instead of dropping)");  // tc too
}

Duration serialisation_time(const RateConfig& rate, std::size_t frame_bytes) {
    if (rate.bits_per_second == 0) return Duration::zero();
    std::int64_t len = static_cast<std::int64_t>(frame_bytes) + rate.packet_overhead;
    if (len < 0) len = 0;
    if (rate.cell_size != 0) {
        const std::int64_t cells = (len + rate.cell_size - 1) / rate.cell_size;
        len = cells * (static_cast<std::int64_t>(rate.cell_size) + rate.cell_overhead);
    }
    // sch_netem.c packet_time_ns(): len * NSEC_PER_SEC / rate, truncated.
    const unsigned __int128 bits_ns = static_cast<unsigned __int128>(len) * 8u * 1'000'000'000u;
    return Duration{static_cast<std::int64_t>(bits_ns / rate.bits_per_second)};
}

NetemEngine::NetemEngine(std::uint64_t seed)
    : loss_rng_(derive_seed(seed, kLossStream)),
      delay_rng_(derive_seed(seed, kDelayStream)),
      dup_rng_(derive_seed(seed, kDupStream)),
      corrupt_rng_(derive_seed(seed, kCorruptStream)),
      reorder_rng_(derive_seed(seed, kReorderStream)) {
    loss_cor_.reset(0, loss_rng_);
    delay_cor_.reset(0, delay_rng_);
    dup_cor_.reset(0, dup_rng_);
    corrupt_cor_.reset(0, corrupt_rng_);
    reorder_cor_.reset(0, reorder_rng_);
}

void NetemEngine::configure(const Impairments& cfg) {
    validate(cfg);
    const Impairments old = cfg_;
    cfg_ = cfg;

    // Linux: netem re-seeds a correlation's memory when it is (re)configured.
    auto old_loss_cor = std::holds_alternative<RandomLoss>(old.loss) ? std::get<RandomLoss>(old.loss).correlation : 0.0;
    auto new_loss_cor = std::holds_alternative<RandomLoss>(cfg.loss) ? std::get<RandomLoss>(cfg.loss).correlation : 0.0;
    if (old_loss_cor != new_loss_cor) loss_cor_.reset(new_loss_cor, loss_rng_);
    if (old.delay.correlation != cfg.delay.correlation) delay_cor_.reset(cfg.delay.correlation, delay_rng_);
    if (old.duplicate.correlation != cfg.duplicate.correlation) dup_cor_.reset(cfg.duplicate.correlation, dup_rng_);
    if (old.corrupt.correlation != cfg.corrupt.correlation) corrupt_cor_.reset(cfg.corrupt.correlation, corrupt_rng_);
    if (old.reorder.correlation != cfg.reorder.correlation) reorder_cor_.reset(cfg.reorder.correlation, reorder_rng_);

    loss_p_ = 0;
    if (const auto* r = std::get_if<RandomLoss>(&cfg.loss)) {
        loss_p_ = probability_to_u32(r->probability);
    } else if (const auto* ge = std::get_if<GilbertElliottLoss>(&cfg.loss)) {
        ge_[0] = probability_to_u32(ge->p);
        ge_[1] = probability_to_u32(ge->r);
        ge_[2] = probability_to_u32(1.0 - ge->loss_in_bad);  // h
        ge_[3] = probability_to_u32(ge->loss_in_good);        // 1-k
    } else if (const auto* gi = std::get_if<FourStateLoss>(&cfg.loss)) {
        gi_[0] = probability_to_u32(gi->p13);
        gi_[1] = probability_to_u32(gi->p31);
        gi_[2] = probability_to_u32(gi->p32);
        gi_[3] = probability_to_u32(gi->p14);
        gi_[4] = probability_to_u32(gi->p23);
    }
    if (cfg.loss.index() != loss_kind_) {
        loss_kind_ = cfg.loss.index();
        loss_state_ = std::holds_alternative<FourStateLoss>(cfg.loss) ? kTxGap : kGood;
    }
    dup_p_ = probability_to_u32(cfg.duplicate.probability);
    corrupt_p_ = probability_to_u32(cfg.corrupt.probability);
    reorder_p_ = probability_to_u32(cfg.reorder.probability);
    gap_ = cfg.reorder.gap != 0 ? cfg.reorder.gap : (reorder_p_ != 0 ? 1 : 0);  // tc: gap defaults to 1
    if (cfg.limit == 0) held_.clear();
}

void NetemEngine::hold(Time until) {
    if (cfg_.limit == 0) return;
    held_.push_back(until);
    std::push_heap(held_.begin(), held_.end(), std::greater<>{});
}

bool NetemEngine::loss_event() {
    switch (loss_kind_) {
        case 1:  // RandomLoss: sch_netem.c loss_event(), CLG_RANDOM
            return loss_p_ != 0 && loss_p_ >= loss_cor_.next(loss_rng_);
        case 2:  // GilbertElliottLoss: sch_netem.c loss_gilb_ell(); transition, then the old state's loss
            if (loss_state_ == kGood) {
                if (loss_rng_.next_u32() < ge_[0]) loss_state_ = kBad;
                return loss_rng_.next_u32() < ge_[3];
            } else {
                if (loss_rng_.next_u32() < ge_[1]) loss_state_ = kGood;
                return loss_rng_.next_u32() > ge_[2];
            }
        case 3: {  // FourStateLoss: sch_netem.c loss_4state(), contiguous ranges (Linux fix of 2026)
            const std::uint64_t rnd = loss_rng_.next_u32();
            const std::uint64_t p13 = gi_[0], p31 = gi_[1], p32 = gi_[2], p14 = gi_[3], p23 = gi_[4];
            switch (loss_state_) {
                case kTxGap:
                    if (rnd < p14) { loss_state_ = kLostGap; return true; }
                    if (rnd < p13 + p14) { loss_state_ = kLostBurst; return true; }
                    return false;
                case kTxBurst:
                    if (rnd < p23) { loss_state_ = kLostBurst; return true; }
                    return false;
                case kLostBurst:
                    if (rnd < p32) { loss_state_ = kTxBurst; return false; }
                    if (rnd < p31 + p32) { loss_state_ = kTxGap; return false; }
                    return true;
                case kLostGap:
                    loss_state_ = kTxGap;
                    return false;
            }
            return false;
        }
        default:
            return false;
    }
}

void NetemEngine::drain_queue(Time now) {
    while (queue_size_ != 0 && queue_[queue_head_].start <= now) {
        queue_bytes_ -= queue_[queue_head_].bytes;
        queue_head_ = (queue_head_ + 1) % queue_.size();
        --queue_size_;
    }
}

std::size_t NetemEngine::queued_packets(Time now) {
    drain_queue(now);
    return queue_size_;
}

std::uint64_t NetemEngine::queued_bytes(Time now) {
    drain_queue(now);
    return queue_bytes_;
}

CopyFate NetemEngine::run_copy(Time now, std::size_t frame_bytes) {
    CopyFate f;
    // sch_netem.c: flip one bit of one byte of the frame.
    if (corrupt_p_ != 0 && corrupt_p_ >= corrupt_cor_.next(corrupt_rng_) && frame_bytes != 0) {
        f.corrupt = true;
        f.corrupt_byte = static_cast<std::uint32_t>(corrupt_rng_.uniform(frame_bytes));
        f.corrupt_bit = static_cast<std::uint8_t>(corrupt_rng_.uniform(8));
    }

    // sch_netem.c: "if (sch->q.qlen >= sch->limit)" drop; frames leave the qdisc when they are due.
    if (cfg_.limit != 0) {
        while (!held_.empty() && held_.front() <= now) {
            std::pop_heap(held_.begin(), held_.end(), std::greater<>{});
            held_.pop_back();
        }
        if (held_.size() >= cfg_.limit) {
            f.kind = CopyFate::Kind::QueueFull;
            return f;
        }
    }

    // sch_netem.c: not reordered unless the gap since the last reordered frame is complete and
    // the reorder draw succeeds; a reordered frame skips delay and rate and goes out now.
    const bool in_order = gap_ == 0 || reorder_counter_ < gap_ - 1 || reorder_p_ < reorder_cor_.next(reorder_rng_);
    if (!in_order) {
        reorder_counter_ = 0;
        f.reordered = true;
        f.at = now;
        hold(f.at);
        return f;
    }

    std::int64_t delay = cfg_.delay.delay.count();
    if (cfg_.delay.jitter > Duration::zero())
        delay = netem_tabledist(delay, cfg_.delay.jitter.count(), delay_cor_.next(delay_rng_), cfg_.delay.distribution);
    if (delay < 0) delay = 0;  // netem sends such frames at once

    if (cfg_.rate.bits_per_second != 0) {
        drain_queue(now);
        if (serialiser_free_ > now) {
            const auto& r = cfg_.rate;
            if ((r.queue_packets != 0 && queue_size_ >= r.queue_packets) ||
                (r.queue_bytes != 0 && queue_bytes_ + frame_bytes > r.queue_bytes)) {
                f.kind = CopyFate::Kind::QueueFull;
                return f;
            }
        }
        // Serialise, then propagate. Equal to netem's "max(now + delay, last) + tx" when the delay
        // is constant; with jitter we keep netem's FIFO order under a rate.
        const Time start = std::max(now, serialiser_free_);
        serialiser_free_ = start + serialisation_time(cfg_.rate, frame_bytes);
        if (start > now) {
            if (queue_size_ == queue_.size()) {
                std::vector<Waiting> bigger(std::max<std::size_t>(16, queue_.size() * 2));
                for (std::size_t i = 0; i < queue_size_; ++i) bigger[i] = queue_[(queue_head_ + i) % queue_.size()];
                queue_ = std::move(bigger);
                queue_head_ = 0;
            }
            queue_[(queue_head_ + queue_size_) % queue_.size()] = Waiting{start, static_cast<std::uint32_t>(frame_bytes)};
            ++queue_size_;
            queue_bytes_ += frame_bytes;
        }
        f.at = std::max(serialiser_free_ + Duration{delay}, last_ordered_delivery_);
        last_ordered_delivery_ = f.at;
    } else if (cfg_.delay.keep_order) {
        f.at = std::max(now + Duration{delay}, last_ordered_delivery_);
        last_ordered_delivery_ = f.at;
    } else {
        f.at = now + Duration{delay};
    }
    ++reorder_counter_;
    hold(f.at);
    return f;
}

Verdict NetemEngine::offer(Time now, std::size_t frame_bytes, bool allow_duplicate, bool ecn_capable) {
    Verdict v;
    int count = 1;
    bool mark = false;
    if (allow_duplicate && dup_p_ != 0 && dup_p_ >= dup_cor_.next(dup_rng_)) ++count;
    if (loss_event()) {
        // sch_netem.c: with ecn, INET_ECN_set_ce() succeeds on ECT(0)/ECT(1)/CE frames.
        if (cfg_.ecn && ecn_capable)
            mark = true;
        else
            --count;
    }
    if (count == 0) {
        v.count = 1;
        v.copies[0].kind = CopyFate::Kind::Lost;
        return v;
    }
    if (count == 2) {
        // netem re-enqueues the clone at the root with duplication off: it meets loss, corruption,
        // reordering and delay on its own, and is queued before the original.
        const Verdict dup = offer(now, frame_bytes, false, ecn_capable);
        v.copies[v.count] = dup.copies[0];
        v.copies[v.count].duplicate = true;
        // The clone shares the (already marked) data with the original.
        v.copies[v.count].ecn_mark = v.copies[v.count].ecn_mark || mark;
        ++v.count;
    }
    v.copies[v.count] = run_copy(now, frame_bytes);
    v.copies[v.count++].ecn_mark = mark;
    return v;
}

}  // namespace tcpsim::link

// ---------------------------------------------------------------- tc-netem syntax

namespace tcpsim::link {

namespace {

[[noreturn]] void syntax_error(std::string_view token, const std::string& what) {
    throw std::invalid_argument("netem: '" + std::string(token) + "': " + what);
}

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

// Splits "12.5ms" into 12.5 and "ms"; the number must be plain decimal.
bool split_number(std::string_view tok, double& value, std::string& unit, bool allow_sign = false) {
    std::size_t i = 0;
    if (allow_sign && i < tok.size() && (tok[i] == '-' || tok[i] == '+')) ++i;
    const std::size_t digits_from = i;
    bool dot = false, any_digit = false;
    for (; i < tok.size(); ++i) {
        if (tok[i] >= '0' && tok[i] <= '9') {
            any_digit = true;
        } else if (tok[i] == '.' && !dot) {
            dot = true;
        } else {
            break;
        }
    }
    if (!any_digit || i == digits_from) return false;
    try {
        value = std::stod(std::string(tok.substr(0, i)));
    } catch (const std::exception&) {
        return false;
    }
    unit = lower(tok.substr(i));
    return std::isfinite(value);
}

bool looks_numeric(std::string_view tok, bool allow_sign = false) {
    if (tok.empty()) return false;
    const char c = tok[0];
    return (c >= '0' && c <= '9') || c == '.' || (allow_sign && (c == '-' || c == '+') && tok.size() > 1);
}

Duration parse_time(std::string_view tok) {
    double v;
    std::string unit;
    if (!split_number(tok, v, unit)) syntax_error(tok, "expected a time such as 100ms");
    double ns_per;
    if (unit == "s" || unit == "sec" || unit == "secs") ns_per = 1e9;
    else if (unit == "ms" || unit == "msec" || unit == "msecs") ns_per = 1e6;
    else if (unit == "us" || unit == "usec" || unit == "usecs") ns_per = 1e3;
    else if (unit == "ns" || unit == "nsec" || unit == "nsecs") ns_per = 1;
    else if (unit.empty()) syntax_error(tok, "a time needs a unit (s, ms, us or ns)");
    else syntax_error(tok, "unknown time unit '" + unit + "' (use s, ms, us or ns)");
    const double ns = std::rint(v * ns_per);
    if (ns > 9.2e18) syntax_error(tok, "time too large");
    return Duration{static_cast<std::int64_t>(ns)};
}

double parse_percent(std::string_view tok) {
    double v;
    std::string unit;
    if (!split_number(tok, v, unit) || !(unit.empty() || unit == "%")) syntax_error(tok, "expected a percentage such as 1.5%");
    if (v > 100) syntax_error(tok, "a percentage cannot exceed 100%");
    return v / 100.0;
}

std::uint64_t parse_rate(std::string_view tok) {
    double v;
    std::string unit;
    if (!split_number(tok, v, unit)) syntax_error(tok, "expected a rate such as 10mbit");
    struct Unit {
        const char* name;
        double bits;
    };
    static constexpr Unit units[] = {
        {"", 1},          {"bit", 1},           {"kbit", 1e3},        {"mbit", 1e6},        {"gbit", 1e9},
        {"tbit", 1e12},   {"kibit", 1024.0},    {"mibit", 1048576.0}, {"gibit", 1073741824.0},
        {"tibit", 1099511627776.0},             {"bps", 8},           {"kbps", 8e3},        {"mbps", 8e6},
        {"gbps", 8e9},    {"tbps", 8e12},       {"kibps", 8 * 1024.0}, {"mibps", 8 * 1048576.0},
        {"gibps", 8 * 1073741824.0},            {"tibps", 8 * 1099511627776.0},
    };
    for (const auto& u : units)
        if (unit == u.name) {
            const double bits = std::rint(v * u.bits);
            if (bits < 1 || bits > 1.8e19) syntax_error(tok, "rate out of range");
            return static_cast<std::uint64_t>(bits);
        }
    syntax_error(tok, "unknown rate unit '" + unit + "' (bit, kbit, mbit, gbit, bps, kbps, ...)");
}

std::uint64_t parse_count(std::string_view tok, std::uint64_t max) {
    double v;
    std::string unit;
    if (!split_number(tok, v, unit) || !unit.empty() || v != std::floor(v) || v < 0 || v > static_cast<double>(max))
        syntax_error(tok, "expected a whole number up to " + std::to_string(max));
    return static_cast<std::uint64_t>(v);
}

std::int32_t parse_signed(std::string_view tok) {
    double v;
    std::string unit;
    if (!split_number(tok, v, unit, true) || !unit.empty() || v != std::floor(v) || std::abs(v) > 1e9)
        syntax_error(tok, "expected a whole number of bytes");
    return static_cast<std::int32_t>(v);
}

// "1500" or "1500b" bytes, "64k"/"64kb" KiB, "1m"/"1mb" MiB, "1g"/"1gb" GiB (tc get_size()).
std::uint64_t parse_size(std::string_view tok, double v, const std::string& unit) {
    double mult;
    if (unit == "b") mult = 1;
    else if (unit == "k" || unit == "kb") mult = 1024;
    else if (unit == "m" || unit == "mb") mult = 1024.0 * 1024;
    else if (unit == "g" || unit == "gb") mult = 1024.0 * 1024 * 1024;
    else syntax_error(tok, "unknown size unit '" + unit + "' (b, kb, mb, gb)");
    const double bytes = std::rint(v * mult);
    if (bytes < 1 || bytes > 1.8e19) syntax_error(tok, "size out of range");
    return static_cast<std::uint64_t>(bytes);
}

std::string format_time(Duration d) {
    const std::int64_t ns = d.count();
    if (ns != 0 && ns % 1'000'000'000 == 0) return std::to_string(ns / 1'000'000'000) + "s";
    if (ns != 0 && ns % 1'000'000 == 0) return std::to_string(ns / 1'000'000) + "ms";
    if (ns != 0 && ns % 1'000 == 0) return std::to_string(ns / 1'000) + "us";
    return std::to_string(ns) + "ns";
}

// The shortest plain decimal (no exponent) that parses back to exactly the same fraction.
std::string format_percent(double fraction) {
    char buf[64];
    for (int decimals = 0; decimals <= 24; ++decimals) {
        std::snprintf(buf, sizeof buf, "%.*f", decimals, fraction * 100.0);
        if (std::stod(buf) / 100.0 == fraction) break;
    }
    return std::string(buf) + "%";
}

std::string format_rate(std::uint64_t bits) {
    if (bits % 1'000'000'000 == 0) return std::to_string(bits / 1'000'000'000) + "gbit";
    if (bits % 1'000'000 == 0) return std::to_string(bits / 1'000'000) + "mbit";
    if (bits % 1'000 == 0) return std::to_string(bits / 1'000) + "kbit";
    return std::to_string(bits) + "bit";
}

const char* distribution_name(DelayDistribution d) {
    switch (d) {
        case DelayDistribution::Uniform: return "uniform";
        case DelayDistribution::Normal: return "normal";
        case DelayDistribution::Pareto: return "pareto";
        case DelayDistribution::ParetoNormal: return "paretonormal";
    }
    return "uniform";
}

}  // namespace

Impairments parse_netem(std::string_view text) {
    std::vector<std::string_view> tok;
    for (std::size_t i = 0; i < text.size();) {
        while (i < text.size() && (text[i] == ' ' || text[i] == '\t' || text[i] == '\n' || text[i] == '\r')) ++i;
        std::size_t j = i;
        while (j < text.size() && !(text[j] == ' ' || text[j] == '\t' || text[j] == '\n' || text[j] == '\r')) ++j;
        if (j > i) tok.push_back(text.substr(i, j - i));
        i = j;
    }
    Impairments imp;
    std::size_t i = 0;
    auto next_numeric = [&](bool allow_sign = false) {
        return i + 1 < tok.size() && looks_numeric(tok[i + 1], allow_sign);
    };
    auto need = [&](std::string_view what) -> std::string_view {
        if (i + 1 >= tok.size()) syntax_error(tok[i], "expects " + std::string(what));
        return tok[++i];
    };
    for (; i < tok.size(); ++i) {
        const std::string kw = lower(tok[i]);
        if (kw == "delay" || kw == "latency") {
            imp.delay.delay = parse_time(need("a time"));
            if (next_numeric()) imp.delay.jitter = parse_time(tok[++i]);
            if (next_numeric()) imp.delay.correlation = parse_percent(tok[++i]);
        } else if (kw == "distribution") {
            const std::string name = lower(need("uniform, normal, pareto or paretonormal"));
            if (name == "uniform") imp.delay.distribution = DelayDistribution::Uniform;
            else if (name == "normal") imp.delay.distribution = DelayDistribution::Normal;
            else if (name == "pareto") imp.delay.distribution = DelayDistribution::Pareto;
            else if (name == "paretonormal") imp.delay.distribution = DelayDistribution::ParetoNormal;
            else syntax_error(tok[i], "unknown distribution (uniform, normal, pareto, paretonormal; table files are not supported)");
        } else if (kw == "loss" || kw == "drop") {
            const std::string model = lower(need("a percentage, random, state or gemodel"));
            if (model == "state") {
                FourStateLoss gi = four_state(parse_percent(need("p13")));
                if (next_numeric()) gi.p31 = parse_percent(tok[++i]);
                if (next_numeric()) gi.p32 = parse_percent(tok[++i]);
                if (next_numeric()) gi.p23 = parse_percent(tok[++i]);
                if (next_numeric()) gi.p14 = parse_percent(tok[++i]);
                imp.loss = gi;
            } else if (model == "gemodel") {
                GilbertElliottLoss ge = gilbert_elliott(parse_percent(need("p")));
                if (next_numeric()) ge.r = parse_percent(tok[++i]);
                if (next_numeric()) ge.loss_in_bad = parse_percent(tok[++i]);
                if (next_numeric()) ge.loss_in_good = parse_percent(tok[++i]);
                imp.loss = ge;
            } else {
                RandomLoss r;
                r.probability = parse_percent(model == "random" ? need("a percentage") : tok[i]);
                if (next_numeric()) r.correlation = parse_percent(tok[++i]);
                imp.loss = r;
            }
        } else if (kw == "ecn") {
            imp.ecn = true;
        } else if (kw == "corrupt" || kw == "duplicate") {
            ChanceConfig& c = kw == "corrupt" ? imp.corrupt : imp.duplicate;
            c.probability = parse_percent(need("a percentage"));
            if (next_numeric()) c.correlation = parse_percent(tok[++i]);
        } else if (kw == "reorder") {
            imp.reorder.probability = parse_percent(need("a percentage"));
            if (next_numeric()) imp.reorder.correlation = parse_percent(tok[++i]);
        } else if (kw == "gap") {
            imp.reorder.gap = static_cast<std::uint32_t>(parse_count(need("a frame count"), 0xffffffffu));
        } else if (kw == "rate") {
            imp.rate.bits_per_second = parse_rate(need("a rate"));
            if (next_numeric(true)) imp.rate.packet_overhead = parse_signed(tok[++i]);
            if (next_numeric()) imp.rate.cell_size = static_cast<std::uint32_t>(parse_count(tok[++i], 0xffffffffu));
            if (next_numeric(true)) imp.rate.cell_overhead = parse_signed(tok[++i]);
        } else if (kw == "limit") {
            imp.limit = static_cast<std::uint32_t>(parse_count(need("a frame count"), 0xffffffffu));
        } else if (kw == "queue") {
            const std::string_view q = need("a frame count or a size such as 64kb");
            double v;
            std::string unit;
            if (!split_number(q, v, unit)) syntax_error(q, "expected a frame count or a size such as 64kb");
            if (unit.empty() || unit == "p" || unit == "pkt" || unit == "packets")
                imp.rate.queue_packets = static_cast<std::uint32_t>(parse_count(q.substr(0, q.size() - unit.size()), 0xffffffffu));
            else
                imp.rate.queue_bytes = parse_size(q, v, unit);
        } else if (kw == "fifo") {
            imp.delay.keep_order = true;
        } else if (kw == "mtu") {
            imp.mtu = static_cast<std::uint32_t>(parse_count(need("a size in bytes"), 0xffffffffu));
        } else if (kw == "seed") {
            syntax_error(tok[i], "the link's randomness comes from the scenario seed");
        } else if (kw == "slot") {
            syntax_error(tok[i], "slotting is not supported");
        } else {
            syntax_error(tok[i], "unknown option (delay, distribution, loss, ecn, corrupt, duplicate, reorder, gap, "
                                 "rate, limit, queue, mtu, fifo)");
        }
    }
    try {
        validate(imp);
    } catch (const std::invalid_argument& e) {
        throw std::invalid_argument(std::string("netem: ") + e.what());
    }
    return imp;
}

std::string to_netem_string(const Impairments& imp) {
    std::string s;
    auto add = [&s](const std::string& part) {
        if (!s.empty()) s += ' ';
        s += part;
    };
    if (imp.limit != 0) add("limit " + std::to_string(imp.limit));
    const auto& d = imp.delay;
    if (d.delay != Duration::zero() || d.jitter != Duration::zero() || d.correlation != 0) {
        add("delay " + format_time(d.delay));
        if (d.jitter != Duration::zero() || d.correlation != 0) add(format_time(d.jitter));
        if (d.correlation != 0) add(format_percent(d.correlation));
    }
    if (d.distribution != DelayDistribution::Uniform) add(std::string("distribution ") + distribution_name(d.distribution));
    if (const auto* r = std::get_if<RandomLoss>(&imp.loss)) {
        add("loss random " + format_percent(r->probability));
        if (r->correlation != 0) add(format_percent(r->correlation));
    } else if (const auto* ge = std::get_if<GilbertElliottLoss>(&imp.loss)) {
        add("loss gemodel " + format_percent(ge->p) + " " + format_percent(ge->r) + " " +
            format_percent(ge->loss_in_bad) + " " + format_percent(ge->loss_in_good));
    } else if (const auto* gi = std::get_if<FourStateLoss>(&imp.loss)) {
        add("loss state " + format_percent(gi->p13) + " " + format_percent(gi->p31) + " " + format_percent(gi->p32) +
            " " + format_percent(gi->p23) + " " + format_percent(gi->p14));
    }
    if (imp.ecn) add("ecn");
    for (auto [name, c] : {std::pair{"corrupt", &imp.corrupt}, std::pair{"duplicate", &imp.duplicate}}) {
        if (c->probability == 0 && c->correlation == 0) continue;
        add(std::string(name) + " " + format_percent(c->probability));
        if (c->correlation != 0) add(format_percent(c->correlation));
    }
    if (imp.reorder.probability != 0 || imp.reorder.correlation != 0) {
        add("reorder " + format_percent(imp.reorder.probability));
        if (imp.reorder.correlation != 0) add(format_percent(imp.reorder.correlation));
    }
    if (imp.reorder.gap != 0) add("gap " + std::to_string(imp.reorder.gap));
    const auto& r = imp.rate;
    if (r.bits_per_second != 0) {
        add("rate " + format_rate(r.bits_per_second));
        if (r.packet_overhead != 0 || r.cell_size != 0 || r.cell_overhead != 0) add(std::to_string(r.packet_overhead));
        if (r.cell_size != 0 || r.cell_overhead != 0) add(std::to_string(r.cell_size));
        if (r.cell_overhead != 0) add(std::to_string(r.cell_overhead));
    }
    if (r.queue_packets != 0) add("queue " + std::to_string(r.queue_packets));
    if (r.queue_bytes != 0) add("queue " + std::to_string(r.queue_bytes) + "b");
    if (imp.mtu != 0) add("mtu " + std::to_string(imp.mtu));
    if (imp.delay.keep_order) add("fifo");
    return s;
}

}  // namespace tcpsim::link
