// SPDX-License-Identifier: Apache-2.0
#include "served_table.hpp"

#include <algorithm>

namespace pdns_distribute::secondary_syncer {

ServedState ServedState::from(const common::ApexFingerprint& fp) {
    return ServedState{.serial = fp.serial,
                       .content = fp.contentHash(),
                       .apex = fp.hash(),
                       .expiry = fp.earliestExpiry(),
                       .error = {}};
}

ServedState ServedState::missing(std::string error) {
    return ServedState{
        .serial = std::nullopt, .content = {}, .apex = {}, .expiry = {}, .error = std::move(error)};
}

void ServedTable::replace(const std::string& zone, Entry& entry, ServedState state) {
    if (entry.state.serial) {
        digest_.toggle(zone, entry.state.content);
        --served_;
    }
    entry.state = std::move(state);
    if (entry.state.serial) {
        digest_.toggle(zone, entry.state.content);
        ++served_;
    }
    entry.version = next_version_++;
}

ServedTable::Zones::iterator ServedTable::insert(const std::string& zone) {
    auto [it, inserted] = zones_.try_emplace(zone);
    if (inserted) by_bucket_[common::ZoneDigest::bucketOf(zone)].push_back(&it->first);
    return it;
}

void ServedTable::erase(Zones::iterator it) {
    if (it->second.state.serial) {
        digest_.toggle(it->first, it->second.state.content);
        --served_;
    }
    auto& bucket = by_bucket_[common::ZoneDigest::bucketOf(it->first)];
    std::erase(bucket, &it->first);
    zones_.erase(it);
}

uint64_t ServedTable::set(const std::string& zone, ServedState state) {
    std::lock_guard lock(mutex_);
    auto& entry = insert(zone)->second;
    replace(zone, entry, std::move(state));
    return entry.version;
}

bool ServedTable::setIfVersion(const std::string& zone, ServedState state, uint64_t version) {
    std::lock_guard lock(mutex_);
    auto it = zones_.find(zone);
    const uint64_t current = it == zones_.end() ? 0 : it->second.version;
    if (current != version) return false;
    if (it == zones_.end()) it = insert(zone);
    replace(zone, it->second, std::move(state));
    return true;
}

void ServedTable::setError(const std::string& zone, const std::string& error) {
    std::lock_guard lock(mutex_);
    auto it = zones_.find(zone);
    if (it == zones_.end()) {
        replace(zone, insert(zone)->second, ServedState::missing(error));
        return;
    }
    it->second.state.error = error;
    it->second.version = next_version_++;
}

void ServedTable::erase(const std::string& zone) {
    std::lock_guard lock(mutex_);
    auto it = zones_.find(zone);
    if (it != zones_.end()) erase(it);
}

void ServedTable::markAllUnserved(const std::string& error) {
    std::lock_guard lock(mutex_);
    for (auto& [zone, entry] : zones_) replace(zone, entry, ServedState::missing(error));
}

uint64_t ServedTable::version(const std::string& zone) const {
    std::lock_guard lock(mutex_);
    auto it = zones_.find(zone);
    return it == zones_.end() ? 0 : it->second.version;
}

std::vector<std::string> ServedTable::zones() const {
    std::lock_guard lock(mutex_);
    std::vector<std::string> out;
    out.reserve(zones_.size());
    for (const auto& [zone, entry] : zones_) out.push_back(zone);
    return out;
}

std::vector<std::string> ServedTable::zonesIn(uint32_t k) const {
    std::vector<std::string> out;
    if (k >= by_bucket_.size()) return out;
    std::lock_guard lock(mutex_);
    out.reserve(by_bucket_[k].size());
    for (const std::string* name : by_bucket_[k]) out.push_back(*name);
    std::sort(out.begin(), out.end());
    return out;
}

size_t ServedTable::size() const {
    std::lock_guard lock(mutex_);
    return zones_.size();
}

size_t ServedTable::servedCount() const {
    std::lock_guard lock(mutex_);
    return served_;
}

std::string ServedTable::digestHex() const {
    std::lock_guard lock(mutex_);
    return digest_.totalHex();
}

std::string ServedTable::bucketsHex() const {
    std::lock_guard lock(mutex_);
    return digest_.bucketsHex();
}

std::string ServedTable::bucketsHex(size_t first, size_t count) const {
    std::lock_guard lock(mutex_);
    return digest_.bucketsHex(first, count);
}

std::string ServedTable::groupsHex() const {
    std::lock_guard lock(mutex_);
    return digest_.groupsHex();
}

common::BucketReply ServedTable::bucket(uint32_t k) const {
    common::BucketReply reply{.bucket = k, .zones = {}};
    if (k >= by_bucket_.size()) return reply;
    std::lock_guard lock(mutex_);
    std::vector<const std::string*> names = by_bucket_[k];
    std::sort(names.begin(), names.end(), [](const auto* a, const auto* b) { return *a < *b; });
    for (const std::string* name : names) {
        const std::string& zone = *name;
        const auto& s = zones_.at(zone).state;
        reply.zones.push_back(common::ServedZone{
            .zone = zone,
            .serial = s.serial,
            .content = s.serial ? std::optional<std::string>(s.content.hex()) : std::nullopt,
            .apex = s.serial ? std::optional<std::string>(s.apex.hex()) : std::nullopt,
            .expiry = s.expiry,
            .error = s.error});
    }
    return reply;
}

}  // namespace pdns_distribute::secondary_syncer
