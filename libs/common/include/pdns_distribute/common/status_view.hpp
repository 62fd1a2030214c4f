// SPDX-License-Identifier: Apache-2.0
#pragma once
// The operator's view of fleet status (DESIGN §7 "Status"): one renderer for the health-checker's
// `/status` JSON, shared by its HTML page (`/`) and by `pdns-distribute status`. The JSON comes
// over the network from a checker that may be older or newer than this code, so every field is
// optional and a field of the wrong type renders as unknown ("-") instead of failing. Zone names,
// node ids and error texts come from outside: the HTML renderer escapes everything it takes from
// the JSON, the text renderer replaces control characters (terminal escape sequences).
// Pure functions, thread-safe.

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

namespace pdns_distribute::common {

/// Divergence rows (and held deletions) shown before "... and N more": enough to act on, small
/// enough that a fleet-wide outage (nodes × 1M zones) does not produce a page nobody can load.
inline constexpr std::size_t kDefaultStatusRows = 200;

/// Plain-text report for a terminal: header, held deletions, NODES table, DIVERGENCES table (or
/// "all nodes in sync"). At most `max_rows` divergence rows and held zones are listed.
[[nodiscard]] std::string renderStatusText(const nlohmann::json& status,
                                           std::size_t max_rows = kDefaultStatusRows);

/// Self-contained HTML5 page (inline CSS, no script, refreshes every 5 s) with the same content.
/// Every string taken from `status` is HTML-escaped.
[[nodiscard]] std::string renderStatusHtml(const nlohmann::json& status,
                                           std::size_t max_rows = kDefaultStatusRows);

/// Short human form of a duration: "850ms", "5.4s", "3m12s", "2h05m", "3d04h". Negative values
/// (clock skew between hosts) render as "0ms". Tenths are truncated, so 59.96 s is "59.9s".
[[nodiscard]] std::string humanizeDuration(std::chrono::milliseconds duration);

/// `text` with control characters (C0, DEL, and C1 as UTF-8) replaced by `\xHH`, so text from
/// outside cannot move the cursor or retitle the terminal it is printed on.
[[nodiscard]] std::string terminalSafe(std::string_view text);

/// Escapes `&`, `<`, `>`, `"` and `'` for HTML text and attribute values.
[[nodiscard]] std::string htmlEscape(std::string_view text);

}  // namespace pdns_distribute::common
