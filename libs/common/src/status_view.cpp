// SPDX-License-Identifier: Apache-2.0
#include <pdns_distribute/common/status_view.hpp>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace pdns_distribute::common {

namespace {

using nlohmann::json;

/// The status format this code was written against; a newer one still renders what it can.
constexpr int64_t kKnownVersion = 1;
/// An error text longer than this is cut in the text report: one line per divergence stays
/// readable; the HTML page, which wraps, shows it whole.
constexpr std::size_t kMaxErrorChars = 200;
/// Larger lag values are nonsense (over 30 years) and would overflow the conversion.
constexpr double kMaxLagMs = 1e12;

// ---- lenient access to the JSON ----

const json* field(const json& j, const char* key) {
    if (!j.is_object()) return nullptr;
    const auto it = j.find(key);
    return it == j.end() ? nullptr : &*it;
}

/// Any scalar as display text; strings unescaped (the renderer escapes), null/absent as "-".
std::string scalarText(const json* v) {
    if (v == nullptr || v->is_null()) return "-";
    if (v->is_string()) return v->get<std::string>();
    if (v->is_number_unsigned()) return std::to_string(v->get<uint64_t>());
    if (v->is_number_integer()) return std::to_string(v->get<int64_t>());
    if (v->is_number_float()) return fmt::format("{}", v->get<double>());
    if (v->is_boolean()) return v->get<bool>() ? "true" : "false";
    // Objects and arrays where a scalar belongs: show them rather than hide them.
    return v->dump(-1, ' ', false, json::error_handler_t::replace);
}

std::optional<std::string> optString(const json& j, const char* key) {
    const auto* v = field(j, key);
    if (v == nullptr || !v->is_string()) return std::nullopt;
    return v->get<std::string>();
}

std::optional<double> optNumber(const json& j, const char* key) {
    const auto* v = field(j, key);
    if (v == nullptr || !v->is_number()) return std::nullopt;
    return v->get<double>();
}

std::optional<bool> optBool(const json& j, const char* key) {
    const auto* v = field(j, key);
    if (v == nullptr || !v->is_boolean()) return std::nullopt;
    return v->get<bool>();
}

std::optional<std::chrono::milliseconds> optMillis(const json& j, const char* key) {
    const auto n = optNumber(j, key);
    if (!n) return std::nullopt;
    const double clamped = std::clamp(*n, 0.0, kMaxLagMs);
    return std::chrono::milliseconds(static_cast<int64_t>(clamped));
}

std::string durationText(const json& j, const char* key) {
    const auto ms = optMillis(j, key);
    return ms ? humanizeDuration(*ms) : "-";
}

// ---- the view model: display strings, unescaped; each renderer escapes for its medium ----

struct NodeRow {
    std::string node;
    std::string state;
    std::string zones;
    std::string out_of_sync;
    std::string max_lag;
    std::string parked;
    std::string load;
    std::string heartbeat;
    std::string heartbeat_at;
    bool inactive = false;
    bool load_warning = false;
};

struct DivergenceRow {
    std::string node;
    std::string zone;
    std::string wanted;
    std::string served;
    std::string lag;
    std::string resyncs;
    std::string error;
    bool missing = false;
};

enum class SyncSummary { InSync, NoNodes, DetailsMissing };

struct View {
    std::string group;
    std::string instance;
    std::optional<bool> leader;
    std::string leader_instance;
    std::string zones;
    std::string generated_at;
    std::optional<bool> mirror_synced;
    std::optional<int64_t> newer_version;
    std::vector<std::string> held;
    std::size_t held_total = 0;
    std::string held_reason;
    std::vector<NodeRow> nodes;
    std::vector<DivergenceRow> divergences;
    std::size_t divergences_total = 0;
    SyncSummary sync_summary = SyncSummary::InSync;
};

NodeRow nodeRow(const json& n) {
    NodeRow row;
    row.node = scalarText(field(n, "node"));
    const auto state = optString(n, "state");
    row.state = state.value_or("-");
    row.inactive = state == "inactive";
    row.zones = scalarText(field(n, "zones"));
    const auto* oos = field(n, "out_of_sync");
    if (oos == nullptr && optBool(n, "in_sync") == true) {
        row.out_of_sync = "0";
    } else {
        row.out_of_sync = scalarText(oos);
    }
    row.max_lag = durationText(n, "max_lag_ms");
    row.parked = scalarText(field(n, "parked"));
    row.load_warning = optBool(n, "load_warning").value_or(false);
    if (const auto load = optNumber(n, "load1")) {
        row.load = fmt::format("{:.2f}", *load);
        if (const auto* cores = field(n, "cores"); cores != nullptr && cores->is_number()) {
            row.load += "/" + scalarText(cores);
        }
    } else {
        row.load = "-";
    }
    if (row.load_warning) row.load += "!";
    row.heartbeat_at = optString(n, "last_heartbeat").value_or("");
    if (const auto age = optMillis(n, "heartbeat_age_ms")) {
        row.heartbeat = humanizeDuration(*age) + " ago";
    } else if (!row.heartbeat_at.empty()) {
        row.heartbeat = row.heartbeat_at;
    } else {
        row.heartbeat = "-";
    }
    return row;
}

DivergenceRow divergenceRow(const json& d) {
    DivergenceRow row;
    row.node = scalarText(field(d, "node"));
    row.zone = scalarText(field(d, "zone"));
    row.wanted = scalarText(field(d, "wanted_serial"));
    const auto* served = field(d, "served_serial");
    const auto served_apex = optString(d, "served_apex");
    // "missing" is a claim (the node does not serve the zone): only when the checker said so with
    // an explicit null, not when an older checker left the field out.
    row.missing = served != nullptr && served->is_null() && !served_apex;
    if (row.missing) {
        row.served = "missing";
    } else if (served != nullptr && served->is_number()) {
        row.served = scalarText(served);
        // Same serial, different content: a resigned zone under SOA-EDIT, or a zone changed
        // without a serial bump. Without the hint the row would look like no divergence at all.
        const auto wanted_apex = optString(d, "wanted_apex");
        if (row.served == row.wanted && wanted_apex && served_apex &&
            *wanted_apex != *served_apex) {
            row.served += " (apex differs)";
        }
    } else {
        row.served = "-";
    }
    row.lag = durationText(d, "lag_ms");
    row.resyncs = scalarText(field(d, "resyncs"));
    const auto* error = field(d, "error");
    row.error = (error == nullptr || error->is_null()) ? "" : scalarText(error);
    return row;
}

View buildView(const json& status, std::size_t max_rows) {
    View view;
    if (const auto v = optNumber(status, "v"); v && *v > static_cast<double>(kKnownVersion)) {
        view.newer_version = static_cast<int64_t>(std::min(*v, 1e9));
    }
    view.generated_at = scalarText(field(status, "generated_at"));
    view.zones = scalarText(field(status, "zones"));
    view.mirror_synced = optBool(status, "mirror_synced");
    if (const auto* checker = field(status, "checker"); checker != nullptr) {
        view.group = scalarText(field(*checker, "group"));
        view.instance = scalarText(field(*checker, "instance"));
        view.leader = optBool(*checker, "leader");
        view.leader_instance = optString(*checker, "leader_instance").value_or("");
    } else {
        view.group = "-";
        view.instance = "-";
    }

    if (const auto* held = field(status, "held_deletions"); held != nullptr && held->is_array()) {
        view.held_total = held->size();
        for (const auto& zone : *held) {
            if (view.held.size() >= max_rows) break;
            view.held.push_back(scalarText(&zone));
        }
    }
    view.held_reason = optString(status, "held_reason").value_or("");

    bool any_out_of_sync = false;
    if (const auto* nodes = field(status, "nodes"); nodes != nullptr && nodes->is_array()) {
        for (const auto& n : *nodes) {
            view.nodes.push_back(nodeRow(n));
            const auto oos = optNumber(n, "out_of_sync");
            if ((oos && *oos > 0) || optBool(n, "in_sync") == false) any_out_of_sync = true;
        }
    }

    if (const auto* divs = field(status, "divergences"); divs != nullptr && divs->is_array()) {
        view.divergences_total = divs->size();
        for (const auto& d : *divs) {
            if (view.divergences.size() >= max_rows) break;
            view.divergences.push_back(divergenceRow(d));
        }
    }
    if (view.divergences_total == 0) {
        if (view.nodes.empty()) {
            view.sync_summary = SyncSummary::NoNodes;
        } else if (any_out_of_sync) {
            view.sync_summary = SyncSummary::DetailsMissing;
        }
    }
    return view;
}

std::string checkerRole(const View& view) {
    if (!view.leader) return "";
    if (*view.leader) return "leader";
    if (view.leader_instance.empty()) return "standby, no leader";
    return "standby, leader " + view.leader_instance;
}

// ---- text ----

/// Cuts at a UTF-8 character boundary so the terminal never sees half a character.
std::string truncateText(std::string s, std::size_t max) {
    if (s.size() <= max) return s;
    std::size_t cut = max;
    while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xc0U) == 0x80U) --cut;
    s.resize(cut);
    return s + "...";
}

/// Columns as wide as their widest cell, two spaces apart; no trailing blanks.
class TextTable {
public:
    explicit TextTable(std::vector<std::string> header) : widths_(header.size(), 0) {
        add(std::move(header));
    }

    void add(std::vector<std::string> row) {
        row.resize(widths_.size());
        for (auto& cell : row) cell = terminalSafe(cell);
        for (std::size_t i = 0; i < row.size(); ++i) {
            widths_[i] = std::max(widths_[i], row[i].size());
        }
        rows_.push_back(std::move(row));
    }

    void render(std::string& out) const {
        for (const auto& row : rows_) {
            std::string line;
            for (std::size_t i = 0; i < row.size(); ++i) {
                if (i + 1 < row.size()) {
                    line += fmt::format("{:<{}}  ", row[i], widths_[i]);
                } else {
                    line += row[i];
                }
            }
            while (!line.empty() && line.back() == ' ') line.pop_back();
            out += line;
            out += '\n';
        }
    }

private:
    std::vector<std::size_t> widths_;
    std::vector<std::vector<std::string>> rows_;
};

std::string moreLine(std::size_t shown, std::size_t total) {
    return total > shown ? fmt::format("... and {} more\n", total - shown) : std::string{};
}

}  // namespace

// The C1 range U+0080..U+009F matters too: some terminals take U+009B as CSI.
std::string terminalSafe(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        const auto c = static_cast<unsigned char>(text[i]);
        if (c < 0x20 || c == 0x7f) {
            out += fmt::format("\\x{:02x}", c);
        } else if (c == 0xc2 && i + 1 < text.size() &&
                   static_cast<unsigned char>(text[i + 1]) >= 0x80 &&
                   static_cast<unsigned char>(text[i + 1]) <= 0x9f) {
            out += fmt::format("\\x{:02x}", static_cast<unsigned char>(text[i + 1]));
            ++i;
        } else {
            out += text[i];
        }
    }
    return out;
}

std::string humanizeDuration(std::chrono::milliseconds duration) {
    const int64_t ms = std::max<int64_t>(duration.count(), 0);
    if (ms < 1000) return fmt::format("{}ms", ms);
    if (ms < 60'000) return fmt::format("{}.{}s", ms / 1000, (ms % 1000) / 100);
    const int64_t s = ms / 1000;
    if (s < 3600) return fmt::format("{}m{:02}s", s / 60, s % 60);
    if (s < 86'400) return fmt::format("{}h{:02}m", s / 3600, (s % 3600) / 60);
    return fmt::format("{}d{:02}h", s / 86'400, (s % 86'400) / 3600);
}

std::string htmlEscape(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (char c : text) {
        switch (c) {
            case '&':
                out += "&amp;";
                break;
            case '<':
                out += "&lt;";
                break;
            case '>':
                out += "&gt;";
                break;
            case '"':
                out += "&quot;";
                break;
            case '\'':
                out += "&#39;";
                break;
            default:
                out += c;
        }
    }
    return out;
}

std::string renderStatusText(const nlohmann::json& status, std::size_t max_rows) {
    const View view = buildView(status, max_rows);
    std::string out;
    const auto role = checkerRole(view);
    out += terminalSafe(fmt::format(
        "group '{}', checker '{}'{}, {} zones wanted, generated {}", view.group, view.instance,
        role.empty() ? "" : " (" + role + ")", view.zones, view.generated_at));
    out += '\n';
    if (view.mirror_synced == false) {
        out +=
            "warning: the checker's mirror of the zone stream is not in sync yet; counts may be "
            "incomplete\n";
    }
    if (view.newer_version) {
        out += fmt::format(
            "note: status format v{} is newer than this tool knows (v{}); some "
            "information may be missing\n",
            *view.newer_version, kKnownVersion);
    }

    if (view.held_total > 0) {
        out += fmt::format("\nHELD DELETIONS: {} zone(s)", view.held_total);
        if (!view.held_reason.empty()) out += " (" + terminalSafe(view.held_reason) + ")";
        out += '\n';
        for (const auto& zone : view.held) out += "  " + terminalSafe(zone) + '\n';
        if (view.held_total > view.held.size())
            out += "  " + moreLine(view.held.size(), view.held_total);
        out += "  publish them with: pdns-distribute deletions approve\n";
    }

    out += fmt::format("\nNODES ({})\n", view.nodes.size());
    if (view.nodes.empty()) {
        out += "no node has sent a heartbeat\n";
    } else {
        TextTable table({"NODE", "STATE", "ZONES", "OUT-OF-SYNC", "MAX-LAG", "PARKED", "LOAD",
                         "LAST-HEARTBEAT"});
        for (const auto& n : view.nodes) {
            table.add({n.node, n.state, n.zones, n.out_of_sync, n.max_lag, n.parked, n.load,
                       n.heartbeat});
        }
        table.render(out);
    }

    out += '\n';
    if (view.divergences_total == 0) {
        switch (view.sync_summary) {
            case SyncSummary::InSync:
                out += "all nodes in sync\n";
                break;
            case SyncSummary::NoNodes:
                out += "no divergences (no nodes to compare)\n";
                break;
            case SyncSummary::DetailsMissing:
                out +=
                    "no divergence details in this status, but nodes above report zones out "
                    "of sync\n";
                break;
        }
        return out;
    }
    out += fmt::format("DIVERGENCES ({})\n", view.divergences_total);
    TextTable table({"NODE", "ZONE", "WANTED", "SERVED", "LAG", "RESYNCS", "ERROR"});
    for (const auto& d : view.divergences) {
        table.add({d.node, d.zone, d.wanted, d.served, d.lag, d.resyncs,
                   truncateText(d.error, kMaxErrorChars)});
    }
    table.render(out);
    out += moreLine(view.divergences.size(), view.divergences_total);
    return out;
}

// ---- HTML ----

namespace {

struct HtmlCell {
    std::string text;
    std::string_view css_class;
    std::string title;
};

void htmlTable(std::string& out, const std::vector<std::string_view>& header,
               const std::vector<std::pair<std::string_view, std::vector<HtmlCell>>>& rows) {
    out += "<table>\n<thead><tr>";
    for (const auto h : header) out += fmt::format("<th>{}</th>", htmlEscape(h));
    out += "</tr></thead>\n<tbody>\n";
    for (const auto& [row_class, cells] : rows) {
        out += row_class.empty() ? "<tr>" : fmt::format("<tr class=\"{}\">", row_class);
        for (const auto& cell : cells) {
            out += "<td";
            if (!cell.css_class.empty()) out += fmt::format(" class=\"{}\"", cell.css_class);
            if (!cell.title.empty()) out += fmt::format(" title=\"{}\"", htmlEscape(cell.title));
            out += fmt::format(">{}</td>", htmlEscape(cell.text));
        }
        out += "</tr>\n";
    }
    out += "</tbody>\n</table>\n";
}

constexpr std::string_view kHtmlHead = R"(<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="refresh" content="5">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{}</title>
<style>
body{{font-family:system-ui,sans-serif;margin:1.5em;color:#222}}
h1{{font-size:1.4em}} h2{{font-size:1.15em;margin-top:1.5em}}
table{{border-collapse:collapse}}
th,td{{border:1px solid #ccc;padding:.25em .6em;text-align:left;vertical-align:top}}
th{{background:#f0f0f0}}
td.num{{text-align:right;font-variant-numeric:tabular-nums}}
tr.inactive td{{background:#eee;color:#777}}
tr td.warn{{background:#fff3cd;font-weight:bold}}
tr td.bad{{color:#b00020;font-weight:bold}}
tr td.err{{color:#b00020;max-width:40em;overflow-wrap:anywhere}}
.held{{border:2px solid #b00020;background:#fdecea;padding:.5em 1em;margin:1em 0}}
.note{{background:#fff3cd;padding:.3em .6em}}
.ok{{color:#2e7d32;font-weight:bold}}
code{{background:#f4f4f4;padding:0 .2em}}
</style>
</head>
<body>
)";

}  // namespace

std::string renderStatusHtml(const nlohmann::json& status, std::size_t max_rows) {
    const View view = buildView(status, max_rows);
    std::string out;
    out += fmt::format(kHtmlHead, htmlEscape("pdns-distribute status: " + view.group));
    out += "<h1>pdns-distribute status</h1>\n";
    const auto role = checkerRole(view);
    out += fmt::format(
        "<p>group <b>{}</b> &middot; checker <b>{}</b>{} &middot; <b>{}</b> zones wanted "
        "&middot; generated {}</p>\n",
        htmlEscape(view.group), htmlEscape(view.instance),
        role.empty() ? "" : " (" + htmlEscape(role) + ")", htmlEscape(view.zones),
        htmlEscape(view.generated_at));
    if (view.mirror_synced == false) {
        out +=
            "<p class=\"note\">The checker's mirror of the zone stream is not in sync yet; "
            "counts may be incomplete.</p>\n";
    }
    if (view.newer_version) {
        out += fmt::format(
            "<p class=\"note\">Status format v{} is newer than this page knows (v{}); some "
            "information may be missing.</p>\n",
            *view.newer_version, kKnownVersion);
    }

    if (view.held_total > 0) {
        out += "<div class=\"held\">\n";
        out += fmt::format("<h2>{} deletion(s) held</h2>\n", view.held_total);
        if (!view.held_reason.empty()) {
            out += fmt::format("<p>Reason: {}</p>\n", htmlEscape(view.held_reason));
        }
        out += "<ul>\n";
        for (const auto& zone : view.held) out += fmt::format("<li>{}</li>\n", htmlEscape(zone));
        if (view.held_total > view.held.size()) {
            out +=
                fmt::format("<li>&hellip; and {} more</li>\n", view.held_total - view.held.size());
        }
        out += "</ul>\n<p>Publish them with <code>pdns-distribute deletions approve</code>.</p>\n";
        out += "</div>\n";
    }

    out += fmt::format("<h2>Nodes ({})</h2>\n", view.nodes.size());
    if (view.nodes.empty()) {
        out += "<p>No node has sent a heartbeat.</p>\n";
    } else {
        std::vector<std::pair<std::string_view, std::vector<HtmlCell>>> rows;
        for (const auto& n : view.nodes) {
            const bool oos = n.out_of_sync != "0" && n.out_of_sync != "-";
            rows.emplace_back(n.inactive ? "inactive" : "",
                              std::vector<HtmlCell>{
                                  {n.node, "", ""},
                                  {n.state, n.inactive ? "bad" : "", ""},
                                  {n.zones, "num", ""},
                                  {n.out_of_sync, oos ? "num bad" : "num", ""},
                                  {n.max_lag, "num", ""},
                                  {n.parked, "num", ""},
                                  {n.load, n.load_warning ? "num warn" : "num",
                                   n.load_warning ? "load above the warning threshold" : ""},
                                  {n.heartbeat, "", n.heartbeat_at},
                              });
        }
        htmlTable(out,
                  {"Node", "State", "Zones", "Out of sync", "Max lag", "Parked", "Load",
                   "Last heartbeat"},
                  rows);
    }

    if (view.divergences_total == 0) {
        switch (view.sync_summary) {
            case SyncSummary::InSync:
                out += "<p class=\"ok\">All nodes in sync.</p>\n";
                break;
            case SyncSummary::NoNodes:
                out += "<p>No divergences (no nodes to compare).</p>\n";
                break;
            case SyncSummary::DetailsMissing:
                out +=
                    "<p class=\"note\">No divergence details in this status, but nodes above "
                    "report zones out of sync.</p>\n";
                break;
        }
    } else {
        out += fmt::format("<h2>Divergences ({})</h2>\n", view.divergences_total);
        std::vector<std::pair<std::string_view, std::vector<HtmlCell>>> rows;
        for (const auto& d : view.divergences) {
            rows.emplace_back("", std::vector<HtmlCell>{
                                      {d.node, "", ""},
                                      {d.zone, "", ""},
                                      {d.wanted, "num", ""},
                                      {d.served, d.missing ? "num bad" : "num", ""},
                                      {d.lag, "num", ""},
                                      {d.resyncs, "num", ""},
                                      {d.error, d.error.empty() ? "" : "err", ""},
                                  });
        }
        htmlTable(
            out, {"Node", "Zone", "Wanted serial", "Served serial", "Lag", "Resyncs", "Last error"},
            rows);
        if (view.divergences_total > view.divergences.size()) {
            out += fmt::format("<p>&hellip; and {} more</p>\n",
                               view.divergences_total - view.divergences.size());
        }
    }
    out += "</body>\n</html>\n";
    return out;
}

}  // namespace pdns_distribute::common
