// SPDX-License-Identifier: Apache-2.0
#pragma once
// RAII owners for the ldns types libs/common uses (STYLE §3). One alias per type, each with a
// stateless deleter; the comment on each says whether the free is deep or shallow and why.

#include <memory>

#include <ldns/ldns.h>

namespace pdns_distribute::common::ldns {

// ldns_pkt_free is deep: a packet owns every RR of its four sections, its TSIG RR and its EDNS
// data, all of which ldns_wire2pkt allocated for it. Borrowed pointers into a packet (from
// ldns_pkt_answer, ldns_rr_list_rr) die with it.
struct PktDeleter {
    void operator()(ldns_pkt* pkt) const noexcept { ldns_pkt_free(pkt); }
};
using Pkt = std::unique_ptr<ldns_pkt, PktDeleter>;

// ldns_rr_free is deep: an RR owns its owner name and rdata fields (ldns_rr_new_frm_str
// allocates them for it). Never use it on an RR still held by a packet or list.
struct RrDeleter {
    void operator()(ldns_rr* rr) const noexcept { ldns_rr_free(rr); }
};
using Rr = std::unique_ptr<ldns_rr, RrDeleter>;

// ldns_rr_list_deep_free frees the list and every RR in it; for lists whose RRs we own, such as
// clones. A list of borrowed RRs would need the shallow ldns_rr_list_free, which we never need.
struct RrListDeleter {
    void operator()(ldns_rr_list* list) const noexcept { ldns_rr_list_deep_free(list); }
};
using RrList = std::unique_ptr<ldns_rr_list, RrListDeleter>;

// ldns_rdf_deep_free frees the field and its data; ldns_rdf_free (shallow) would leak the data,
// which a freshly parsed rdf always owns.
struct RdfDeleter {
    void operator()(ldns_rdf* rdf) const noexcept { ldns_rdf_deep_free(rdf); }
};
using Rdf = std::unique_ptr<ldns_rdf, RdfDeleter>;

// ldns_buffer_free frees the struct and its data array (deep); buffers from ldns_buffer_new own
// their storage. (A buffer made over foreign memory with ldns_buffer_new_frm_data also copies.)
struct BufferDeleter {
    void operator()(ldns_buffer* buffer) const noexcept { ldns_buffer_free(buffer); }
};
using Buffer = std::unique_ptr<ldns_buffer, BufferDeleter>;

}  // namespace pdns_distribute::common::ldns
