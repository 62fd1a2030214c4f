// SPDX-License-Identifier: Apache-2.0
#include <pdns_distribute/common/zone_key.hpp>

#include <cstddef>
#include <string>
#include <vector>

namespace pdns_distribute::common {
namespace {

constexpr size_t kMaxLabelOctets = 63;
constexpr size_t kMaxNameOctets = 255;
constexpr size_t kMaxNodeIdLength = 64;
constexpr char kHexDigits[] = "0123456789ABCDEF";

/// Labels as raw octets, most specific first; the root has none.
using Labels = std::vector<std::string>;

bool isDigit(char c) { return c >= '0' && c <= '9'; }
bool isLower(char c) { return c >= 'a' && c <= 'z'; }
bool isUpper(char c) { return c >= 'A' && c <= 'Z'; }

char toLowerAscii(char c) { return isUpper(c) ? static_cast<char>(c - 'A' + 'a') : c; }

/// Bytes a zone key carries literally; everything else is %XX.
bool isZoneKeyLiteral(char c) { return isLower(c) || isDigit(c) || c == '_' || c == '-'; }

/// Bytes a PowerDNS zone id carries literally (pdns 4.7 apiZoneNameToId: alnum, '.', '-'; even
/// '_' becomes =5F).
bool isPdnsIdLiteral(char c) {
    return isLower(c) || isUpper(c) || isDigit(c) || c == '.' || c == '-';
}

/// Upper-case hex digit value, or -1. Both encodings we decode use upper case only (pdns 4.7
/// answers 400 for lower-case hex in an id).
int upperHexValue(char c) {
    if (isDigit(c)) return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

void appendHexEscape(std::string& out, char prefix, char byte) {
    const auto b = static_cast<unsigned char>(byte);
    out.push_back(prefix);
    out.push_back(kHexDigits[b >> 4]);
    out.push_back(kHexDigits[b & 0x0F]);
}

Status checkLengths(const Labels& labels, std::string_view shown) {
    size_t wire = 1;  // the root label
    for (const auto& label : labels) {
        if (label.size() > kMaxLabelOctets) {
            return makeError("invalid zone name '{}' (label of {} octets, at most {} allowed)",
                             shown, label.size(), kMaxLabelOctets);
        }
        wire += 1 + label.size();
    }
    if (wire > kMaxNameOctets) {
        return makeError("invalid zone name '{}' ({} octets in wire form, at most {} allowed)",
                         shown, wire, kMaxNameOctets);
    }
    return {};
}

/// Parses presentation format (RFC 1035 §5.1 escapes `\DDD` and `\X`) into lower-cased labels.
/// A missing trailing dot is accepted: names are always taken as absolute.
Result<Labels> parsePresentation(std::string_view name) {
    if (name.empty()) return makeError("invalid zone name '' (empty)");
    Labels labels;
    if (name == ".") return labels;
    std::string label;
    for (size_t i = 0; i < name.size(); ++i) {
        const char c = name[i];
        if (c == '.') {
            if (label.empty()) {
                return makeError("invalid zone name '{}' (empty label)", name);
            }
            labels.push_back(std::move(label));
            label.clear();
            continue;
        }
        if (c != '\\') {
            label.push_back(toLowerAscii(c));
            continue;
        }
        if (i + 1 >= name.size()) {
            return makeError("invalid zone name '{}' (dangling backslash)", name);
        }
        const char next = name[i + 1];
        if (isDigit(next)) {
            if (i + 3 >= name.size() || !isDigit(name[i + 2]) || !isDigit(name[i + 3])) {
                return makeError("invalid zone name '{}' (malformed \\DDD escape)", name);
            }
            const int value = (next - '0') * 100 + (name[i + 2] - '0') * 10 + (name[i + 3] - '0');
            if (value > 255) {
                return makeError("invalid zone name '{}' (\\DDD escape above 255)", name);
            }
            label.push_back(toLowerAscii(static_cast<char>(value)));
            i += 3;
        } else {
            label.push_back(toLowerAscii(next));
            i += 1;
        }
    }
    if (!label.empty()) labels.push_back(std::move(label));  // no trailing dot
    if (auto st = checkLengths(labels, name); !st) return std::move(st).error();
    return labels;
}

/// Renders labels the way PowerDNS's DNSName::toString does, so that our canonical names equal
/// the `name` fields pdns returns: '.' and '\' escaped with a backslash, bytes outside
/// 0x21..0x7E as \DDD, everything else literal; trailing dot; the root is ".".
std::string renderCanonical(const Labels& labels) {
    if (labels.empty()) return ".";
    std::string out;
    for (const auto& label : labels) {
        for (const char c : label) {
            const auto b = static_cast<unsigned char>(c);
            if (c == '.' || c == '\\') {
                out.push_back('\\');
                out.push_back(c);
            } else if (b > 0x20 && b < 0x7F) {
                out.push_back(c);
            } else {
                out.push_back('\\');
                out.push_back(static_cast<char>('0' + b / 100));
                out.push_back(static_cast<char>('0' + (b / 10) % 10));
                out.push_back(static_cast<char>('0' + b % 10));
            }
        }
        out.push_back('.');
    }
    return out;
}

}  // namespace

Result<std::string> canonicalZoneName(std::string_view name) {
    auto labels = parsePresentation(name);
    if (!labels) return std::move(labels).error();
    return renderCanonical(*labels);
}

std::string encodeZoneKey(std::string_view canonical_name) {
    auto labels = parsePresentation(canonical_name);
    if (!labels) {
        // Not a name at all (a caller bug): still produce one token that cannot act as a
        // wildcard or a separator.
        std::string out;
        for (const char c : canonical_name) {
            if (isZoneKeyLiteral(c)) {
                out.push_back(c);
            } else {
                appendHexEscape(out, '%', c);
            }
        }
        return out.empty() ? std::string{"%00"} : out;
    }
    if (labels->empty()) return "@";
    std::string out;
    for (const auto& label : *labels) {
        if (!out.empty()) out.push_back('.');
        for (const char c : label) {
            if (isZoneKeyLiteral(c)) {
                out.push_back(c);
            } else {
                appendHexEscape(out, '%', c);
            }
        }
    }
    return out;
}

Result<std::string> decodeZoneKey(std::string_view zkey) {
    if (zkey == "@") return std::string{"."};
    if (zkey.empty()) return makeError("invalid zone key '' (empty)");
    Labels labels;
    std::string label;
    for (size_t i = 0; i <= zkey.size(); ++i) {
        if (i == zkey.size() || zkey[i] == '.') {
            if (label.empty()) return makeError("invalid zone key '{}' (empty token)", zkey);
            labels.push_back(std::move(label));
            label.clear();
            continue;
        }
        const char c = zkey[i];
        if (isZoneKeyLiteral(c)) {
            label.push_back(c);
            continue;
        }
        if (c != '%') {
            return makeError("invalid zone key '{}' (character '{}' must be %-escaped)", zkey, c);
        }
        if (i + 2 >= zkey.size()) {
            return makeError("invalid zone key '{}' (truncated %XX escape)", zkey);
        }
        const int hi = upperHexValue(zkey[i + 1]);
        const int lo = upperHexValue(zkey[i + 2]);
        if (hi < 0 || lo < 0) {
            return makeError("invalid zone key '{}' (malformed %XX escape)", zkey);
        }
        const auto byte = static_cast<char>(hi * 16 + lo);
        // Strict: one name has exactly one key, so escapes of literal bytes and of upper-case
        // letters (never in a canonical name) are refused.
        if (isZoneKeyLiteral(byte) || isUpper(byte)) {
            return makeError("invalid zone key '{}' (needless escape %{}{})", zkey, zkey[i + 1],
                             zkey[i + 2]);
        }
        label.push_back(byte);
        i += 2;
    }
    if (auto st = checkLengths(labels, zkey); !st) return std::move(st).error();
    return renderCanonical(labels);
}

Result<std::string> decodePdnsZoneId(std::string_view zone_id) {
    if (zone_id.empty()) return makeError("invalid zone id '' (empty)");
    std::string presentation;
    presentation.reserve(zone_id.size());
    for (size_t i = 0; i < zone_id.size(); ++i) {
        const char c = zone_id[i];
        if (c != '=') {
            presentation.push_back(c);
            continue;
        }
        if (i + 2 >= zone_id.size()) {
            return makeError("invalid zone id '{}' (truncated =XX escape)", zone_id);
        }
        const int hi = upperHexValue(zone_id[i + 1]);
        const int lo = upperHexValue(zone_id[i + 2]);
        if (hi < 0 || lo < 0) {
            return makeError("invalid zone id '{}' (malformed =XX escape)", zone_id);
        }
        presentation.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
    }
    // The decoded text is presentation format again (pdns hands it to DNSName), so `=5C` yields a
    // backslash that escapes what follows.
    auto canonical = canonicalZoneName(presentation);
    if (!canonical) {
        return makeError("invalid zone id '{}' ({})", zone_id, canonical.error().message);
    }
    return canonical;
}

std::string encodePdnsZoneId(std::string_view canonical_name) {
    // pdns 4.7 apiZoneNameToId: every byte of DNSName::toString() outside [A-Za-z0-9.-] as =XX,
    // a trailing dot added, and the root spelled "=2E".
    std::string out;
    out.reserve(canonical_name.size() + 8);
    for (const char c : canonical_name) {
        if (isPdnsIdLiteral(c)) {
            out.push_back(c);
        } else {
            appendHexEscape(out, '=', c);
        }
    }
    if (out.empty() || out.back() != '.') out.push_back('.');
    if (out == ".") return "=2E";
    return out;
}

bool isAtOrBelow(std::string_view name, std::string_view zone) {
    const auto name_labels = parsePresentation(name);
    const auto zone_labels = parsePresentation(zone);
    if (!name_labels || !zone_labels) return false;
    if (zone_labels->size() > name_labels->size()) return false;
    const size_t offset = name_labels->size() - zone_labels->size();
    for (size_t i = 0; i < zone_labels->size(); ++i) {
        if ((*name_labels)[offset + i] != (*zone_labels)[i]) return false;
    }
    return true;
}

std::string zoneEventSubject(std::string_view group, std::string_view canonical_zone) {
    std::string out{"pdns.zones."};
    out.append(group);
    out.push_back('.');
    out += encodeZoneKey(canonical_zone);
    return out;
}

std::string zoneDataSubject(std::string_view group, std::string_view canonical_zone) {
    std::string out{"pdns.zonedata."};
    out.append(group);
    out.push_back('.');
    out += encodeZoneKey(canonical_zone);
    return out;
}

bool isValidNodeId(std::string_view node) {
    if (node.empty() || node.size() > kMaxNodeIdLength) return false;
    for (const char c : node) {
        if (!(isLower(c) || isUpper(c) || isDigit(c) || c == '_' || c == '-')) return false;
    }
    return true;
}

std::string nodeIdFromHostname(std::string_view hostname) {
    std::string out;
    for (const char c : hostname.substr(0, kMaxNodeIdLength)) {
        out.push_back(isLower(c) || isUpper(c) || isDigit(c) || c == '_' || c == '-' ? c : '-');
    }
    return out;
}

}  // namespace pdns_distribute::common
