// SPDX-License-Identifier: Apache-2.0
#pragma once
// The health-checker's mirror of PDNS_ZONES (DESIGN §7): the latest event per zone, and what the
// primary was last seen serving for it. It holds one entry per zone of the fleet for the
// process's lifetime (100,000 zones and more), so it is stored flat: every name once in one
// buffer, one fixed-size record per zone in one vector, and an open-addressing index of 32-bit
// positions — about 140 bytes a zone, no allocation per zone, nothing for the heap to fragment.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <pdns_distribute/common/dns.hpp>
#include <pdns_distribute/common/hash128.hpp>
#include <pdns_distribute/common/zone_event.hpp>

namespace pdns_distribute::health_checker {

/// What the primary was last seen serving for a zone, and the mirror sequence that look covers.
struct PrimaryLook {
    uint32_t serial = 0;
    common::Hash128 content;
    uint64_t sequence = 0;
    common::Hash128 apex;
    std::optional<uint32_t> expiry;

    [[nodiscard]] static PrimaryLook from(const common::ApexFingerprint& fp, uint64_t sequence);
    bool operator==(const PrimaryLook&) const = default;
};

/// The latest event of a zone, as read from the stream (a value; the table stores it packed).
struct MirrorEntry {
    common::ZoneOp op = common::ZoneOp::Upsert;
    std::optional<uint32_t> serial;
    std::optional<common::Hash128> apex;  ///< nullopt too when the event's was not 32 hex digits
    uint64_t sequence = 0;
    std::optional<common::Hash128> content;
    std::optional<uint32_t> expiry;
    std::optional<std::chrono::system_clock::time_point> at;  ///< nullopt when unparsable
    /// The primary's last look, kept across upserts (its sequence says which event it covers;
    /// older than `sequence`: not known yet) and dropped by a delete.
    std::optional<PrimaryLook> look;

    bool operator==(const MirrorEntry&) const = default;
};

/// The mirror's storage: zone name -> MirrorEntry. Not thread-safe (ZoneMirror adds the lock).
/// Iteration order is unspecified (it changes when zones are erased).
class MirrorTable {
public:
    /// Inserts or replaces the zone's entry. Throws std::length_error for a name longer than a
    /// DNS name can be written (65,535 characters) or past 4 GiB of names.
    void put(std::string_view zone, const MirrorEntry& entry);
    [[nodiscard]] std::optional<MirrorEntry> find(std::string_view zone) const;
    /// The zone's stream sequence (0: not in the table), without unpacking the entry.
    [[nodiscard]] uint64_t sequenceOf(std::string_view zone) const;
    /// Replaces the look of a zone the table has; false when it has none.
    bool setLook(std::string_view zone, const std::optional<PrimaryLook>& look);
    /// Removes the zone; false when it was not there.
    bool erase(std::string_view zone);
    void forEach(const std::function<void(std::string_view, const MirrorEntry&)>& fn) const;
    [[nodiscard]] size_t size() const { return records_.size(); }
    [[nodiscard]] bool empty() const { return records_.empty(); }

private:
    // One zone, packed: 112 bytes (a MirrorEntry is 152, plus a map node and a name's block).
    struct Record {
        uint32_t name_at = 0;
        uint16_t name_size = 0;
        uint8_t op = 0;
        uint8_t flags = 0;  ///< which optionals are set (kHas*)
        uint32_t serial = 0;
        uint32_t expiry = 0;
        uint64_t sequence = 0;
        int64_t at_ms = 0;  ///< milliseconds since the epoch
        common::Hash128 apex;
        common::Hash128 content;
        uint32_t look_serial = 0;
        uint32_t look_expiry = 0;
        uint64_t look_sequence = 0;
        common::Hash128 look_content;
        common::Hash128 look_apex;
    };
    static constexpr uint32_t kEmpty = 0;  ///< an index slot holds position + 1

    [[nodiscard]] std::string_view nameOf(const Record& r) const {
        return std::string_view(names_).substr(r.name_at, r.name_size);
    }
    [[nodiscard]] static MirrorEntry unpack(const Record& r);
    static void pack(const MirrorEntry& e, Record& r);
    static void packLook(const std::optional<PrimaryLook>& look, Record& r);
    /// The index slot holding the zone, or the empty slot where it would go.
    [[nodiscard]] size_t slotOf(std::string_view zone) const;
    [[nodiscard]] const Record* record(std::string_view zone) const;
    void grow();
    void compactNames();

    std::string names_;            ///< every zone's name back to back (plus erased ones' garbage)
    size_t garbage_ = 0;           ///< bytes of names_ no record points to
    std::vector<Record> records_;  ///< dense; an erase moves the last one into the hole
    std::vector<uint32_t> index_;  ///< open addressing, linear probing, power-of-two size
};

/// In-memory mirror of PDNS_ZONES. Thread-safe.
class ZoneMirror {
public:
    void apply(const common::ZoneEvent& event, uint64_t sequence);
    void markSynced() { synced_ = true; }
    [[nodiscard]] bool synced() const { return synced_; }
    /// Calls `fn(table)` under the mirror's lock (no copy; `fn` must not call back into it).
    void withEntries(const std::function<void(const MirrorTable&)>& fn) const;
    /// The highest stream sequence applied so far (0: none).
    [[nodiscard]] uint64_t lastSequence() const;
    /// Calls `fn(zone, entry)` for every zone, under the mirror's lock (no copy; `fn` must not
    /// call back into the mirror). Order unspecified.
    void forEach(const std::function<void(std::string_view, const MirrorEntry&)>& fn) const;
    [[nodiscard]] size_t size() const;
    /// The stream sequence of the zone's latest event (0: none).
    [[nodiscard]] uint64_t sequenceOf(const std::string& zone) const;
    /// Drops a zone whose tombstone was purged from the stream (if still at that sequence).
    void erase(const std::string& zone, uint64_t sequence);
    /// Records a look at the primary for a zone the mirror has (ignored otherwise: no event can
    /// be covered by it yet). `only_if_newer`: kept only when it covers the kept one's event or a
    /// later one.
    void setLook(const std::string& zone, const PrimaryLook& look, bool only_if_newer = false);
    [[nodiscard]] std::optional<PrimaryLook> look(const std::string& zone) const;

private:
    mutable std::mutex mutex_;  // guards table_, last_sequence_
    MirrorTable table_;
    uint64_t last_sequence_ = 0;
    std::atomic<bool> synced_{false};
};

}  // namespace pdns_distribute::health_checker
