#include "link/impairments.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

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
           corrupt.probability == 0 && reorder.probability == 0 && rate.bits_per_second == 0;
}

void validate(const Impairments& cfg) {
    if (cfg.delay.delay < Duration::zero()) throw std::invalid_argument("delay: must not be negative");
    if (cfg.delay.jitter < Duration::zero()) throw std::invalid_argument("jitter: must not be negative");
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
        f.corrupt_byte = static_cast<std::uint32_t>(corrupt_rng_.below(frame_bytes));
        f.corrupt_bit = static_cast<std::uint8_t>(corrupt_rng_.below(8));
    }

    // sch_netem.c: not reordered unless the gap since the last reordered frame is complete and
    // the reorder draw succeeds; a reordered frame skips delay and rate and goes out now.
    const bool in_order = gap_ == 0 || reorder_counter_ < gap_ - 1 || reorder_p_ < reorder_cor_.next(reorder_rng_);
    if (!in_order) {
        reorder_counter_ = 0;
        f.reordered = true;
        f.at = now;
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
        f.at = std::max(serialiser_free_ + Duration{delay}, last_rate_delivery_);
        last_rate_delivery_ = f.at;
    } else {
        f.at = now + Duration{delay};
    }
    ++reorder_counter_;
    return f;
}

Verdict NetemEngine::offer(Time now, std::size_t frame_bytes, bool allow_duplicate) {
    Verdict v;
    int count = 1;
    if (allow_duplicate && dup_p_ != 0 && dup_p_ >= dup_cor_.next(dup_rng_)) ++count;
    if (loss_event()) --count;
    if (count == 0) {
        v.count = 1;
        v.copies[0].kind = CopyFate::Kind::Lost;
        return v;
    }
    if (count == 2) {
        // netem re-enqueues the clone at the root with duplication off: it meets loss, corruption,
        // reordering and delay on its own, and is queued before the original.
        const Verdict dup = offer(now, frame_bytes, false);
        v.copies[v.count] = dup.copies[0];
        v.copies[v.count].duplicate = true;
        ++v.count;
    }
    v.copies[v.count++] = run_copy(now, frame_bytes);
    return v;
}

}  // namespace tcpsim::link
