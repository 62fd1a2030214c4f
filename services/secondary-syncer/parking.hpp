// SPDX-License-Identifier: Apache-2.0
#pragma once
// The persistent parking table (DESIGN §5.6): zones whose apply failed after the in-place
// retries, with the next attempt time (capped exponential backoff) and the last error. Kept in
// the state directory as JSON (written to a temporary file and renamed), so a restart neither
// forgets a failing zone nor hammers it. Thread-safe.

#include <chrono>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <pdns_distribute/common/clock.hpp>
#include <pdns_distribute/common/guarded.hpp>
#include <pdns_distribute/common/zone_event.hpp>

namespace pdns_distribute::secondary_syncer {

struct ParkedZone {
    std::string zone;
    common::ZoneOp op = common::ZoneOp::Upsert;
    int attempts = 0;
    std::chrono::system_clock::time_point next_attempt;
    std::string last_error;
};

class ParkingTable {
public:
    /// An empty path keeps the table in memory only.
    ParkingTable(std::filesystem::path file, const common::Clock& clock,
                 std::chrono::milliseconds first_backoff, std::chrono::milliseconds max_backoff);
    /// Reads the file if present; a corrupt file is renamed aside and reported, never fatal.
    void load();
    void park(const std::string& zone, common::ZoneOp op, const std::string& error);
    /// Removes the zone (applied, or superseded by a newer event); true if it was parked.
    bool clear(const std::string& zone);
    /// Entries whose next attempt is due; their next attempt moves on so they are handed out once.
    [[nodiscard]] std::vector<ParkedZone> takeDue();
    /// Makes every entry due now (the cause of the failures, e.g. a stopped local pdns, is gone).
    void retryAllNow();
    [[nodiscard]] std::vector<ParkedZone> all();
    [[nodiscard]] bool contains(const std::string& zone);
    [[nodiscard]] size_t size();

private:
    void persist(const std::map<std::string, ParkedZone>& entries);

    std::filesystem::path file_;
    const common::Clock& clock_;
    std::chrono::milliseconds first_backoff_;
    std::chrono::milliseconds max_backoff_;
    common::Guarded<std::map<std::string, ParkedZone>> entries_;
};

}  // namespace pdns_distribute::secondary_syncer
