// SPDX-License-Identifier: Apache-2.0
#include "verifier.hpp"

#include <algorithm>
#include <cstddef>
#include <limits>
#include <stdexcept>

namespace pdns_distribute::health_checker {

DesiredState::DesiredState() : buckets_(common::ZoneDigest::kBuckets) {}

void DesiredState::reserve(const std::vector<uint32_t>& per_bucket, size_t name_bytes) {
    for (size_t k = 0; k < buckets_.size() && k < per_bucket.size(); ++k) {
        buckets_[k].reserve(per_bucket[k]);
    }
    names_.reserve(name_bytes);
}

void DesiredState::set(std::string_view zone, DesiredZone z) {
    set(common::ZoneDigest::bucketOf(zone), zone, z);
}

void DesiredState::set(size_t bucket, std::string_view zone, DesiredZone z) {
    auto& b = buckets_.at(bucket);
    auto it = b.begin() + static_cast<std::ptrdiff_t>(positionOf(b, zone));
    if (it != b.end() && name(*it) == zone) {
        digest_.toggle(bucket, zone, it->zone.content);
        it->zone = z;
    } else {
        if (names_.size() + zone.size() > std::numeric_limits<uint32_t>::max()) {
            throw std::length_error("desired state: more than 4 GiB of zone names");
        }
        const Entry e{.name_at = static_cast<uint32_t>(names_.size()),
                      .name_size = static_cast<uint32_t>(zone.size()),
                      .zone = z};
        names_.append(zone);
        ++size_;
        b.insert(it, e);
    }
    digest_.toggle(bucket, zone, z.content);
    if (auto u = unknown_.find(zone); u != unknown_.end()) unknown_.erase(u);
}

size_t DesiredState::positionOf(const Bucket& bucket, std::string_view zone) const {
    const auto it =
        std::lower_bound(bucket.begin(), bucket.end(), zone,
                         [this](const Entry& e, std::string_view n) { return name(e) < n; });
    return static_cast<size_t>(it - bucket.begin());
}

const DesiredZone* DesiredState::find(const Bucket& bucket, std::string_view zone) const {
    const size_t i = positionOf(bucket, zone);
    return i < bucket.size() && name(bucket[i]) == zone ? &bucket[i].zone : nullptr;
}

void DesiredState::setUnknown(std::string_view zone) { unknown_.emplace(zone); }

std::optional<DesiredZone> DesiredState::find(std::string_view zone) const {
    const DesiredZone* z = find(buckets_[common::ZoneDigest::bucketOf(zone)], zone);
    if (z == nullptr) return std::nullopt;
    return *z;
}

bool Verifier::active(const Node& n) const {
    const auto allowed =
        std::chrono::milliseconds{n.heartbeat.interval_ms} * settings_.missed_heartbeats;
    return clock_.steady() - n.last_seen <= allowed;
}

void Verifier::heartbeat(const common::Heartbeat& h) {
    std::lock_guard lock(mutex_);
    auto& n = nodes_[h.node];
    if (n.heartbeat.instance != h.instance) {
        // A new instance (restart, or a replaced host): what the old one served says nothing.
        n.examined_node_digest.clear();
    }
    n.heartbeat = h;
    n.last_seen = clock_.steady();
    n.last_seen_wall = clock_.system();
}

std::vector<std::string> Verifier::nodesToExamine(const std::string& desired_digest) {
    std::vector<std::string> out;
    std::lock_guard lock(mutex_);
    for (auto& [name, n] : nodes_) {
        // A node catching up moves its digest with every apply; its lanes hold the zones that
        // differ, and looking at them now would only cost it (and NATS) a bucket walk per look.
        if (!active(n) || !n.heartbeat.scanned || n.heartbeat.catching_up) continue;
        if (n.heartbeat.digest == desired_digest) {
            n.divergences.clear();
            n.differing.clear();
            n.examined_node_digest = n.heartbeat.digest;
            n.examined_desired_digest = desired_digest;
            continue;
        }
        if (n.heartbeat.digest != n.examined_node_digest ||
            desired_digest != n.examined_desired_digest) {
            out.push_back(name);
        }
    }
    return out;
}

void Verifier::examined(const std::string& node, const std::string& node_digest,
                        const std::string& desired_digest, const std::vector<size_t>& differing) {
    std::lock_guard lock(mutex_);
    auto it = nodes_.find(node);
    if (it == nodes_.end()) return;
    auto& n = it->second;
    n.examined_node_digest = node_digest;
    n.examined_desired_digest = desired_digest;
    n.differing = {differing.begin(), differing.end()};
    std::erase_if(n.divergences, [&](const auto& kv) {
        return !n.differing.contains(common::ZoneDigest::bucketOf(kv.first));
    });
}

std::vector<Divergence> Verifier::compareBucket(const std::string& node,
                                                const common::BucketReply& reply,
                                                const DesiredState& desired) {
    const auto now = clock_.steady();
    std::map<std::string, Divergence> found;
    const auto& wanted = desired.bucket(reply.bucket);
    std::set<std::string> seen;
    for (const auto& z : reply.zones) {
        if (common::ZoneDigest::bucketOf(z.zone) != reply.bucket) continue;  // not from this bucket
        seen.insert(z.zone);
        if (desired.unknown(z.zone)) continue;
        const DesiredZone* w = desired.find(wanted, z.zone);
        const bool served = z.serial.has_value() && z.content.has_value();
        if (w == nullptr) {
            if (!served) continue;  // neither wanted nor served: nothing to fix
        } else if (served && common::Hash128::fromHex(*z.content) == w->content) {
            continue;
        }
        found[z.zone] = Divergence{
            .node = node,
            .zone = z.zone,
            .wanted_serial = w == nullptr ? std::nullopt : std::optional<uint32_t>(w->serial),
            .served_serial = served ? z.serial : std::nullopt,
            .wanted_content = w == nullptr ? std::string{} : w->content.hex(),
            .served_content = z.content.value_or(""),
            .error = z.error,
            .first_seen = now,
            .next_resync = now + settings_.event_check_wait,
            .resyncs = 0};
    }
    for (const auto& entry : wanted) {
        const std::string zone(desired.name(entry));
        const DesiredZone& w = entry.zone;
        if (seen.contains(zone)) continue;
        found[zone] = Divergence{.node = node,
                                 .zone = zone,
                                 .wanted_serial = w.serial,
                                 .served_serial = std::nullopt,
                                 .wanted_content = w.content.hex(),
                                 .served_content = {},
                                 .error = "the node does not know the zone",
                                 .first_seen = now,
                                 .next_resync = now + settings_.event_check_wait,
                                 .resyncs = 0};
    }

    std::vector<Divergence> fresh;
    std::lock_guard lock(mutex_);
    auto it = nodes_.find(node);
    if (it == nodes_.end()) return fresh;
    auto& divergences = it->second.divergences;
    // Keep the history (first seen, resyncs) of divergences that persist.
    for (auto& [zone, d] : found) {
        auto old = divergences.find(zone);
        if (old != divergences.end()) {
            d.first_seen = old->second.first_seen;
            d.next_resync = old->second.next_resync;
            d.resyncs = old->second.resyncs;
        } else {
            fresh.push_back(d);
        }
    }
    std::erase_if(divergences, [&](const auto& kv) {
        return common::ZoneDigest::bucketOf(kv.first) == reply.bucket;
    });
    divergences.merge(found);
    return fresh;
}

std::map<std::string, std::vector<std::string>> Verifier::dueResyncs() {
    const auto now = clock_.steady();
    std::map<std::string, std::vector<std::string>> out;
    std::lock_guard lock(mutex_);
    for (auto& [name, n] : nodes_) {
        // A node reading its backlog (a joining node, a mass change) will apply what differs by
        // itself; resyncing now would apply those zones twice. Its divergences wait.
        if (!active(n) || n.heartbeat.catching_up) continue;
        for (auto& [zone, d] : n.divergences) {
            if (now < d.next_resync) continue;
            out[name].push_back(zone);
            ++d.resyncs;
            const auto wait = std::min<std::chrono::milliseconds>(
                settings_.event_check_wait * (int64_t{1} << std::min(d.resyncs, 20)),
                settings_.resync_backoff_max);
            d.next_resync = now + wait;
        }
    }
    return out;
}

void Verifier::resolve(const std::string& node, const std::string& zone) {
    std::lock_guard lock(mutex_);
    auto it = nodes_.find(node);
    if (it != nodes_.end()) it->second.divergences.erase(zone);
}

std::optional<Divergence> Verifier::divergence(const std::string& node,
                                               const std::string& zone) const {
    std::lock_guard lock(mutex_);
    auto it = nodes_.find(node);
    if (it == nodes_.end()) return std::nullopt;
    auto d = it->second.divergences.find(zone);
    if (d == it->second.divergences.end()) return std::nullopt;
    return d->second;
}

std::vector<NodeStatus> Verifier::nodes() const {
    const auto now = clock_.steady();
    std::vector<NodeStatus> out;
    std::lock_guard lock(mutex_);
    for (const auto& [name, n] : nodes_) {
        NodeStatus s;
        s.heartbeat = n.heartbeat;
        s.last_heartbeat = n.last_seen_wall;
        s.heartbeat_age = std::chrono::duration_cast<std::chrono::milliseconds>(now - n.last_seen);
        s.active = active(n);
        s.examined = n.heartbeat.digest == n.examined_node_digest;
        s.out_of_sync = n.divergences.size();
        s.in_sync = s.active && n.heartbeat.scanned && n.divergences.empty() &&
                    n.heartbeat.digest == n.examined_node_digest && n.differing.empty();
        for (const auto& [zone, d] : n.divergences) {
            s.max_lag =
                std::max(s.max_lag,
                         std::chrono::duration_cast<std::chrono::milliseconds>(now - d.first_seen));
        }
        out.push_back(std::move(s));
    }
    return out;
}

std::vector<Divergence> Verifier::divergences() const {
    std::vector<Divergence> out;
    std::lock_guard lock(mutex_);
    for (const auto& [name, n] : nodes_) {
        for (const auto& [zone, d] : n.divergences) out.push_back(d);
    }
    return out;
}

}  // namespace pdns_distribute::health_checker
