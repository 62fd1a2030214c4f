// SPDX-License-Identifier: Apache-2.0
#pragma once
// One RAII alias per nats.c handle, each with the library's own destroy function (STYLE §3).
// nats.c reference-counts internally (a subscription, jsCtx and kvStore each keep the connection
// alive), so these may be destroyed in any order; destroying never unsubscribes or deletes
// anything on the server.

#include <memory>

#include <nats/nats.h>

namespace pdns_distribute::common::nats {

template <typename T, void (*Destroy)(T*)>
struct Deleter {
    void operator()(T* handle) const noexcept {
        if (handle != nullptr) {
            Destroy(handle);
        }
    }
};

using OptionsPtr = std::unique_ptr<natsOptions, Deleter<natsOptions, natsOptions_Destroy>>;
using ConnectionPtr =
    std::unique_ptr<natsConnection, Deleter<natsConnection, natsConnection_Destroy>>;
/// natsSubscription_Destroy only frees the client side (and stops interest); it never deletes a
/// JetStream durable, unlike natsSubscription_Unsubscribe, which we never call.
using SubscriptionPtr =
    std::unique_ptr<natsSubscription, Deleter<natsSubscription, natsSubscription_Destroy>>;
using MsgPtr = std::unique_ptr<natsMsg, Deleter<natsMsg, natsMsg_Destroy>>;
using JsCtxPtr = std::unique_ptr<jsCtx, Deleter<jsCtx, jsCtx_Destroy>>;
using KvStorePtr = std::unique_ptr<kvStore, Deleter<kvStore, kvStore_Destroy>>;
using KvEntryPtr = std::unique_ptr<kvEntry, Deleter<kvEntry, kvEntry_Destroy>>;
using PubAckPtr = std::unique_ptr<jsPubAck, Deleter<jsPubAck, jsPubAck_Destroy>>;
using StreamInfoPtr = std::unique_ptr<jsStreamInfo, Deleter<jsStreamInfo, jsStreamInfo_Destroy>>;
using ConsumerInfoPtr =
    std::unique_ptr<jsConsumerInfo, Deleter<jsConsumerInfo, jsConsumerInfo_Destroy>>;
using MetaDataPtr = std::unique_ptr<jsMsgMetaData, Deleter<jsMsgMetaData, jsMsgMetaData_Destroy>>;

/// natsMsgList is a caller-owned struct whose array and remaining messages natsMsgList_Destroy
/// frees (entries set to nullptr are skipped, which is how ownership of a message is taken).
class MsgList {
public:
    MsgList() = default;
    ~MsgList() { natsMsgList_Destroy(&list_); }
    MsgList(const MsgList&) = delete;
    MsgList& operator=(const MsgList&) = delete;

    natsMsgList* get() noexcept { return &list_; }
    [[nodiscard]] int size() const noexcept { return list_.Count; }
    /// Takes ownership of message i.
    MsgPtr release(int i) noexcept {
        MsgPtr msg(list_.Msgs[i]);
        list_.Msgs[i] = nullptr;
        return msg;
    }

private:
    natsMsgList list_{nullptr, 0};
};

}  // namespace pdns_distribute::common::nats
