// SPDX-License-Identifier: Apache-2.0
// Fuzz target: zone names and zone events as they arrive from outside — NATS subject tokens
// (decodeZoneKey), PowerDNS API zone ids (decodePdnsZoneId), presentation names
// (canonicalZoneName) and stream messages (parseZoneEvent). The whole input is given to each.
// Besides sanitizer findings, it checks the round trips the contract relies on: one canonical
// name has exactly one zone key and one pdns id, and a zone key never makes a subject with an
// empty token or a wildcard.

#include <string>

#include <pdns_distribute/common/dns.hpp>
#include <pdns_distribute/common/zone_event.hpp>
#include <pdns_distribute/common/zone_key.hpp>

#include "fuzz_check.hpp"

namespace {

namespace common = pdns_distribute::common;
using pdns_distribute::fuzz::check;

bool isSubjectTokenChar(char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '%' ||
           (c >= 'A' && c <= 'F');
}

// The zkey part of a subject: tokens separated by single dots, none empty, no NATS wildcard.
void checkZoneKey(const std::string& zkey) {
    check(!zkey.empty(), "empty zone key");
    if (zkey == "@") return;
    check(zkey.front() != '.' && zkey.back() != '.', "zone key starts or ends with a dot");
    check(zkey.find("..") == std::string::npos, "zone key has an empty token");
    for (const char c : zkey) {
        check(c == '.' || isSubjectTokenChar(c), "zone key holds a byte that must be escaped");
    }
}

void checkCanonical(const std::string& name) {
    auto again = common::canonicalZoneName(name);
    check(again && *again == name, "canonical name is not a fixed point of canonicalZoneName");

    const std::string zkey = common::encodeZoneKey(name);
    checkZoneKey(zkey);
    auto from_key = common::decodeZoneKey(zkey);
    check(from_key && *from_key == name, "zone key does not decode back to the name");

    const std::string id = common::encodePdnsZoneId(name);
    auto from_id = common::decodePdnsZoneId(id);
    check(from_id && *from_id == name, "pdns zone id does not decode back to the name");

    auto wire = common::nameToWire(name);
    check(static_cast<bool>(wire), "canonical name does not convert to wire form");
    check(common::wireToName(*wire) == name, "canonical name changes through wire form");
    check(common::isAtOrBelow(name, name) && common::isAtOrBelow(name, "."),
          "canonical name is not at or below itself and the root");

    const std::string subject = common::zoneEventSubject("default", name);
    check(subject.find_first_of(" *>\t\r\n") == std::string::npos, "subject with a wildcard");
}

void checkZoneEvent(const common::ZoneEvent& e) {
    auto canonical = common::canonicalZoneName(e.zone);
    check(canonical && *canonical == e.zone, "zone event name is not canonical");
    auto again = common::parseZoneEvent(common::serializeZoneEvent(e));
    check(static_cast<bool>(again), "serialised zone event does not parse back");
    check(again->zone == e.zone && again->op == e.op && again->serial == e.serial &&
              again->apex == e.apex && again->cause == e.cause && again->at == e.at,
          "zone event changed in a serialise/parse round trip");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view text = pdns_distribute::fuzz::textOf(data, size);

    if (auto name = common::canonicalZoneName(text)) checkCanonical(*name);
    if (auto name = common::decodeZoneKey(text)) {
        checkCanonical(*name);
        // Strict decoding: the key the name encodes to is the input itself.
        check(common::encodeZoneKey(*name) == text, "zone key decodes from a non-canonical form");
    }
    if (auto name = common::decodePdnsZoneId(text)) checkCanonical(*name);
    if (auto event = common::parseZoneEvent(text)) checkZoneEvent(*event);

    if (auto t = common::parseRfc3339(text)) {
        auto again = common::parseRfc3339(common::rfc3339Millis(*t));
        check(again && *again == *t, "rfc3339 time changes through rfc3339Millis");
    }
    const std::string node = common::nodeIdFromHostname(text);
    check(node.empty() || common::isValidNodeId(node), "nodeIdFromHostname made an invalid id");
    (void)common::isValidGroupToken(text);
    return 0;
}
