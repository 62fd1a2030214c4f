// SPDX-License-Identifier: Apache-2.0
#include "mirror.hpp"

#include <algorithm>
#include <limits>
#include <stdexcept>

namespace pdns_distribute::health_checker {

namespace {

enum Flag : uint8_t {
    kSerial = 1U << 0U,
    kApex = 1U << 1U,
    kContent = 1U << 2U,
    kExpiry = 1U << 3U,
    kAt = 1U << 4U,
    kLook = 1U << 5U,
    kLookExpiry = 1U << 6U,
};

size_t hashOfName(std::string_view zone) { return std::hash<std::string_view>{}(zone); }

}  // namespace

PrimaryLook PrimaryLook::from(const common::ApexFingerprint& fp, uint64_t sequence) {
    return PrimaryLook{.serial = fp.serial,
                       .content = fp.contentHash(),
                       .sequence = sequence,
                       .apex = fp.hash(),
                       .expiry = fp.earliestExpiry()};
}

// --- MirrorTable -------------------------------------------------------------------------------

MirrorEntry MirrorTable::unpack(const Record& r) {
    MirrorEntry e;
    e.op = static_cast<common::ZoneOp>(r.op);
    e.sequence = r.sequence;
    if ((r.flags & kSerial) != 0) e.serial = r.serial;
    if ((r.flags & kApex) != 0) e.apex = r.apex;
    if ((r.flags & kContent) != 0) e.content = r.content;
    if ((r.flags & kExpiry) != 0) e.expiry = r.expiry;
    if ((r.flags & kAt) != 0) {
        e.at = std::chrono::system_clock::time_point{std::chrono::milliseconds{r.at_ms}};
    }
    if ((r.flags & kLook) != 0) {
        e.look = PrimaryLook{.serial = r.look_serial,
                             .content = r.look_content,
                             .sequence = r.look_sequence,
                             .apex = r.look_apex,
                             .expiry = std::nullopt};
        if ((r.flags & kLookExpiry) != 0) e.look->expiry = r.look_expiry;
    }
    return e;
}

void MirrorTable::packLook(const std::optional<PrimaryLook>& look, Record& r) {
    r.flags &= static_cast<uint8_t>(~(kLook | kLookExpiry));
    r.look_serial = 0;
    r.look_expiry = 0;
    r.look_sequence = 0;
    r.look_content = {};
    r.look_apex = {};
    if (!look) return;
    r.flags |= kLook;
    r.look_serial = look->serial;
    r.look_sequence = look->sequence;
    r.look_content = look->content;
    r.look_apex = look->apex;
    if (look->expiry) {
        r.flags |= kLookExpiry;
        r.look_expiry = *look->expiry;
    }
}

void MirrorTable::pack(const MirrorEntry& e, Record& r) {
    r.op = static_cast<uint8_t>(e.op);
    r.flags = 0;
    r.sequence = e.sequence;
    r.serial = e.serial.value_or(0);
    r.apex = e.apex.value_or(common::Hash128{});
    r.content = e.content.value_or(common::Hash128{});
    r.expiry = e.expiry.value_or(0);
    r.at_ms = 0;
    if (e.serial) r.flags |= kSerial;
    if (e.apex) r.flags |= kApex;
    if (e.content) r.flags |= kContent;
    if (e.expiry) r.flags |= kExpiry;
    if (e.at) {
        r.flags |= kAt;
        r.at_ms =
            std::chrono::duration_cast<std::chrono::milliseconds>(e.at->time_since_epoch()).count();
    }
    packLook(e.look, r);
}

size_t MirrorTable::slotOf(std::string_view zone) const {
    const size_t mask = index_.size() - 1;
    size_t s = hashOfName(zone) & mask;
    while (index_[s] != kEmpty && nameOf(records_[index_[s] - 1]) != zone) s = (s + 1) & mask;
    return s;
}

const MirrorTable::Record* MirrorTable::record(std::string_view zone) const {
    if (index_.empty()) return nullptr;
    const uint32_t at = index_[slotOf(zone)];
    return at == kEmpty ? nullptr : &records_[at - 1];
}

void MirrorTable::grow() {
    const size_t size = std::max<size_t>(16, index_.size() * 2);
    index_.assign(size, kEmpty);
    const size_t mask = size - 1;
    for (size_t i = 0; i < records_.size(); ++i) {
        size_t s = hashOfName(nameOf(records_[i])) & mask;
        while (index_[s] != kEmpty) s = (s + 1) & mask;
        index_[s] = static_cast<uint32_t>(i + 1);
    }
}

void MirrorTable::put(std::string_view zone, const MirrorEntry& entry) {
    if (!index_.empty()) {
        if (const uint32_t at = index_[slotOf(zone)]; at != kEmpty) {
            pack(entry, records_[at - 1]);
            return;
        }
    }
    if (zone.size() > std::numeric_limits<uint16_t>::max()) {
        throw std::length_error("zone mirror: a zone name longer than 65,535 characters");
    }
    if (names_.size() + zone.size() > std::numeric_limits<uint32_t>::max() ||
        records_.size() + 1 >= std::numeric_limits<uint32_t>::max()) {
        throw std::length_error("zone mirror: more than 4 GiB of zone names or 4 G zones");
    }
    // Load factor at most 3/4: probes stay short.
    if ((records_.size() + 1) * 4 > index_.size() * 3) grow();
    Record r;
    r.name_at = static_cast<uint32_t>(names_.size());
    r.name_size = static_cast<uint16_t>(zone.size());
    pack(entry, r);
    names_.append(zone);
    records_.push_back(r);
    index_[slotOf(zone)] = static_cast<uint32_t>(records_.size());
}

std::optional<MirrorEntry> MirrorTable::find(std::string_view zone) const {
    const Record* r = record(zone);
    if (r == nullptr) return std::nullopt;
    return unpack(*r);
}

uint64_t MirrorTable::sequenceOf(std::string_view zone) const {
    const Record* r = record(zone);
    return r == nullptr ? 0 : r->sequence;
}

bool MirrorTable::setLook(std::string_view zone, const std::optional<PrimaryLook>& look) {
    if (index_.empty()) return false;
    const uint32_t at = index_[slotOf(zone)];
    if (at == kEmpty) return false;
    Record* r = &records_[at - 1];
    packLook(look, *r);
    return true;
}

bool MirrorTable::erase(std::string_view zone) {
    if (index_.empty()) return false;
    const size_t mask = index_.size() - 1;
    size_t hole = slotOf(zone);
    if (index_[hole] == kEmpty) return false;
    const size_t position = index_[hole] - 1;
    // Backward-shift deletion: every later slot of the probe run whose home is not between the
    // hole and itself moves into the hole, so lookups never meet a gap in their run.
    for (size_t j = (hole + 1) & mask; index_[j] != kEmpty; j = (j + 1) & mask) {
        const size_t home = hashOfName(nameOf(records_[index_[j] - 1])) & mask;
        const bool stays = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
        if (stays) continue;
        index_[hole] = index_[j];
        hole = j;
    }
    index_[hole] = kEmpty;
    garbage_ += records_[position].name_size;
    // Keep the records dense: the last one moves into the freed position.
    const size_t last = records_.size() - 1;
    if (position != last) {
        index_[slotOf(nameOf(records_[last]))] = static_cast<uint32_t>(position + 1);
        records_[position] = records_[last];
    }
    records_.pop_back();
    if (garbage_ > 4096 && garbage_ * 2 > names_.size()) compactNames();
    return true;
}

void MirrorTable::compactNames() {
    std::string names;
    names.reserve(names_.size() - garbage_);
    for (auto& r : records_) {
        const auto name = nameOf(r);
        r.name_at = static_cast<uint32_t>(names.size());
        names.append(name);
    }
    names_ = std::move(names);
    garbage_ = 0;
}

void MirrorTable::forEach(
    const std::function<void(std::string_view, const MirrorEntry&)>& fn) const {
    for (const auto& r : records_) fn(nameOf(r), unpack(r));
}

// --- ZoneMirror --------------------------------------------------------------------------------

void ZoneMirror::apply(const common::ZoneEvent& event, uint64_t sequence) {
    std::lock_guard lock(mutex_);
    std::optional<PrimaryLook> look;
    if (event.op == common::ZoneOp::Upsert) {
        if (auto kept = table_.find(event.zone)) look = kept->look;
    }
    last_sequence_ = std::max(last_sequence_, sequence);
    table_.put(event.zone, MirrorEntry{.op = event.op,
                                       .serial = event.serial,
                                       .apex = common::hashOf(event.apex),
                                       .sequence = sequence,
                                       .content = common::hashOf(event.content),
                                       .expiry = event.expiry,
                                       .at = common::parseRfc3339(event.at),
                                       .look = look});
}

void ZoneMirror::withEntries(const std::function<void(const MirrorTable&)>& fn) const {
    std::lock_guard lock(mutex_);
    fn(table_);
}

uint64_t ZoneMirror::lastSequence() const {
    std::lock_guard lock(mutex_);
    return last_sequence_;
}

void ZoneMirror::setLook(const std::string& zone, const PrimaryLook& look, bool only_if_newer) {
    std::lock_guard lock(mutex_);
    if (only_if_newer) {
        const auto kept = table_.find(zone);
        if (!kept) return;
        if (kept->look && kept->look->sequence > look.sequence) return;
    }
    (void)table_.setLook(zone, look);
}

std::optional<PrimaryLook> ZoneMirror::look(const std::string& zone) const {
    std::lock_guard lock(mutex_);
    auto entry = table_.find(zone);
    if (!entry) return std::nullopt;
    return entry->look;
}

void ZoneMirror::forEach(
    const std::function<void(std::string_view, const MirrorEntry&)>& fn) const {
    std::lock_guard lock(mutex_);
    table_.forEach(fn);
}

uint64_t ZoneMirror::sequenceOf(const std::string& zone) const {
    std::lock_guard lock(mutex_);
    return table_.sequenceOf(zone);
}

void ZoneMirror::erase(const std::string& zone, uint64_t sequence) {
    std::lock_guard lock(mutex_);
    if (sequence != 0 && table_.sequenceOf(zone) == sequence) (void)table_.erase(zone);
}

size_t ZoneMirror::size() const {
    std::lock_guard lock(mutex_);
    return table_.size();
}

}  // namespace pdns_distribute::health_checker
