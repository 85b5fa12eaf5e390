#pragma once
// The keep-alive HTTP connections of one worker waiting for their next request, oldest
// first, so that a full server sheds them first (server.cpp, make_room).
//
// Ownership: each node lives in its connection's coroutine frame (http_session.cpp); the
// list belongs to the worker. Thread safety: the list, its nodes and their sockets are the
// worker's thread's alone (so shedding is a plain close there, without locks or shared
// pointers); only size() may be read from another thread, as an estimate.

#include <atomic>
#include <boost/beast/core/tcp_stream.hpp>
#include <cstddef>

namespace ma::server {

struct IdleNode {
  IdleNode* prev = nullptr;
  IdleNode* next = nullptr;
  boost::beast::tcp_stream* stream = nullptr;
  bool linked = false;
  bool shed = false;  // closed by the worker to make room
};

class IdleList final {
 public:
  IdleList() = default;
  IdleList(const IdleList&) = delete;
  IdleList& operator=(const IdleList&) = delete;

  void push(IdleNode& n) {
    n.prev = tail_;
    n.next = nullptr;
    (tail_ != nullptr ? tail_->next : head_) = &n;
    tail_ = &n;
    n.linked = true;
    size_.fetch_add(1, std::memory_order_relaxed);
  }
  void remove(IdleNode& n) {
    if (!n.linked) return;
    (n.prev != nullptr ? n.prev->next : head_) = n.next;
    (n.next != nullptr ? n.next->prev : tail_) = n.prev;
    n.linked = false;
    size_.fetch_sub(1, std::memory_order_relaxed);
  }
  IdleNode* oldest() const { return head_; }
  // Read by the accepting thread to choose where to shed; exact on the worker's thread.
  std::size_t size() const { return size_.load(std::memory_order_relaxed); }

 private:
  IdleNode* head_ = nullptr;
  IdleNode* tail_ = nullptr;
  std::atomic<std::size_t> size_{0};
};

// Unlinks the node whatever way the connection's coroutine ends.
struct IdleScope {
  IdleList& list;
  IdleNode& node;
  ~IdleScope() { list.remove(node); }
};

}  // namespace ma::server
