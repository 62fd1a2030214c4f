// SPDX-License-Identifier: Apache-2.0
#include "tombstones.hpp"

#include <algorithm>

#include <pdns_distribute/common/zone_event.hpp>

namespace pdns_distribute::health_checker {

namespace {

/// Splits off the first token of `rest` (up to the next '.'), advancing `rest` past it.
std::string_view nextToken(std::string_view& rest) {
    const auto dot = rest.find('.');
    const std::string_view token = rest.substr(0, dot);
    rest = dot == std::string_view::npos ? std::string_view{} : rest.substr(dot + 1);
    return token;
}

}  // namespace

bool subjectMatches(std::string_view filter, std::string_view subject) {
    if (filter.empty()) {
        return true;
    }
    if (subject.empty()) {
        return false;
    }
    std::string_view f = filter;
    std::string_view s = subject;
    while (!f.empty()) {
        const std::string_view ft = nextToken(f);
        if (ft == ">") {
            // Full wildcard: valid only as the last token, and needs at least one token left.
            return f.empty() && !s.empty();
        }
        if (s.empty()) {
            return false;  // the filter has more tokens than the subject
        }
        const std::string_view st = nextToken(s);
        if (ft != "*" && ft != st) {
            return false;
        }
    }
    return s.empty();
}

std::optional<Tombstone> tombstoneFrom(const common::StreamMessage& message) {
    auto event = common::parseZoneEvent(message.message.data);
    if (!event || event->op != common::ZoneOp::Delete) {
        return std::nullopt;
    }
    const auto at = common::parseRfc3339(event->at);
    if (!at) {
        return std::nullopt;
    }
    return Tombstone{.zone = std::move(event->zone),
                     .subject = message.message.subject,
                     .sequence = message.sequence,
                     .at = *at};
}

std::vector<Tombstone> tombstonesToPurge(const std::vector<Tombstone>& candidates,
                                         const std::vector<common::ConsumerFloor>& consumers,
                                         std::chrono::system_clock::time_point now,
                                         std::chrono::milliseconds min_age) {
    std::vector<Tombstone> purge;
    for (const auto& tombstone : candidates) {
        if (now - tombstone.at < min_age) {
            continue;
        }
        const bool acked_by_all =
            std::all_of(consumers.begin(), consumers.end(), [&](const common::ConsumerFloor& c) {
                return !subjectMatches(c.filter_subject, tombstone.subject) ||
                       c.ack_floor_stream_seq >= tombstone.sequence;
            });
        if (acked_by_all) {
            purge.push_back(tombstone);
        }
    }
    return purge;
}

}  // namespace pdns_distribute::health_checker
