// SPDX-License-Identifier: Apache-2.0
#include "parking.hpp"

#include <fstream>
#include <stdexcept>
#include <system_error>

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

namespace pdns_distribute::secondary_syncer {

namespace {

// Bounds for values read back from the file: far beyond anything park() writes.
constexpr int64_t kMaxStoredAttempts = 1'000'000;
constexpr int64_t kMaxStoredSeconds = int64_t{1} << 40;  // ~35,000 years

int64_t toSeconds(std::chrono::system_clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

}  // namespace

ParkingTable::ParkingTable(std::filesystem::path file, const common::Clock& clock,
                           std::chrono::milliseconds first_backoff,
                           std::chrono::milliseconds max_backoff)
    : file_(std::move(file)),
      clock_(clock),
      first_backoff_(first_backoff),
      max_backoff_(max_backoff) {}

void ParkingTable::load() {
    if (file_.empty() || !std::filesystem::exists(file_)) return;
    std::ifstream in(file_);
    const auto j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
    auto entries = entries_.lock();
    if (j.is_discarded() || !j.is_object() || !j.contains("zones") || !j["zones"].is_array()) {
        auto aside = file_;
        aside += ".corrupt";
        std::error_code ec;
        std::filesystem::rename(file_, aside, ec);
        spdlog::error("parking table '{}' is corrupt; moved aside to '{}', starting empty",
                      file_.string(), aside.string());
        return;
    }
    for (const auto& z : j["zones"]) {
        try {
            ParkedZone p;
            p.zone = z.at("zone").get<std::string>();
            p.op = z.at("op").get<std::string>() == "delete" ? common::ZoneOp::Delete
                                                             : common::ZoneOp::Upsert;
            // Range-checked before converting: a hand-edited or damaged file must not turn
            // into a negative shift or a time_point overflow later.
            const auto& attempts = z.at("attempts");
            const auto& next = z.at("next_attempt");
            if (!attempts.is_number_integer() || attempts.get<int64_t>() < 0 ||
                attempts.get<int64_t>() > kMaxStoredAttempts) {
                throw std::out_of_range("attempts out of range");
            }
            if (!next.is_number_integer() || next.get<int64_t>() < -kMaxStoredSeconds ||
                next.get<int64_t>() > kMaxStoredSeconds) {
                throw std::out_of_range("next_attempt out of range");
            }
            p.attempts = static_cast<int>(attempts.get<int64_t>());
            p.next_attempt =
                std::chrono::system_clock::time_point{std::chrono::seconds{next.get<int64_t>()}};
            p.last_error = z.at("last_error").get<std::string>();
            (*entries)[p.zone] = std::move(p);
        } catch (const std::exception& e) {  // json type errors and the range checks
            spdlog::warn("skipping a malformed parking entry in '{}' ({})", file_.string(),
                         e.what());
        }
    }
    if (!entries->empty()) {
        spdlog::info("parking table holds {} zone(s) from before the restart", entries->size());
    }
}

void ParkingTable::park(const std::string& zone, common::ZoneOp op, const std::string& error) {
    auto entries = entries_.lock();
    auto& p = (*entries)[zone];
    p.zone = zone;
    p.op = op;
    p.attempts += 1;
    auto backoff = first_backoff_ * (int64_t{1} << std::min(p.attempts - 1, 20));
    if (backoff > max_backoff_) backoff = max_backoff_;
    p.next_attempt = clock_.system() + backoff;
    p.last_error = error;
    persist(*entries);
}

bool ParkingTable::clear(const std::string& zone) {
    auto entries = entries_.lock();
    if (entries->erase(zone) == 0) return false;
    persist(*entries);
    return true;
}

std::vector<ParkedZone> ParkingTable::takeDue() {
    const auto now = clock_.system();
    std::vector<ParkedZone> due;
    auto entries = entries_.lock();
    for (auto& [zone, p] : *entries) {
        if (p.next_attempt <= now) {
            due.push_back(p);
            // Handed out once; park() or clear() settles it after the attempt.
            p.next_attempt = now + max_backoff_;
        }
    }
    return due;
}

void ParkingTable::retryAllNow() {
    const auto now = clock_.system();
    auto entries = entries_.lock();
    for (auto& [zone, p] : *entries) p.next_attempt = now;
}

std::vector<ParkedZone> ParkingTable::all() {
    auto entries = entries_.lock();
    std::vector<ParkedZone> out;
    for (const auto& [zone, p] : *entries) out.push_back(p);
    return out;
}

bool ParkingTable::contains(const std::string& zone) { return entries_.lock()->contains(zone); }

size_t ParkingTable::size() { return entries_.lock()->size(); }

void ParkingTable::persist(const std::map<std::string, ParkedZone>& entries) {
    if (file_.empty()) return;
    nlohmann::json j;
    j["v"] = 1;
    j["zones"] = nlohmann::json::array();
    for (const auto& [zone, p] : entries) {
        j["zones"].push_back({{"zone", p.zone},
                              {"op", common::toString(p.op)},
                              {"attempts", p.attempts},
                              {"next_attempt", toSeconds(p.next_attempt)},
                              {"last_error", p.last_error}});
    }
    auto tmp = file_;
    tmp += ".tmp";
    {
        std::ofstream out(tmp, std::ios::trunc);
        out << j.dump() << '\n';
        if (!out) {
            spdlog::error("cannot write parking table '{}'", tmp.string());
            return;
        }
    }
    std::error_code ec;
    std::filesystem::rename(tmp, file_, ec);
    if (ec) spdlog::error("cannot replace parking table '{}' ({})", file_.string(), ec.message());
}

}  // namespace pdns_distribute::secondary_syncer
