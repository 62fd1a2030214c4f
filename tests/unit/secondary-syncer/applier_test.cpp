// SPDX-License-Identifier: Apache-2.0
#include "applier.hpp"

#include <algorithm>
#include <map>
#include <set>

#include <gtest/gtest.h>

#include "config.hpp"
#include "fake_pdns_api.hpp"
#include "manual_clock.hpp"

namespace pdns_distribute::secondary_syncer {
namespace {

using namespace std::chrono_literals;
using common::ManifestStatus;

constexpr auto kMaster = "127.0.0.1:5300";
constexpr auto kKeyId = "pdns-distribute-sec1.";

class FakeData final : public ZoneDataSource {
public:
    std::map<std::string, common::Result<FetchedZone>> answers;
    int fetches = 0;
    common::Result<FetchedZone> fetch(const std::string& zone, const std::string&) override {
        ++fetches;
        auto it = answers.find(zone);
        if (it == answers.end()) return common::Error{.message = "no reply", .code = "unavailable"};
        return it->second;
    }
};

// The listener and the local pdns's DNS side: a retrieve "transfers" whatever body is served
// (if transfers work) and the probe then answers with that body's apex.
class FakeLocalServer final : public TransferServer, public common::ApexProbe {
public:
    explicit FakeLocalServer(testing::ManualClock& clock) : clock_(clock) {}
    bool transfers_work = true;
    std::optional<std::string> served_apex_override;
    std::map<std::string, std::shared_ptr<const ServedBody>> bodies;
    std::map<std::string, std::string> completed;  // zone -> digest the local pdns serves
    std::map<std::string, std::string> sent;       // zone -> digest the listener sent in full
    int lose_commits = 0;  // transfers the local pdns receives but does not commit
    int retrieves = 0;
    // Looks answered from a cache entry from before the transfer (REFUSED), until a flush.
    bool stale_until_flush = false;
    // Looks that come before pdns committed the transfer (REFUSED); no flush needed.
    int uncommitted_looks = 0;

    void onRetrieve(const std::string& zone) {
        ++retrieves;
        if (!transfers_work) return;
        auto it = bodies.find(zone);
        if (it == bodies.end()) return;
        sent[zone] = it->second->digest;
        if (lose_commits > 0) {
            --lose_commits;
            return;
        }
        completed[zone] = it->second->digest;
    }
    void serve(std::shared_ptr<const ServedBody> body) override {
        bodies[body->zone] = std::move(body);
    }
    void withdraw(const std::string& zone) override { bodies.erase(zone); }
    void retire(const std::string& zone, const std::string& digest) override {
        retired[zone] = digest;
    }
    std::map<std::string, std::string> retired;  // zone -> digest retired after its apply
    bool serves(const std::string& zone) const override { return bodies.contains(zone); }
    size_t servedCount() const override { return bodies.size(); }
    TransferWait waitForTransfer(const std::string& zone, const std::string& digest,
                                 std::chrono::steady_clock::time_point,
                                 std::chrono::steady_clock::time_point,
                                 std::chrono::steady_clock::time_point start_deadline,
                                 std::chrono::steady_clock::time_point) override {
        auto it = sent.find(zone);
        if (it != sent.end() && it->second == digest) return TransferWait::Completed;
        clock_.advance(start_deadline - clock_.steady());
        return TransferWait::NotStarted;
    }
    common::Result<common::ApexFingerprint> apex(std::string_view zone) override {
        ++looks;
        if (stale_until_flush) return common::Error{.message = "REFUSED", .code = "not-served"};
        if (uncommitted_looks > 0) {
            --uncommitted_looks;
            return common::Error{.message = "REFUSED", .code = "not-served"};
        }
        auto it = completed.find(std::string(zone));
        if (it == completed.end()) return common::Error{.message = "REFUSED", .code = "not-served"};
        return fingerprint_for_digest.at(it->second);
    }
    int looks = 0;
    // What the local pdns serves after transferring a body with that digest.
    std::map<std::string, common::ApexFingerprint> fingerprint_for_digest;

private:
    testing::ManualClock& clock_;
};

class FakeLateFlush final : public LateFlush {
public:
    std::vector<std::string> scheduled;
    void schedule(const std::string& zone) override { scheduled.push_back(zone); }
};

class ApplierTest : public ::testing::Test {
protected:
    ApplierTest()
        : local_(clock_),
          budget_(clock_, 10min, 2, 0),
          applier_(ApplierSettings{.master = kMaster, .tsig_key_id = kKeyId, .apply_timeout = 5s},
                   data_, api_, local_, local_, budget_, late_flush_, clock_,
                   [this](std::chrono::milliseconds d) { clock_.advance(d); }) {
        api_.on_retrieve = [this](const std::string& zone) { local_.onRetrieve(zone); };
        api_.on_flush = [this](const std::string&) { local_.stale_until_flush = false; };
    }

    // A present answer whose apex the fake local server will report after a transfer.
    FetchedZone present(const std::string& zone, uint32_t serial) {
        common::ApexFingerprint f;
        f.serial = serial;
        const auto digest = "digest-" + zone + std::to_string(serial);
        local_.fingerprint_for_digest[digest] = f;
        FetchedZone z;
        z.manifest.zone = zone;
        z.manifest.status = ManifestStatus::Present;
        z.manifest.serial = serial;
        z.manifest.apex = f.hex();
        z.manifest.digest = digest;
        z.body = common::ZoneBody{
            .bytes = {std::byte{1}, std::byte{2}}, .rr_count = 1, .serial = serial};
        return z;
    }
    static FetchedZone answer(const std::string& zone, ManifestStatus status,
                              std::string reason = {}) {
        FetchedZone z;
        z.manifest.zone = zone;
        z.manifest.status = status;
        z.manifest.reason = std::move(reason);
        return z;
    }
    static common::ZoneEvent event(const std::string& zone, common::ZoneOp op) {
        return common::ZoneEvent{.zone = zone,
                                 .op = op,
                                 .serial = std::nullopt,
                                 .apex = std::nullopt,
                                 .cause = common::EventCause::Api,
                                 .at = {}};
    }
    void addManaged(const std::string& zone, std::vector<std::string> keys = {kKeyId}) {
        common::PdnsZoneInfo z;
        z.name = zone;
        z.kind = "Slave";
        z.account = std::string(kManagedAccount);
        z.masters = {kMaster};
        z.tsig_master_key_ids = std::move(keys);
        api_.addZone(z);
    }

    testing::ManualClock clock_;
    testing::FakePdnsApi api_;
    FakeData data_;
    FakeLocalServer local_;
    DeleteBudget budget_;
    FakeLateFlush late_flush_;
    Applier applier_;
};

TEST_F(ApplierTest, Upsert_NewZone_CreatesManagedSlaveZoneAndProvesIt) {
    data_.answers.emplace("example.org.", present("example.org.", 7));
    const auto r = applier_.apply(event("example.org.", common::ZoneOp::Upsert));
    ASSERT_EQ(r.outcome, Outcome::Applied) << r.error;
    EXPECT_EQ(r.serial, 7u);
    const auto z = api_.zone("example.org.");
    ASSERT_TRUE(z);
    EXPECT_EQ(z->kind, "Slave");
    EXPECT_EQ(z->account, kManagedAccount);
    EXPECT_EQ(z->masters, std::vector<std::string>{kMaster});
    EXPECT_EQ(z->tsig_master_key_ids, std::vector<std::string>{kKeyId});
    EXPECT_TRUE(local_.serves("example.org."));
    EXPECT_EQ(api_.count("axfrRetrieve"), 1);
    EXPECT_EQ(late_flush_.scheduled, std::vector<std::string>{"example.org."});
    EXPECT_EQ(api_.count("getZone"), 0) << "a zone new here is created without reading it first";
    // Proven served: the listener may keep the SOA alone from now on.
    EXPECT_EQ(local_.retired, (std::map<std::string, std::string>{
                                  {"example.org.", local_.bodies.at("example.org.")->digest}}));
}

// pdns purges its caches itself when it commits a transfer, so the first look goes without a
// flush; but an answer computed before the commit can reach the packet cache after that purge,
// so the cache is flushed once the check passed, and a late flush is scheduled for one that
// lands later still (late_flush.hpp).
TEST_F(ApplierTest, Upsert_Served_FlushedAfterTheCheckAndALateOneScheduled) {
    data_.answers.emplace("example.org.", present("example.org.", 7));
    const auto r = applier_.apply(event("example.org.", common::ZoneOp::Upsert));
    ASSERT_EQ(r.outcome, Outcome::Applied) << r.error;
    EXPECT_EQ(local_.looks, 1);
    EXPECT_EQ(api_.count("flushCache"), 1);
    EXPECT_EQ(api_.calls().back(), "flushCache example.org.");
    EXPECT_EQ(late_flush_.scheduled, std::vector<std::string>{"example.org."});
}

// A node catching up saves the immediate flush; the late one still comes.
TEST_F(ApplierTest, Upsert_LateOnly_NoFlushOnTheWay) {
    data_.answers.emplace("example.org.", present("example.org.", 7));
    const auto r =
        applier_.apply(event("example.org.", common::ZoneOp::Upsert), FlushMode::LateOnly);
    ASSERT_EQ(r.outcome, Outcome::Applied) << r.error;
    EXPECT_EQ(api_.count("flushCache"), 0);
    EXPECT_EQ(late_flush_.scheduled, std::vector<std::string>{"example.org."});
}

// A first look that meets a cached answer from before the transfer: the cache is flushed before
// the next look, which then sees the transferred data.
// The usual first look: before pdns committed the transfer. The looks go past the packet cache,
// so the second look needs no flush before it.
TEST_F(ApplierTest, Upsert_FirstLookBeforeTheCommit_SecondLookWithoutAFlush) {
    data_.answers.emplace("example.org.", present("example.org.", 7));
    local_.uncommitted_looks = 1;
    const auto r = applier_.apply(event("example.org.", common::ZoneOp::Upsert));
    ASSERT_EQ(r.outcome, Outcome::Applied) << r.error;
    EXPECT_EQ(local_.looks, 2);
    EXPECT_EQ(api_.calls().back(), "flushCache example.org.");  // only after the look passed
    EXPECT_EQ(api_.count("flushCache"), 1);
    EXPECT_EQ(api_.count("axfrRetrieve"), 1);
}

// A look that keeps meeting a stale cached answer: flushed before the third look and each after.
TEST_F(ApplierTest, Upsert_LooksMeetAStaleCachedAnswer_FlushedBeforeTheThird) {
    data_.answers.emplace("example.org.", present("example.org.", 7));
    local_.stale_until_flush = true;
    const auto r = applier_.apply(event("example.org.", common::ZoneOp::Upsert));
    ASSERT_EQ(r.outcome, Outcome::Applied) << r.error;
    EXPECT_EQ(local_.looks, 3);
    EXPECT_EQ(api_.count("flushCache"), 2);  // before the third look, and after it passed
    EXPECT_EQ(late_flush_.scheduled.size(), 1u);
    EXPECT_EQ(api_.count("axfrRetrieve"), 1) << "a stale cache is not a failed transfer";
}

TEST_F(ApplierTest, VerifiedWithin_OnlyAfterAnApplyAndUntilTheWindowPasses) {
    EXPECT_FALSE(applier_.verifiedWithin("example.org.", std::chrono::seconds{60}));
    data_.answers.emplace("example.org.", present("example.org.", 7));
    ASSERT_EQ(applier_.apply(event("example.org.", common::ZoneOp::Upsert)).outcome,
              Outcome::Applied);
    EXPECT_TRUE(applier_.verifiedWithin("example.org.", std::chrono::seconds{60}));
    clock_.advance(std::chrono::seconds{61});
    EXPECT_FALSE(applier_.verifiedWithin("example.org.", std::chrono::seconds{60}));
    EXPECT_FALSE(applier_.verifiedWithin("other.org.", std::chrono::seconds{60}));
}

TEST_F(ApplierTest, Upsert_ManagedZoneWithoutTheKey_GetsItBeforeTheRetrieve) {
    addManaged("example.org.", {});
    data_.answers.emplace("example.org.", present("example.org.", 7));
    const auto r = applier_.apply(event("example.org.", common::ZoneOp::Upsert));
    ASSERT_EQ(r.outcome, Outcome::Applied) << r.error;
    EXPECT_EQ(api_.zone("example.org.")->tsig_master_key_ids, std::vector<std::string>{kKeyId});
    const auto calls = api_.calls();
    const auto update = std::find(calls.begin(), calls.end(), "updateSecondaryZone example.org.");
    const auto retrieve = std::find(calls.begin(), calls.end(), "axfrRetrieve example.org.");
    ASSERT_NE(update, calls.end());
    ASSERT_NE(retrieve, calls.end());
    EXPECT_LT(update, retrieve);
}

TEST_F(ApplierTest, Upsert_ManagedZoneWithTheKey_NotUpdated) {
    addManaged("example.org.");
    data_.answers.emplace("example.org.", present("example.org.", 7));
    const auto r = applier_.apply(event("example.org.", common::ZoneOp::Upsert));
    ASSERT_EQ(r.outcome, Outcome::Applied) << r.error;
    EXPECT_EQ(api_.count("updateSecondaryZone"), 0);
}

TEST_F(ApplierTest, Upsert_UnmanagedLocalZone_ParksWithoutTouchingIt) {
    common::PdnsZoneInfo mine;
    mine.name = "example.org.";
    mine.kind = "Native";
    mine.account = "operator";
    api_.addZone(mine);
    data_.answers.emplace("example.org.", present("example.org.", 7));
    const auto r = applier_.apply(event("example.org.", common::ZoneOp::Upsert));
    EXPECT_EQ(r.outcome, Outcome::Park);
    EXPECT_NE(r.error.find("name clash"), std::string::npos);
    EXPECT_EQ(api_.count("createSecondaryZone"), 1);  // refused (409), then read
    EXPECT_EQ(api_.count("updateSecondaryZone"), 0);
    EXPECT_EQ(api_.count("axfrRetrieve"), 0);
    EXPECT_EQ(api_.zone("example.org.")->kind, "Native");
    EXPECT_EQ(api_.zone("example.org.")->account, "operator");
}

TEST_F(ApplierTest, Upsert_AbsentAnswer_ParksAndNeverDeletes) {
    addManaged("example.org.");
    data_.answers.emplace("example.org.", answer("example.org.", ManifestStatus::Absent, "proof"));
    const auto r = applier_.apply(event("example.org.", common::ZoneOp::Upsert));
    EXPECT_EQ(r.outcome, Outcome::Park);
    EXPECT_EQ(api_.count("deleteZone"), 0);
    EXPECT_TRUE(api_.has("example.org."));
}

TEST_F(ApplierTest, Delete_VerifiedAbsence_DeletesAndWithdraws) {
    data_.answers.emplace("example.org.", present("example.org.", 1));
    ASSERT_EQ(applier_.apply(event("example.org.", common::ZoneOp::Upsert)).outcome,
              Outcome::Applied);
    data_.answers.insert_or_assign("example.org.",
                                   answer("example.org.", ManifestStatus::Absent, "proof"));
    const auto r = applier_.apply(event("example.org.", common::ZoneOp::Delete));
    EXPECT_EQ(r.outcome, Outcome::Deleted) << r.error;
    EXPECT_FALSE(api_.has("example.org."));
    EXPECT_FALSE(local_.serves("example.org."));
    EXPECT_EQ(api_.calls().back(), "flushCache example.org.");
    // One late flush for the upsert, one for the delete.
    EXPECT_EQ(late_flush_.scheduled, (std::vector<std::string>{"example.org.", "example.org."}));
}

TEST_F(ApplierTest, Delete_ProviderError_KeepsZoneAndParksWithReason) {
    addManaged("example.org.");
    data_.answers.emplace("example.org.",
                          answer("example.org.", ManifestStatus::Error, "canary zone missing"));
    const auto r = applier_.apply(event("example.org.", common::ZoneOp::Delete));
    EXPECT_EQ(r.outcome, Outcome::Park);
    EXPECT_NE(r.error.find("canary zone missing"), std::string::npos);
    EXPECT_EQ(api_.count("deleteZone"), 0);
    EXPECT_TRUE(api_.has("example.org."));
}

TEST_F(ApplierTest, Delete_ProviderUnreachable_KeepsZoneAndRetries) {
    addManaged("example.org.");
    const auto r = applier_.apply(event("example.org.", common::ZoneOp::Delete));
    EXPECT_EQ(r.outcome, Outcome::Retry);
    EXPECT_EQ(api_.count("deleteZone"), 0);
}

TEST_F(ApplierTest, Delete_PresentAnswer_AppliedAsUpsert) {
    addManaged("example.org.");
    data_.answers.emplace("example.org.", present("example.org.", 9));
    const auto r = applier_.apply(event("example.org.", common::ZoneOp::Delete));
    EXPECT_EQ(r.outcome, Outcome::Applied);
    EXPECT_TRUE(api_.has("example.org."));
}

TEST_F(ApplierTest, Delete_UnmanagedLocalZone_NeverDeleted) {
    common::PdnsZoneInfo mine;
    mine.name = "example.org.";
    mine.kind = "Native";
    mine.account = "";
    api_.addZone(mine);
    data_.answers.emplace("example.org.", answer("example.org.", ManifestStatus::Absent, "proof"));
    const auto r = applier_.apply(event("example.org.", common::ZoneOp::Delete));
    EXPECT_EQ(r.outcome, Outcome::Park);
    EXPECT_TRUE(api_.has("example.org."));
}

TEST_F(ApplierTest, Delete_LocalApiUnreadable_RetriesWithoutDeleting) {
    data_.answers.emplace("example.org.", present("example.org.", 1));
    ASSERT_EQ(applier_.apply(event("example.org.", common::ZoneOp::Upsert)).outcome,
              Outcome::Applied);
    data_.answers.insert_or_assign("example.org.",
                                   answer("example.org.", ManifestStatus::Absent, "proof"));
    api_.failNext("getZone", common::Error{.message = "timed out", .code = "network"});
    const auto r = applier_.apply(event("example.org.", common::ZoneOp::Delete));
    EXPECT_EQ(r.outcome, Outcome::Retry);
    EXPECT_EQ(api_.count("deleteZone"), 0);
    EXPECT_TRUE(api_.has("example.org."));
}

TEST_F(ApplierTest, Delete_BudgetExhausted_ParksFurtherDeletions) {
    for (const auto* z : {"a.test.", "b.test.", "c.test."}) {
        addManaged(z);
        data_.answers.emplace(z, answer(z, ManifestStatus::Absent, "proof"));
    }
    EXPECT_EQ(applier_.apply(event("a.test.", common::ZoneOp::Delete)).outcome, Outcome::Deleted);
    EXPECT_EQ(applier_.apply(event("b.test.", common::ZoneOp::Delete)).outcome, Outcome::Deleted);
    const auto r = applier_.apply(event("c.test.", common::ZoneOp::Delete));
    EXPECT_EQ(r.outcome, Outcome::Park);
    EXPECT_TRUE(api_.has("c.test."));
    clock_.advance(11min);
    EXPECT_EQ(applier_.apply(event("c.test.", common::ZoneOp::Delete)).outcome, Outcome::Deleted);
}

TEST_F(ApplierTest, Delete_ZoneNotHeld_SkippedWithoutFetching) {
    const auto r = applier_.apply(event("gone.test.", common::ZoneOp::Delete));
    EXPECT_EQ(r.outcome, Outcome::Skipped);
    EXPECT_EQ(data_.fetches, 0);
}

TEST_F(ApplierTest, Upsert_RefusedData_ParksWithoutTouchingPdns) {
    data_.answers.emplace(
        "example.org.",
        common::Error{.message = "zone data refused (bad-signature)", .code = "refused"});
    const auto r = applier_.apply(event("example.org.", common::ZoneOp::Upsert));
    EXPECT_EQ(r.outcome, Outcome::Park);
    EXPECT_EQ(api_.count("createSecondaryZone"), 0);
    EXPECT_EQ(api_.count("axfrRetrieve"), 0);
    EXPECT_FALSE(local_.serves("example.org."));
}

TEST_F(ApplierTest, Upsert_TransferNeverStarts_ReissuesRetrieveThenRetries) {
    local_.transfers_work = false;
    data_.answers.emplace("example.org.", present("example.org.", 3));
    const auto r = applier_.apply(event("example.org.", common::ZoneOp::Upsert));
    EXPECT_EQ(r.outcome, Outcome::Retry);
    EXPECT_GE(api_.count("axfrRetrieve"), 2);
    EXPECT_TRUE(local_.retired.empty()) << "a body not proven served is kept whole";
}

TEST_F(ApplierTest, Upsert_LocalApexDiffers_NotAcknowledgedAsApplied) {
    data_.answers.emplace("example.org.", present("example.org.", 3));
    common::ApexFingerprint other;
    other.serial = 2;
    local_.fingerprint_for_digest["digest-example.org.3"] = other;
    const auto r = applier_.apply(event("example.org.", common::ZoneOp::Upsert));
    EXPECT_EQ(r.outcome, Outcome::Retry);
    EXPECT_NE(r.error.find("does not serve"), std::string::npos);
}

TEST_F(ApplierTest, Upsert_SameSerialAndApexRecentlyVerified_Skipped) {
    auto z = present("example.org.", 5);
    const auto apex = z.manifest.apex;
    data_.answers.emplace("example.org.", z);
    ASSERT_EQ(applier_.apply(event("example.org.", common::ZoneOp::Upsert)).outcome,
              Outcome::Applied);
    auto e = event("example.org.", common::ZoneOp::Upsert);
    e.serial = 5;
    e.apex = apex;
    EXPECT_EQ(applier_.apply(e).outcome, Outcome::Skipped);
    e.cause = common::EventCause::Resync;
    EXPECT_EQ(applier_.apply(e).outcome, Outcome::Applied);
    e.cause = common::EventCause::Api;
    clock_.advance(2h);
    EXPECT_EQ(applier_.apply(e).outcome, Outcome::Applied);
}

TEST(DeleteBudget, Percentage_AboveMinimum_Applies) {
    testing::ManualClock clock;
    DeleteBudget budget(clock, 10min, 1, 5);
    int taken = 0;
    while (budget.tryTake(1000)) ++taken;
    EXPECT_EQ(taken, 50);
}

TEST_F(ApplierTest, TransferNotCommittedByTheLocalPdns_IsDoneAgain) {
    data_.answers.emplace("a.test.", present("a.test.", 7));
    local_.lose_commits = 1;
    const auto r = applier_.apply(event("a.test.", common::ZoneOp::Upsert));
    EXPECT_EQ(r.outcome, Outcome::Applied) << r.error;
    EXPECT_EQ(local_.retrieves, 2);
    ASSERT_TRUE(r.served.has_value());
    EXPECT_EQ(r.served->serial, 7u);
}

TEST_F(ApplierTest, LocalPdnsNeverCommits_GivesUpAtTheApplyTimeout) {
    data_.answers.emplace("a.test.", present("a.test.", 7));
    local_.lose_commits = 1000;
    const auto start = clock_.steady();
    const auto r = applier_.apply(event("a.test.", common::ZoneOp::Upsert));
    EXPECT_EQ(r.outcome, Outcome::Retry);
    EXPECT_NE(r.error.find("does not serve"), std::string::npos) << r.error;
    EXPECT_GE(local_.retrieves, 2);
    EXPECT_LE(clock_.steady() - start, 10s);  // bounded: at most two apply_timeouts
}

}  // namespace
}  // namespace pdns_distribute::secondary_syncer
